"""What ate the data, in a real browser at phone and desktop widths, in both languages.

The bytes are charged as the meter charges them (the ledger and the
destinations, with the DNS answers seen), so that the page's rows can be
held to the device's usage. Each row's exact bytes ride in data-bytes;
screenshots land in tests/artifacts/ (eaten-*.png) for a person to look at.
"""

from __future__ import annotations

import os

import pytest

from routerguard.account.ledger import ROUTER
from routerguard.serve.words import service_name_in
from browser_util import ARTIFACTS, CHROMIUM, GUEST, VIEWPORTS, check_page, log_in, open_page, playwright_api, shoot
from web_util import LAPTOP, PHONE, Site

MB = 1_000_000
TOLERANCE = 0.01
LOCALES = {"en-US": {"video": "Video", "os_updates": "OS updates", "by_name": "By name looked up"},
           "zh-CN": {"video": "视频", "os_updates": "系统更新", "by_name": "按域名"}}
FLEET = 30  # the dashboard's weight is held at this many devices

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Debian's chromium at {CHROMIUM}")]


@pytest.fixture
def eaten(site: Site) -> Site:
    """A guest (the browser's own address), the phone with many names (some pushed into "other"), a laptop, the router."""
    site.device(GUEST, "127.0.0.1", "guest-phone")
    site.service.patch_device(GUEST, {"name": "Guest phone", "group": "zhang",
                                      "cap": {"bytes": 2 * 10**9, "period": "daily", "action": "block"}})
    site.charge(GUEST, "198.18.0.20", 3 * MB, 410 * MB, "rr1---sn-a5mekn7s.googlevideo.com")
    site.charge(GUEST, "198.18.0.30", 120 * MB, 2 * MB, "p42-content.icloud-content.com")
    site.charge(GUEST, "198.18.0.40", 1 * MB, 15 * MB, "weather.example.test")
    site.charge(GUEST, "198.18.0.50", 0, 3 * MB)  # no name seen: the address is the name
    site.charge(PHONE, "198.18.0.21", 4 * MB, 520 * MB, "ipv4-c001-sin001-ix.1.oca.nflxvideo.net")
    site.charge(PHONE, "198.18.0.60", 2 * MB, 260 * MB, "swcdn.apple.com")
    site.charge(PHONE, "198.18.0.61", 1 * MB, 75 * MB, "iosapps.itunes.apple.com")
    site.charge(PHONE, "198.18.0.62", 3 * MB, 9 * MB, "googleads.g.doubleclick.net")
    for i in range(60):
        site.charge(PHONE, f"198.18.2.{i}", 2000, (i + 1) * 50_000, f"cdn{i}.example-news.test")
    site.charge(LAPTOP, "198.18.0.70", 8 * MB, 900 * MB, "dl.delivery.mp.microsoft.com")
    site.charge(ROUTER, "198.18.0.80", 1 * MB, 4 * MB)
    return site


def shoot_both(page, name: str) -> None:
    """The whole page, and the card of what ate the data at full size (a whole phone page shrinks when viewed)."""
    shoot(page, name)
    page.locator("#eaten").screenshot(path=str(ARTIFACTS / f"{name}-card.png"))


def rows_bytes(page, which: str) -> list[int]:
    return [int(b) for b in page.locator(f"[data-list={which}] li").evaluate_all("rows => rows.map(r => r.dataset.bytes)")]


