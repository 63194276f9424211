"""The top-up and calibration forms in a real browser, at phone and desktop widths, in both languages; the
screenshots (tests/artifacts/topups-*.png) are for a person to look at."""

from __future__ import annotations

import pytest

from browser_util import ARTIFACTS, BROWSER, VIEWPORTS, log_in, open_page, playwright_api, shoot
from web_util import PHONE, Site

pytestmark = BROWSER
GB = 10**9


@pytest.mark.parametrize("size", list(VIEWPORTS))
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_top_up_and_match_the_carrier_from_the_page(browser, site: Site, size: str, locale: str) -> None:
    site.usage(PHONE, 100 * 10**6, 6_900 * 10**6)
    context, page = open_page(browser, size, locale)
    log_in(page, site)
    page.goto(site.url("/admin/plan"))
    card = page.locator("#plan-adjust")
    card.locator("form[action$='/plan/topup'] input[name=size]").fill("2GB")
    card.locator("form[action$='/plan/topup'] button[type=submit]").click()
    playwright_api.expect(page.locator(".flash.ok")).to_be_visible()
    assert site.service.plan()["allowance_bytes"] == 22 * GB

    card = page.locator("#plan-adjust")
    card.locator("input[name=said][value=left]").check()
    card.locator("form[action$='/plan/calibrate'] input[name=size]").fill("14.8GB")
    card.locator("form[action$='/plan/calibrate'] button[type=submit]").click()
    playwright_api.expect(page.locator(".flash.ok")).to_be_visible()
    plan = site.service.plan()
    assert plan["remaining_bytes"] == 14_800_000_000 and plan["calibration_bytes"] == 200 * 10**6
    assert ("+200.0" in page.locator("dl.facts").inner_text()) and page.locator("dl.facts dt").count() >= 9
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[size]["width"]
    shoot(page, f"topups-plan-{locale[:2]}-{size}")

    page.goto(site.url("/admin/groups"))
    group = page.locator("form.topup")
    group.locator("input[name=size]").fill("1GB")
    group.locator("button[type=submit]").click()
    playwright_api.expect(page.locator(".flash.ok")).to_be_visible()
    assert site.service.group("zhang")["allowance_bytes"] == 6 * GB
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[size]["width"]
    page.locator("section.card").first.screenshot(path=str(ARTIFACTS / f"topups-group-{locale[:2]}-{size}.png"))
    context.close()
