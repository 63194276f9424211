"""The data saver in the virtual router: a category blocked by the API or on the page is in effect before the answer.

The daemon reads every POLL seconds, far longer than a test takes, so what
changed did so because of the request (its Core.on_change: the enforcer's
sets and rules, then the dnsmasq snippet and a dnsmasq restart), not the
loop: the tests check that no reading happened meanwhile.
"""

from __future__ import annotations

import os

import pytest

from routerguard.enforce.dnsmasq import SNIPPET
from routerguard_lab import plan
from routerguard_lab.lab_daemon import LabDaemon
from routerguard_lab.topology import Lab
from routerguard_lab.wait import wait_until

pytestmark = pytest.mark.lab  # needs root and the kernel (see tests/conftest.py)

POLL = 600  # seconds between readings: none happens during a test
VIDEO_NAME = "rr3.googlevideo.com"  # the lab's internet answers it; YouTube's, in the shipped "video" category
SIZE = 100_000


def quiet_daemon(lab: Lab) -> LabDaemon:
    """The daemon after its first reading (it wrote the snippet then), with the next one POLL seconds away."""
    daemon = LabDaemon(lab, poll_interval=POLL).start()
    wait_until(lambda: os.path.exists(os.path.join(lab.router.dnsmasq_conf_dir, SNIPPET)), 10, "routerguard's dnsmasq snippet")
    wait_until(lambda: daemon.readings() >= 1, 10, "the first reading")
    return daemon


def test_a_category_blocked_by_the_api_is_in_effect_before_the_answer(lab: Lab) -> None:
    kept, other = lab.clients
    daemon = quiet_daemon(lab)
    try:
        readings = daemon.readings()
        assert kept.download(SIZE, host=VIDEO_NAME) == SIZE  # fills the router's dnsmasq cache, too
        assert daemon.api("PATCH", f"/api/v1/devices/{kept.mac}", {"block": ["video"]})["block"] == ["video"]
        assert kept.download(SIZE, host=VIDEO_NAME, check=False) == 0
        assert kept.download(SIZE, v6=True, host=VIDEO_NAME, check=False) == 0
        assert kept.download(SIZE, host="dl.example.test") == SIZE
        assert other.download(SIZE, host=VIDEO_NAME) == SIZE

        assert daemon.api("PUT", "/api/v1/saver", {"block": ["video"]})["block"] == ["video"]  # everyone
        assert other.download(SIZE, host=VIDEO_NAME, check=False) == 0
        assert daemon.api("PUT", "/api/v1/saver", {"block": []})["block"] == []
        assert other.download(SIZE, host=VIDEO_NAME) == SIZE
        assert daemon.readings() == readings, "a reading happened: the test did not see the request's own effect"
    finally:
        daemon.stop()


CHROMIUM = "/usr/bin/chromium"  # Debian's, as tests/serve/test_browser.py uses it (never `playwright install`)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PASSWORD = "saver lab admin"
PHONE = {"width": 390, "height": 844}


def browser_in(lab: Lab, ns_name: str) -> str:
    """An executable that runs Chromium inside a client's namespace; Playwright, out here, drives it over its pipe."""
    wrapper = os.path.join(lab.dir, f"chromium-{ns_name}")
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\nexec ip netns exec '{ns_name}' {CHROMIUM} \"$@\"\n")
    os.chmod(wrapper, 0o755)
    return wrapper


@pytest.mark.fw4
@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Debian's chromium at {CHROMIUM}")
def test_blocking_video_for_one_device_on_its_page_stops_only_its_fetch(lab: Lab) -> None:
    """The admin's phone (the other client) blocks "video" for a device on that device's page, in a real browser."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    kept, admin_phone = lab.clients
    daemon = quiet_daemon(lab)
    daemon.routerguard("passwd", input=PASSWORD + "\n")
    page_url = f"http://{lab.router.lan_ip}:{plan.PAGE_PORT}"  # the LAN side: reachable from the clients only
    try:
        readings = daemon.readings()
        assert kept.download(SIZE, host=VIDEO_NAME) == SIZE
        with playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=browser_in(lab, admin_phone.ns.name), args=CHROMIUM_ARGS)
            page = browser.new_context(viewport=PHONE, is_mobile=True).new_page()
            page.goto(f"{page_url}/login?next=/admin/devices/{kept.mac}")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{page_url}/admin/devices/{kept.mac}")
            switches = page.locator("#saver")
            switches.get_by_label("Video").check()
            switches.locator("button[type=submit]").click()
            playwright_api.expect(page.locator(".flash.ok")).to_have_text("Saved.")
            playwright_api.expect(switches.get_by_label("Video")).to_be_checked()
            browser.close()
        assert kept.download(SIZE, host=VIDEO_NAME, check=False) == 0
        assert admin_phone.download(SIZE, host=VIDEO_NAME) == SIZE
        assert kept.download(SIZE, host="dl.example.test") == SIZE
        assert daemon.api("GET", f"/api/v1/devices/{kept.mac}")["block"] == ["video"]
        assert daemon.readings() == readings, "a reading happened: the test did not see the request's own effect"
    finally:
        daemon.stop()
