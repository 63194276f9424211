"""What ate the data, over real HTTP and a real Core: sums by category and service that add up, the plan's, a guest's own."""

from __future__ import annotations

import html

import requests

from routerguard.account.ledger import ROUTER
from web_util import LAPTOP, PHONE, Site

MB = 1_000_000


def get(site: Site, path: str, expect: int = 200) -> dict:
    response = requests.get(site.url(path), headers=site.bearer())
    assert response.status_code == expect, response.text
    return response.json()


def charge_phone(site: Site) -> None:
    site.charge(PHONE, "198.18.0.20", 1 * MB, 300 * MB, "r3.googlevideo.com")  # YouTube, video
    site.charge(PHONE, "198.18.0.21", 2 * MB, 40 * MB, "www.netflix.com")  # Netflix, video
    site.charge(PHONE, "198.18.0.30", 80 * MB, 1 * MB, "p42-content.icloud-content.com")  # iCloud backup
    site.charge(PHONE, "198.18.0.40", 1 * MB, 9 * MB, "dl.example.test")  # in no list
    site.charge(PHONE, "198.18.0.50", 0, 5 * MB)  # no DNS answer seen: the address is the name


def test_a_devices_categories_add_up_to_its_destinations_and_usage(site: Site) -> None:
    charge_phone(site)
    found = get(site, f"/api/v1/devices/{PHONE}/categories")["categories"]
    assert [(c["category"], c["name"], c["total_bytes"]) for c in found] == [
        ("video", "Video", 343 * MB), ("cloud_backup", "Cloud backup", 81 * MB), (None, None, 15 * MB)]
    destinations = get(site, f"/api/v1/devices/{PHONE}/destinations")["destinations"]
    usage = get(site, f"/api/v1/devices/{PHONE}")["usage"]
    assert sum(c["total_bytes"] for c in found) == sum(d["total_bytes"] for d in destinations) == usage["total_bytes"]
    assert sum(c["up_bytes"] for c in found) == usage["up_bytes"]
    assert get(site, f"/api/v1/devices/{LAPTOP}/categories") == {"categories": []}
    get(site, "/api/v1/devices/02:00:00:00:00:99/categories", expect=404)


def test_names_pushed_out_of_the_top_ones_still_count(site: Site) -> None:
    """Past 50 names the smallest go to the "other" row, which is in no category: the sums hold."""
    for i in range(60):
        site.charge(LAPTOP, f"198.18.1.{i}", 1000, (i + 1) * 10_000, f"host{i}.example.test")
    destinations = get(site, f"/api/v1/devices/{LAPTOP}/destinations")["destinations"]
    assert len(destinations) == 51 and "other" in {d["name"] for d in destinations}
    found = get(site, f"/api/v1/devices/{LAPTOP}/categories")["categories"]
    assert [c["category"] for c in found] == [None]
    assert found[0]["total_bytes"] == get(site, f"/api/v1/devices/{LAPTOP}")["usage"]["total_bytes"]


def test_a_devices_services_name_listed_services_and_unlisted_names(site: Site) -> None:
    charge_phone(site)
    services = site.service.services_used(PHONE)
    assert [(s["name"], s["service"], s["category"], s["total_bytes"]) for s in services] == [
        ("YouTube", "YouTube", "video", 301 * MB), ("iCloud backup", "iCloud backup", "cloud_backup", 81 * MB),
        ("Netflix", "Netflix", "video", 42 * MB), ("dl.example.test", None, None, 10 * MB), ("198.18.0.50", None, None, 5 * MB)]


def test_the_plans_breakdown_adds_up_to_the_plan(site: Site) -> None:
    charge_phone(site)
    site.charge(LAPTOP, "198.18.0.60", 5 * MB, 700 * MB, "swcdn.apple.com")  # Apple software update
    site.charge(ROUTER, "198.18.0.70", 1 * MB, 2 * MB)
    site.usage(LAPTOP, 0, 20 * MB)  # bytes whose destinations were not kept (a window that began before the plan's)
    breakdown = get(site, "/api/v1/plan/breakdown")
    plan = get(site, "/api/v1/plan")
    assert breakdown["from"] == plan["period_start"]
    assert breakdown["used_bytes"] == plan["used_bytes"] == 1_167 * MB
    assert sum(c["total_bytes"] for c in breakdown["categories"]) == plan["used_bytes"]
    assert [(c["category"], c["total_bytes"]) for c in breakdown["categories"]] == [
        ("os_updates", 705 * MB), ("video", 343 * MB), ("cloud_backup", 81 * MB), (None, 38 * MB)]
    assert [(d["mac"], d["name"], d["total_bytes"]) for d in breakdown["devices"]] == [
        (LAPTOP, "laptop", 725 * MB), (PHONE, "Zhang phone", 439 * MB), (None, None, 3 * MB)]


def test_a_guests_page_shows_its_own_services_and_no_one_elses(site: Site) -> None:
    site.device(LAPTOP, "127.0.0.1", "laptop")  # the test's requests come from the laptop
    charge_phone(site)
    site.charge(LAPTOP, "198.18.0.80", 1 * MB, 90 * MB, "www.bilibili.com")
    page = requests.get(site.url("/me")).text
    assert "Bilibili" in page and "91.0" in page
    assert "YouTube" not in page and "icloud" not in page.lower() and "198.18.0" not in page


def test_every_limit_of_a_guest_shows_what_is_left(site: Site) -> None:
    site.device(PHONE, "127.0.0.1", "zhang-phone")
    site.usage(PHONE, 0, 100 * MB)
    page = requests.get(site.url("/me")).text
    section = html.unescape(page[page.index('id="limits"'):])
    assert "This device's cap" in section and "Group cap" in section and "Data plan" in section
    assert "900.0\u00a0MB left" in section and "4.9\u00a0GB left" in section and "19.9\u00a0GB left" in section
