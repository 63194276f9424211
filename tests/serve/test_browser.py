"""The pages in a real browser: headless Chromium (Debian's) driven by Playwright.

Screenshots at phone and desktop widths land in tests/artifacts/ for a
person to look at; the tests themselves check what a person would: the
login, a cap set and shown, the language switch, a guest's own page, live
figures, no overflow on a phone, and the weight of every page.
"""

from __future__ import annotations

from browser_util import BROWSER, log_in, open_page, playwright_api
from web_util import LAPTOP, PHONE, Site

WAIT_MS = 10_000

pytestmark = BROWSER


def test_admin_logs_in_sets_a_cap_and_sees_it(browser, router: Site) -> None:
    context, page = open_page(browser)
    log_in(page, router)
    page.click(f"[data-mac='{LAPTOP}'] a.name")
    page.wait_for_url(router.url(f"/admin/devices/{LAPTOP}"))
    cap_form = page.locator("form[action$='/cap']")
    cap_form.locator("input[name=size]").fill("3GB")
    cap_form.locator("select[name=period]").select_option("daily")
    cap_form.locator("select[name=action]").select_option("block")
    cap_form.locator("button[type=submit]").first.click()
    playwright_api.expect(page.locator(".flash.ok")).to_have_text("Saved.")
    playwright_api.expect(page.locator("[data-f=usage]")).to_contain_text("of 3.0 GB")
    assert router.service.device(LAPTOP)["cap"]["bytes"] == 3 * 10**9
    context.close()


def test_a_refused_value_shows_why_and_changes_nothing(browser, router: Site) -> None:
    before = router.config_bytes()
    context, page = open_page(browser)
    log_in(page, router)
    page.goto(router.url(f"/admin/devices/{PHONE}"))
    page.locator("form[action$='/cap'] input[name=size]").fill("5XB")
    page.locator("form[action$='/cap'] button[type=submit]").first.click()
    playwright_api.expect(page.locator(".flash.error")).to_contain_text("unknown unit 'XB'")
    assert router.config_bytes() == before
    context.close()


def test_the_dashboard_figures_refresh_by_themselves(browser, router: Site) -> None:
    context, page = open_page(browser)
    log_in(page, router)
    rate = page.locator(f"[data-mac='{PHONE}'] [data-f=down]")
    playwright_api.expect(rate).to_have_text("0 bit/s")
    now = router.core.now()
    router.core.rates.record(now - 1, {PHONE: (0, 0)})
    router.core.rates.record(now, {PHONE: (1000, 250_000)})
    playwright_api.expect(rate).to_have_text("2.0 Mbit/s", timeout=WAIT_MS)
    context.close()


def test_the_language_switch_sticks(browser, router: Site) -> None:
    context, page = open_page(browser, locale="en-US")
    page.goto(router.url("/"))
    assert page.locator("html").get_attribute("lang") == "en"
    page.click("a[hreflang=zh-CN]")
    playwright_api.expect(page.locator("h1")).to_have_text("您的流量用量")
    page.goto(router.url("/login"))
    playwright_api.expect(page.locator("h1")).to_have_text("管理员登录")
    page.click("a[hreflang=en]")
    playwright_api.expect(page.locator("h1")).to_have_text("Admin login")
    context.close()


def test_the_browser_language_picks_chinese(browser, router: Site) -> None:
    context, page = open_page(browser, locale="zh-CN")
    page.goto(router.url("/"))
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    playwright_api.expect(page.locator("[data-f=left]")).to_contain_text("剩余")
    context.close()


def test_a_guest_sees_its_own_usage_without_a_password(browser, router: Site) -> None:
    context, page = open_page(browser, "phone")
    page.goto(router.url("/"))
    playwright_api.expect(page.locator(".hero .name")).to_contain_text("Guest phone")
    playwright_api.expect(page.locator("[data-f=left]")).to_have_text("1.4 GB left")
    playwright_api.expect(page.locator(".hero")).to_contain_text("resets")
    assert page.locator("nav").count() == 0  # no admin links for a guest
    context.close()


