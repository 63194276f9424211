"""The plan page's uplinks card: which uplink is in use, metered or not, its link and bytes, in both languages."""

from __future__ import annotations

import os

import pytest

from routerguard.account.uplinks import Uplinks
from routerguard.read.links import LinkReading
from browser_util import ARTIFACTS, CHROMIUM, VIEWPORTS, log_in, open_page, shoot
from web_util import Site

HOTEL_WIFI = "\nconfig uplink\n\toption ifname 'wlan-sta'\n\toption metered '0'\n"


@pytest.fixture
def two_uplinks(site: Site) -> Site:
    """The eSIM's wwan0 (metered) and a hotel Wi-Fi (unmetered) that now carries the traffic."""
    with open(site.config_path, "a") as f:
        f.write(HOTEL_WIFI)
    site.core.config_file.reload()
    links = {"wwan0": LinkReading(7, True, 0, 0), "wlan-sta": LinkReading(8, True, 0, 0)}
    route = ["wwan0"]
    site.core.uplinks = Uplinks(links.get, lambda: route[0])
    site.core.uplinks.poll(site.core.config.uplink_names)
    links.update({"wwan0": LinkReading(7, True, 1_200_000_000, 45_000_000), "wlan-sta": LinkReading(8, True, 800_000_000, 30_000_000)})
    route[0] = "wlan-sta"
    return site


def test_the_plan_page_shows_each_uplink(two_uplinks: Site) -> None:
    page = two_uplinks.login().get(two_uplinks.url("/admin/plan")).text
    card = page.split('id="uplinks"')[1].split("</section>")[0]
    wan, wifi = card.split('data-ifname="wwan0"')[1].split('data-ifname="wlan-sta"')
    assert "Metered" in wan and "In use" not in wan and "Sent 45.0\xa0MB" in wan and "Received 1.2\xa0GB" in wan
    assert "Unmetered" in wifi and "In use" in wifi and "Link up" in wifi and "In use since" in wifi
    assert "Not in use since" in wan


def test_the_card_speaks_chinese(two_uplinks: Site) -> None:
    session = two_uplinks.login()
    session.cookies.set("lang", "zh-CN")
    card = session.get(two_uplinks.url("/admin/plan")).text.split('id="uplinks"')[1].split("</section>")[0]
    for word in ("上行链路", "计流量", "不计流量", "使用中", "已连接", "起未使用", "上传 45.0\xa0MB", "下载 1.2\xa0GB"):
        assert word in card, word


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Debian's chromium at {CHROMIUM}")
@pytest.mark.parametrize("size", list(VIEWPORTS))
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_the_uplinks_card_in_a_browser(browser, two_uplinks: Site, size: str, locale: str) -> None:
    context, page = open_page(browser, size, locale)
    log_in(page, two_uplinks)
    page.goto(two_uplinks.url("/admin/plan"))
    card = page.locator("#uplinks")
    card.scroll_into_view_if_needed()
    assert card.locator("[data-ifname='wlan-sta'] .badge.in-use").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[size]["width"]
    shoot(page, f"uplinks-{locale[:2]}-{size}")
    card.screenshot(path=str(ARTIFACTS / f"uplinks-card-{locale[:2]}-{size}.png"))
    context.close()
