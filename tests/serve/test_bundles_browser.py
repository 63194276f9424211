"""The plan's bundles in a real browser: bars with their own expiry, the add form, the bill; screenshots at
phone and desktop widths in both languages (tests/artifacts/bundles-*.png)."""

from __future__ import annotations

import pytest

from browser_util import BROWSER, VIEWPORTS, log_in, open_page, playwright_api, shoot

pytestmark = BROWSER
from web_util import LAPTOP, PHONE, Site

MB = 1_000_000


@pytest.mark.parametrize("size", list(VIEWPORTS))
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_the_plan_page_shows_bundles_and_adds_one(browser, site: Site, size: str, locale: str) -> None:
    site.service.add_bundle({"quota_bytes": 3 * MB, "days": 1, "name": "Day pass", "price": 1, "currency": "EUR"})
    site.service.add_bundle({"quota_bytes": 6 * MB, "days": 30, "name": "Jazz 6 MB", "price": 700, "currency": "PKR"})
    site.usage(PHONE, 0, 2 * MB)
    site.usage(LAPTOP, 0, 2 * MB)
    context, page = open_page(browser, size, locale)
    log_in(page, site)
    page.goto(site.url("/admin/plan"))
    form = page.locator("form[action$='/admin/plan/bundles']")  # the plan page has other forms with a size
    form.locator("input[name=size]").fill("1GB")
    form.locator("input[name=days]").fill("30")
    form.locator("input[name=name]").fill("Daily 1 GB" if locale == "en-US" else "每日 1 GB")
    form.locator("input[name=daily]").check()
    form.locator("button[type=submit]").click()
    playwright_api.expect(page.locator(".flash.ok")).to_be_visible()
    assert page.locator(".bundle-list .bundle").count() == 4  # three added and the recurring plan
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[size]["width"]
    shoot(page, f"bundles-plan-{locale[:2]}-{size}")
    page.goto(site.url("/admin"))
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[size]["width"]
    shoot(page, f"bundles-dashboard-{locale[:2]}-{size}")
    context.close()
