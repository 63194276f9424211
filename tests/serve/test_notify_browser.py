"""The notifications page in Chromium: a webhook typed in and "send a test alert" pressed reaches a real receiver.

At phone and desktop widths, in both languages; the screenshots (tests/artifacts/notify-test-*.png) show
the results card a person sees: one channel delivered, one refused with its HTTP status.
"""

from __future__ import annotations

import json
from typing import Iterator

import pytest

from routerguard_lab.receiver import Receiver
from browser_util import BROWSER, VIEWPORTS, log_in, open_page, playwright_api, shoot

pytestmark = BROWSER
from web_util import Site

WORDS = {"en-US": ("Delivered", "Failed"), "zh-CN": ("已送达", "发送失败")}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        r.reply = lambda path, body: (404, b"") if path.startswith("/gone") else (200, b"")
        yield r


@pytest.mark.parametrize("size", list(VIEWPORTS))
@pytest.mark.parametrize("locale", list(WORDS))
def test_a_webhook_typed_in_gets_the_test_alert_and_the_page_says_so(browser, site: Site, receiver: Receiver,
                                                                      size: str, locale: str) -> None:
    context, page = open_page(browser, size, locale)
    log_in(page, site)
    page.click("nav a[href='/admin/notify']")
    for channel in ("webhook", "ntfy"):  # each channel folded until set up: a tap opens it
        page.click(f"details[data-channel={channel}] summary")
    page.fill("input[name=webhook]", receiver.url("/hook"))
    page.fill("input[name=ntfy]", receiver.url("/gone"))
    page.click("button[formaction$='/admin/notify/test']")
    delivered, failed = WORDS[locale]
    playwright_api.expect(page.locator("[data-channel=webhook] [data-f=result]")).to_have_text(delivered)
    playwright_api.expect(page.locator("[data-channel=webhook] [data-f=status]")).to_have_text("HTTP 200")
    playwright_api.expect(page.locator("[data-channel=ntfy] [data-f=result]")).to_have_text(failed)
    playwright_api.expect(page.locator("[data-channel=ntfy] [data-f=status]")).to_have_text("HTTP 404")
    hook = next(json.loads(body) for path, _, body in receiver.requests if path == "/hook")
    assert hook["kind"] == "test"
    assert site.core.config.notify.webhook == receiver.url("/hook")
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[size]["width"]
    shoot(page, f"notify-test-{locale[:2]}-{size}")
    context.close()


@pytest.mark.parametrize("locale", list(WORDS))
def test_a_stored_secret_shows_masked_and_survives_a_save(browser, site: Site, locale: str) -> None:
    token, wecom = "123456789:AAE-test_token_0123", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7aoc"
    site.service.put_notify({"telegram_token": token, "telegram_chat": "-1001234567890", "wecom": wecom, "language": "zh-CN"})
    context, page = open_page(browser, "phone", locale)
    log_in(page, site)
    page.goto(site.url("/admin/notify"))
    playwright_api.expect(page.locator("input[name=telegram_token]")).to_have_value("****0123")
    playwright_api.expect(page.locator("input[name=wecom]")).to_have_value("https://qyapi.weixin.qq.com/****7aoc")
    assert token not in page.content() and "693a91f6" not in page.content()
    shoot(page, f"notify-secrets-{locale[:2]}-phone")
    page.click("main form.stack button[type=submit]:not([formaction])")  # save the form as shown
    playwright_api.expect(page.locator(".flash.ok")).to_be_visible()
    notify = site.core.config.notify
    assert (notify.telegram_token, notify.wecom, notify.language) == (token, wecom, "zh-CN")
    context.close()
