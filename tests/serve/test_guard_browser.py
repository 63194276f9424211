"""Two-factor login in Chromium: enrolled on the security page, then a login with the password and a code.

Chromium sends Sec-Fetch-Site and Origin with its form posts: this is also the check that the router's own
forms pass the same-origin test that refuses another site's login posts (serve/security.py same_origin).
"""

from __future__ import annotations

import pyotp
import pytest

from browser_util import BROWSER, log_in, open_page, shoot
from web_util import PASSWORD, Site

pytestmark = BROWSER


@pytest.mark.parametrize("size", ["phone", "desktop"])
@pytest.mark.parametrize("locale, start, confirm", [("en-US", "Turn on two-factor login", "Check the code and turn on"),
                                                    ("zh-CN", "开启两步验证", "验证并开启")])
def test_2fa_is_enrolled_on_the_page_and_a_login_then_takes_a_code(browser, site: Site, size: str, locale: str,
                                                                   start: str, confirm: str) -> None:
    context, page = open_page(browser, size, locale)
    log_in(page, site)
    page.goto(site.url("/admin/security"))
    page.get_by_role("button", name=start).click()
    assert page.locator("img.qr").evaluate("img => img.complete && img.naturalWidth > 0")
    secret = page.inner_text("#totp-secret")
    page.fill("input[name=otp]", pyotp.TOTP(secret).now())
    page.get_by_role("button", name=confirm).click()
    assert page.locator("#recovery-codes li").count() == 10
    shoot(page, f"security-recovery-{size}-{locale}")
    context.clear_cookies()
    page.goto(site.url("/login"))
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=otp]", "000000")
    page.click("button[type=submit]")
    assert page.locator(".flash.error").is_visible()
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=otp]", pyotp.TOTP(secret).at(__import__("time").time() + 30))  # the next code: the last one is spent
    page.click("button[type=submit]")
    page.wait_for_url(site.url("/admin"))
    context.close()