@pytest.mark.parametrize("size", list(VIEWPORTS))
@pytest.mark.parametrize("locale", list(LOCALES))
def test_a_devices_page_lists_its_top_destinations_adding_up_to_its_usage(browser, eaten: Site, size: str, locale: str) -> None:
    context, page = open_page(browser, size, locale)
    log_in(page, eaten)
    page.goto(eaten.url(f"/admin/devices/{PHONE}"))
    words = LOCALES[locale]
    card = page.locator("#eaten")
    playwright_api.expect(card.locator("h3").nth(1)).to_have_text(words["by_name"])
    names = card.locator("[data-list=destinations] li .name")
    playwright_api.expect(names.first).to_have_text("ipv4-c001-sin001-ix.1.oca.nflxvideo.net")
    playwright_api.expect(card.locator("[data-list=destinations] li .sub").first).to_have_text(f"Netflix · {words['video']}")
    playwright_api.expect(card.locator("[data-list=categories] li .name").first).to_have_text(words["video"])
    usage = eaten.service.device(PHONE)["usage"]["total_bytes"]
    for which in ("destinations", "categories"):
        shown = sum(rows_bytes(page, which))
        assert abs(shown - usage) <= usage * TOLERANCE, f"{which}: {shown} shown, {usage} used"
    shoot_both(page, f"eaten-device-{locale[:2]}-{size}")
    context.close()


@pytest.mark.parametrize("size", list(VIEWPORTS))
@pytest.mark.parametrize("locale", list(LOCALES))
def test_a_guest_sees_its_own_services_and_not_another_devices(browser, eaten: Site, size: str, locale: str) -> None:
    context, page = open_page(browser, size, locale)
    page.goto(eaten.url("/me"))
    services = page.locator("[data-list=services] li .name")
    playwright_api.expect(services.first).to_have_text("YouTube")
    playwright_api.expect(page.locator("[data-list=categories] li .name").first).to_have_text(LOCALES[locale]["video"])
    text = page.locator("main").inner_text()
    assert service_name_in(locale, "iCloud backup") in text and "weather.example.test" in text and "198.18.0.50" in text
    for others in ("Netflix", "nflxvideo", "swcdn", "example-news", "microsoft", "Zhang phone"):
        assert others not in text
    assert len(rows_bytes(page, "services")) == 4
    assert sum(rows_bytes(page, "services")) == eaten.service.device(GUEST)["usage"]["total_bytes"]
    assert page.locator("#limits li").count() == 3  # its own cap, its group's, the plan
    shoot_both(page, f"eaten-me-{locale[:2]}-{size}")
    context.close()


@pytest.mark.parametrize("size", list(VIEWPORTS))
@pytest.mark.parametrize("locale", list(LOCALES))
def test_the_dashboard_says_where_the_plans_data_went(browser, eaten: Site, size: str, locale: str) -> None:
    context, page = open_page(browser, size, locale)
    log_in(page, eaten)
    categories = page.locator("#eaten [data-list=categories] li .name")
    playwright_api.expect(categories.first).to_have_text(LOCALES[locale]["os_updates"])
    playwright_api.expect(page.locator("#eaten [data-list=devices] li .name").first).to_have_text("Zhang phone")
    used = eaten.service.plan()["used_bytes"]
    assert sum(rows_bytes(page, "categories")) == sum(rows_bytes(page, "devices")) == used
    shoot_both(page, f"eaten-dashboard-{locale[:2]}-{size}")
    context.close()


def test_the_dashboard_with_30_devices_stays_light(browser, eaten: Site) -> None:
    for n in range(FLEET - 3):  # beside the guest, the phone and the laptop
        mac = f"02:00:00:00:01:{n:02x}"
        eaten.device(mac, f"192.168.8.{100 + n}", f"guest-{n}")
        for k in range(12):
            eaten.charge(mac, f"198.18.3.{k}", 1000, (k + 1) * 100_000, f"host{k}.example.test")
    context, page = open_page(browser, "phone")
    fetched: dict[str, int] = {}
    page.on("response", lambda r: fetched.__setitem__(r.url, 0 if 300 <= r.status < 400 else len(r.body())))
    log_in(page, eaten)
    check_page(page, eaten, "/admin", "phone", "en-US", fetched)  # under 150 KB, fits the phone
    assert page.locator("#devices article").count() == FLEET
    print(f"dashboard with {FLEET} devices: {sum(fetched.values())} bytes")
    context.close()
