"""Driving Debian's Chromium with Playwright for the page tests: where it is, how a page is opened, logged
into, weighed and photographed. Its fixtures (`browser`, `router`) are in conftest.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from web_util import PASSWORD, Site

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
GUEST = "02:00:00:00:00:0c"  # the device the browser itself is, found by its address 127.0.0.1
MAX_PAGE_BYTES = 150 * 1000
BROWSER = [pytest.mark.browser,
           pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Debian's chromium at {CHROMIUM}")]


def open_page(browser, size: str = "desktop", locale: str = "en-US"):
    context = browser.new_context(viewport=VIEWPORTS[size], locale=locale, is_mobile=size == "phone")
    return context, context.new_page()


def log_in(page, site: Site) -> None:
    page.goto(site.url("/login"))
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(site.url("/admin"))


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def check_page(page, site: Site, path: str, size: str, locale: str, fetched: dict[str, int], suffix: str = "") -> None:
    fetched.clear()
    page.goto(site.url(path))
    page.wait_for_load_state("load")
    assert all(url.startswith(site.base) for url in fetched), f"{path} fetched from elsewhere: {list(fetched)}"
    assert sum(fetched.values()) < MAX_PAGE_BYTES, f"{path} weighs {sum(fetched.values())} bytes"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[size]["width"], f"{path} is {width}px wide on a {size}"
    name = path.strip("/").replace("/", "-").replace(":", "") or "me"
    shoot(page, f"{name}-{locale[:2]}-{size}{suffix}")
