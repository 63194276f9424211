"""The notifications page in Chromium: a webhook typed in and "send a test alert" pressed reaches a real receiver.

At phone and desktop widths, in both languages; the screenshots (tests/artifacts/notify-test-*.png) show
the results card a person sees: one channel delivered, one refused with its HTTP status.
"""

from __future__ import annotations

import json
from typing import Iterator

import pytest

from routerguard_lab.receiver import Receiver
from test_browser import VIEWPORTS, browser, log_in, open_page, playwright_api, pytestmark, shoot  # noqa: F401 (fixture, marks)
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
