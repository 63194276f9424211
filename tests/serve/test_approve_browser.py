"""Guarding the guard in a real browser: approving a waiting device, undoing an unusual-use slow-down; screenshots
at phone and desktop width in both languages."""

from __future__ import annotations

import pytest

from browser_util import BROWSER, VIEWPORTS, log_in, open_page, shoot
from routerguard.decide.alerts import HOUR
from web_util import LAPTOP, Site

pytestmark = BROWSER

VISITOR = "02:00:00:00:00:71"


@pytest.mark.parametrize("size", list(VIEWPORTS))
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_approve_and_undo_on_the_page(browser, site: Site, size: str, locale: str) -> None:
    core = site.core
    core.config_file.edit(lambda package: package.find("routerguard")[0].set("new_devices", "approve"))
    site.device(VISITOR, "192.168.8.150", "visitor-phone")
    core.adjustments.hold_throttle(LAPTOP, core.now() + HOUR, 256)
    params = {"name": "laptop", "recent": 20_000_000, "minutes": 10, "usual": 1000, "factor": 10, "done": "throttle",
              "kbit": 256}
    core.alerts.record(core.now(), "unusual_rate", LAPTOP, "laptop moved 20 MB. Slowed to 256 kbit/s for 1 hour.",
                       params, "s", 0.0, [0])
    core.alerts.record(core.now(), "new_device", VISITOR, "New device", {"mac": VISITOR, "hostname": "visitor-phone",
                                                                         "address": "192.168.8.150"}, "n", 0.0, [0])
    context, page = open_page(browser, size, locale)
    log_in(page, site)
    for path, name in ((f"/admin/devices/{VISITOR}", "guard-approve"), ("/admin/alerts", "guard-alerts"),
                       ("/admin", "guard-dashboard")):
        page.goto(site.url(path))
        assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[size]["width"], path
        shoot(page, f"{name}-{locale[:2]}-{size}")
    page.goto(site.url(f"/admin/devices/{VISITOR}"))
    page.locator("#approve button[type=submit]").click()
    page.wait_for_url(site.url(f"/admin/devices/{VISITOR}"))
    assert site.service.device(VISITOR)["approved"] is True
    page.goto(site.url("/admin/alerts"))
    page.locator("form[action$='/admin/alerts/undo'] button").click()
    page.wait_for_url(site.url("/admin/alerts"))
    assert site.service.device(LAPTOP)["throttled_until"] is None
    context.close()
