"""The data-saver page in a real browser: the switches, the lists, one's own category; screenshots in both languages."""

from __future__ import annotations

import pytest

from browser_util import ARTIFACTS, BROWSER, VIEWPORTS, log_in, open_page, playwright_api, shoot

pytestmark = BROWSER
from web_util import PHONE, Site


@pytest.mark.parametrize("size", list(VIEWPORTS))
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_the_saver_page_blocks_adds_and_shows(browser, site: Site, size: str, locale: str) -> None:
    context, page = open_page(browser, size, locale)
    log_in(page, site)
    page.goto(site.url("/admin/saver"))
    page.locator("input[name=everyone][value=video]").check()
    page.locator("input[name=group_zhang][value=app_stores]").check()
    page.locator("form[action$='/admin/saver'] button[type=submit]").click()
    playwright_api.expect(page.locator(".flash.ok")).to_be_visible()
    assert site.service.saver() == {"block": ["video"], "groups": {"zhang": ["app_stores"]}}

    page.locator("details:has(textarea[name=domains]) > summary").click()
    page.fill("input[name=name]", "Games" if locale == "en-US" else "游戏")
    page.fill("textarea[name=domains]", "steamcontent.com\nepicgames.com")
    page.locator("form[action$='/categories'] button[type=submit]").click()
    playwright_api.expect(page.locator(".flash.ok")).to_be_visible()
    page.locator("details.category").filter(has_text="googlevideo.com").locator("summary").click()
    page.locator("details.category").last.locator("summary").click()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[size]["width"]
    shoot(page, f"saver-filled-{locale[:2]}-{size}")

    page.goto(site.url(f"/admin/devices/{PHONE}"))
    switches = page.locator("#saver")
    switches.locator("input[value=cloud_backup]").check()
    switches.locator("button[type=submit]").click()
    playwright_api.expect(page.locator(".flash.ok")).to_be_visible()
    assert site.service.device(PHONE)["block"] == ["cloud_backup"]
    page.locator("#saver").screenshot(path=str(ARTIFACTS / f"device-saver-{locale[:2]}-{size}.png"))
    context.close()
