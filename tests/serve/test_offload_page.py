"""The flow offloading notice (fw4's `flow_offloading`): on the dashboard and the plan page, in both languages, and in the API."""

from __future__ import annotations

import os

import pytest

from routerguard.read.offload import Offload
from browser_util import CHROMIUM, VIEWPORTS, log_in, open_page, shoot
from web_util import Site

FOUND = ("firewall.@defaults[0].flow_offloading='1'",)


@pytest.fixture
def offloading(site: Site) -> Site:
    site.core.health.offload = Offload(FOUND)
    return site


def notice(page: str) -> str:
    return page.split('class="card offload"')[1].split("</section>")[0]


def test_no_notice_while_offloading_is_off(site: Site) -> None:
    session = site.login()
    assert 'class="card offload"' not in session.get(site.url("/admin")).text
    assert session.get(site.url("/api/v1/plan")).json()["flow_offloading"] is None


@pytest.mark.parametrize("path", ["/admin", "/admin/plan"])
def test_the_dashboard_and_the_plan_say_it_is_on_and_what_it_breaks(offloading: Site, path: str) -> None:
    session = offloading.login()
    text = notice(session.get(offloading.url(path)).text)
    assert "Flow offloading is on" in text and "not cut at the byte" in text and "flow_offloading='0'" in text
    session.cookies.set("lang", "zh-CN")
    text = notice(session.get(offloading.url(path)).text)
    for word in ("防火墙已开启流量卸载", "绕过统计流量的规则", "限速也不起作用", "关闭流量卸载"):
        assert word in text, word


def test_the_api_says_where_it_was_found(offloading: Site) -> None:
    plan = offloading.login().get(offloading.url("/api/v1/plan")).json()
    assert plan["flow_offloading"] == {"found": list(FOUND), "hardware": False}


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Debian's chromium at {CHROMIUM}")
@pytest.mark.parametrize("size", list(VIEWPORTS))
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_the_notice_fits_the_page(browser, offloading: Site, size: str, locale: str) -> None:
    context, page = open_page(browser, size, locale)
    log_in(page, offloading)
    page.goto(offloading.url("/admin/plan"))
    assert page.locator(".card.offload").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[size]["width"]
    shoot(page, f"offload-{locale[:2]}-{size}")
    context.close()
