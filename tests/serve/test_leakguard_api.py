"""Leak guard over real HTTP and a real Core: destinations, categories, block lists, alerts with their one-tap pause."""

from __future__ import annotations

import json
import socket
import subprocess
from datetime import datetime

import requests

from routerguard.decide.alerts import HOUR
from routerguard.leakguard import LeakGuard
from routerguard.read.dns import Answer
from web_util import LAPTOP, PHONE, Site

GB = 1_000_000_000


def addr(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)


def host_uplink() -> str | None:
    """The interface of this host's preferred default route, as iproute2 tells it (IPv4 first, lowest metric)."""
    for family in ("-4", "-6"):
        routes = json.loads(subprocess.run(["ip", "-j", family, "route", "show", "default"], check=True,
                                           capture_output=True, text=True).stdout)
        if routes:
            return min(routes, key=lambda r: r.get("metric", 0))["dev"]
    return None


def get(site: Site, path: str, expect: int = 200) -> dict:
    response = requests.get(site.url(path), headers=site.bearer())
    assert response.status_code == expect, response.text
    return response.json()


def test_destinations_name_services_and_sum_to_the_bytes_seen(site: Site) -> None:
    core = site.core
    core.names.learn(PHONE, Answer("r3.googlevideo.com", (addr("198.18.0.20"),)))
    core.destinations.add(PHONE, addr("198.18.0.20"), 1000, 90_000)
    core.destinations.add(PHONE, addr("198.18.0.10"), 10, 5000)
    found = get(site, f"/api/v1/devices/{PHONE}/destinations")["destinations"]
    assert found == [
        {"name": "r3.googlevideo.com", "service": "YouTube", "category": "video", "up_bytes": 1000, "down_bytes": 90_000,
         "total_bytes": 91_000},
        {"name": "198.18.0.10", "service": None, "category": None, "up_bytes": 10, "down_bytes": 5000, "total_bytes": 5010},
    ]
    assert get(site, f"/api/v1/devices/{LAPTOP}/destinations") == {"destinations": []}
    get(site, "/api/v1/devices/02:00:00:00:00:99/destinations", expect=404)


def test_categories_list_the_shipped_ones(site: Site) -> None:
    categories = {c["id"]: c for c in get(site, "/api/v1/categories")["categories"]}
    assert {"os_updates", "app_stores", "cloud_backup", "ads_trackers", "video"} <= set(categories)
    assert "windowsupdate.com" in categories["os_updates"]["domains"]
    assert {"name": "Windows Update", "domains": categories["os_updates"]["services"][0]["domains"]} in categories["os_updates"]["services"]


def test_a_device_blocks_known_categories_only(site: Site) -> None:
    url = site.url(f"/api/v1/devices/{PHONE}")
    response = requests.patch(url, json={"block": ["video", "os_updates"]}, headers=site.bearer())
    assert response.status_code == 200 and response.json()["block"] == ["video", "os_updates"]
    assert "list block 'video'" in site.config_bytes().decode()
    response = requests.patch(url, json={"block": ["videos"]}, headers=site.bearer())
    assert response.status_code == 422 and "no category 'videos'" in response.json()["error"]


def test_device_and_plan_say_who_was_told_and_which_uplink(site: Site) -> None:
    assert get(site, f"/api/v1/devices/{PHONE}")["told_metered"] is False
    site.core.told_metered[PHONE] = site.core.now()
    assert get(site, f"/api/v1/devices/{PHONE}")["told_metered"] is True
    uplink = host_uplink()  # the test config has no `config uplink`: any uplink is assumed to cost
    assert get(site, "/api/v1/plan")["uplink"] == ({"ifname": uplink, "metered": True} if uplink else None)


def test_each_threshold_alerts_once_per_period(site: Site) -> None:
    guard = LeakGuard(site.core)
    site.usage(PHONE, 0, 850_000_000)  # 85% of its daily 1 GB
    first_told = site.core.now()
    guard.after_reading({})
    guard.after_reading({})
    alerts = get(site, "/api/v1/alerts")["alerts"]
    assert [(a["kind"], a["mac"]) for a in alerts] == [("threshold", PHONE)]
    assert alerts[0]["message"] == "Zhang phone's daily cap is 80% used (850.0 MB of 1.0 GB)."
    site.usage(PHONE, 0, 150_000_000)
    guard.after_reading({})
    guard.after_reading({})
    alerts = get(site, "/api/v1/alerts")["alerts"]
    assert [a["message"].split(" is ")[1][:8] for a in alerts] == ["used up ", "80% used"]  # newest first
    told = [datetime.fromisoformat(a["time"].replace("Z", "+00:00")).timestamp() for a in alerts]
    assert int(first_told) <= told[1] <= told[0] <= site.core.now()  # when each was raised, to the second
    assert LeakGuard(site.core)._decide(site.service.snapshot(), site.core.now()) == []  # a restart repeats none


def test_the_plan_alerts_with_no_device(site: Site) -> None:
    guard = LeakGuard(site.core)
    site.usage(LAPTOP, 0, 19 * GB)  # 95% of the 20 GB plan
    guard.after_reading({})
    plan_alerts = [a for a in get(site, "/api/v1/alerts")["alerts"] if a["mac"] is None]
    assert [a["message"] for a in plan_alerts] == ["The plan is 95% used (19.0 GB of 20.0 GB)."]


def test_a_burst_from_a_quiet_device_alerts(site: Site) -> None:
    guard = LeakGuard(site.core)
    for hours_ago in range(2, 7 * 24):
        site.usage(LAPTOP, 1000, 9000, ago=hours_ago * HOUR)
    site.usage(LAPTOP, 0, 20_000_000)
    guard.after_reading({LAPTOP: (0, 20_000_000)})
    guard.after_reading({LAPTOP: (0, 0)})
    kinds = sorted(a["kind"] for a in get(site, "/api/v1/alerts")["alerts"] if a["mac"] == LAPTOP)
    assert kinds == ["unusual_hour", "unusual_rate"]


def test_one_tap_on_an_alert_pauses_the_device_for_an_hour(site: Site, admin: requests.Session) -> None:
    site.core.db.execute("INSERT INTO alert (time, kind, mac, message) VALUES (?, 'unusual_rate', ?, 'big')", (site.core.now(), PHONE))
    page = admin.get(site.url("/admin/alerts"))
    assert "Pause 1 hour" in page.text and f'value="{PHONE}"' in page.text
    response = admin.post(site.url("/admin/alerts/pause"), data={"mac": PHONE}, allow_redirects=False)
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/alerts")
    device = get(site, f"/api/v1/devices/{PHONE}")
    assert device["blocked"] is True and device["state"] == "blocked"
    until = datetime.fromisoformat(device["blocked_until"].replace("Z", "+00:00")).timestamp()
    assert abs(until - (site.core.now() + HOUR)) < 60


def test_the_pause_needs_the_admin(site: Site) -> None:
    response = requests.post(site.url("/admin/alerts/pause"), data={"mac": PHONE}, allow_redirects=False)
    assert response.status_code == 303 and "/login" in response.headers["Location"]
    assert get(site, f"/api/v1/devices/{PHONE}")["blocked"] is False
