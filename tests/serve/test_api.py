"""The HTTP API of ../shared/interface.md, route by route, over real HTTP."""

from __future__ import annotations

import pytest
import requests

from web_util import LAPTOP, PHONE, Site

GB = 10**9

# Every route that needs credentials, with a body that would otherwise be accepted.
PROTECTED = [
    ("GET", "/api/v1/devices", None),
    ("GET", f"/api/v1/devices/{PHONE}", None),
    ("PATCH", f"/api/v1/devices/{PHONE}", {"name": "x"}),
    ("POST", f"/api/v1/devices/{PHONE}/topup", {"bytes": 1}),
    ("POST", f"/api/v1/devices/{PHONE}/reset", None),
    ("GET", "/api/v1/groups", None),
    ("GET", "/api/v1/groups/zhang", None),
    ("PUT", "/api/v1/groups/zhang", {"name": "x"}),
    ("DELETE", "/api/v1/groups/zhang", None),
    ("GET", "/api/v1/plan", None),
    ("PUT", "/api/v1/plan", None),
    ("GET", "/api/v1/history?step=hour", None),
    ("GET", "/api/v1/alerts", None),
    ("DELETE", "/api/v1/session", None),
]


@pytest.mark.parametrize("method, path, body", PROTECTED)
def test_protected_routes_answer_401_without_credentials(site: Site, method: str, path: str, body: object) -> None:
    before = site.config_bytes()
    response = requests.request(method, site.url(path), json=body)
    assert response.status_code == 401
    assert "log in" in response.json()["error"]
    assert site.config_bytes() == before


@pytest.mark.parametrize("method, path, body", [r for r in PROTECTED if r[0] == "GET"])
def test_protected_reads_work_with_session_and_with_bearer(site: Site, admin: requests.Session, method: str, path: str,
                                                           body: object) -> None:
    assert admin.get(site.url(path)).status_code == 200
    assert requests.get(site.url(path), headers=site.bearer()).status_code == 200


def test_devices_lists_every_device_in_the_contract_shape(site: Site, admin: requests.Session) -> None:
    site.usage(PHONE, 1000, 9000)
    devices = {d["mac"]: d for d in admin.get(site.url("/api/v1/devices")).json()["devices"]}
    assert set(devices) == {PHONE, LAPTOP}
    phone = devices[PHONE]
    assert phone["name"] == "Zhang phone" and phone["hostname"] == "zhang-phone"
    assert phone["ips"] == ["192.168.8.23"] and phone["group"] == "zhang" and phone["online"] is True
    assert phone["usage"] == {"up_bytes": 1000, "down_bytes": 9000, "total_bytes": 10000}
    assert phone["lifetime_bytes"] == 10000
    assert phone["rate"] == {"up_bps": 0, "down_bps": 0}
    assert phone["cap"]["bytes"] == GB and phone["cap"]["period"] == "daily" and phone["cap"]["action"] == "block"
    assert phone["cap"]["period_start"].endswith("Z") and phone["cap"]["period_end"].endswith("Z")
    assert phone["allowance_bytes"] == GB and phone["state"] == "ok"


def test_device_by_mac_and_unknown_mac(site: Site, admin: requests.Session) -> None:
    assert admin.get(site.url(f"/api/v1/devices/{LAPTOP}")).json()["hostname"] == "laptop"
    missing = admin.get(site.url("/api/v1/devices/02:00:00:00:00:99"))
    assert missing.status_code == 404 and "no device 02:00:00:00:00:99" in missing.json()["error"]
    assert admin.get(site.url("/api/v1/devices/not-a-mac")).status_code == 404


def test_patch_sets_name_group_exempt_and_cap_and_writes_the_config(site: Site, admin: requests.Session) -> None:
    body = {"name": "Laptop", "group": "zhang", "exempt": True,
            "cap": {"bytes": 2 * GB, "period": "monthly", "reset_day": 15, "action": "throttle", "throttle_kbit": 512}}
    device = admin.patch(site.url(f"/api/v1/devices/{LAPTOP}"), json=body).json()
    assert device["name"] == "Laptop" and device["group"] == "zhang" and device["exempt"] is True
    assert device["cap"]["bytes"] == 2 * GB and device["cap"]["reset_day"] == 15 and device["cap"]["throttle_kbit"] == 512
    assert device["state"] == "exempt"
    text = site.config_bytes().decode()
    assert f"option mac '{LAPTOP}'" in text and "option cap '2GB'" in text and "option throttle '512kbit'" in text


def test_patch_cap_null_removes_the_cap(site: Site, admin: requests.Session) -> None:
    device = admin.patch(site.url(f"/api/v1/devices/{PHONE}"), json={"cap": None}).json()
    assert device["cap"] is None and "option cap '1GB'" not in site.config_bytes().decode()


def test_patch_days_cap(site: Site, admin: requests.Session) -> None:
    cap = {"bytes": GB, "period": "days", "start": "2026-01-01T09:00", "days": 30, "action": "block"}
    device = admin.patch(site.url(f"/api/v1/devices/{LAPTOP}"), json={"cap": cap}).json()
    assert device["cap"]["days"] == 30 and device["cap"]["start"] == "2026-01-01T09:00"


@pytest.mark.parametrize("body", [
    {"cap": {"bytes": -1, "period": "daily"}},
    {"cap": {"bytes": 10**16, "period": "daily"}},
    {"cap": {"bytes": GB, "period": "yearly"}},
    {"cap": {"bytes": GB, "action": "throttle"}},
    {"cap": {"bytes": GB, "period": "monthly", "reset_day": 32}},
    {"cap": {"bytes": "1GB"}},
    {"cap": "1GB"},
    {"name": "x" * 65},
    {"name": "   "},
    {"group": "nobody"},
    {"exempt": "yes"},
    {"blocked_until": "2000-01-01T00:00:00Z"},
    {"colour": "red"},
    {"name": "fine", "cap": {"bytes": -5}},
    [1, 2],
])
def test_patch_out_of_range_is_422_and_changes_nothing(site: Site, admin: requests.Session, body: object) -> None:
    before = site.config_bytes()
    response = admin.patch(site.url(f"/api/v1/devices/{PHONE}"), json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]
    assert site.config_bytes() == before
    assert admin.get(site.url(f"/api/v1/devices/{PHONE}")).json()["name"] == "Zhang phone"


def test_patch_block_and_unblock(site: Site, admin: requests.Session) -> None:
    url = site.url(f"/api/v1/devices/{LAPTOP}")
    assert admin.patch(url, json={"blocked": True}).json()["state"] == "blocked"
    assert admin.patch(url, json={"blocked": False}).json()["state"] == "ok"


def test_topup_adds_to_the_allowance(site: Site, admin: requests.Session) -> None:
    device = admin.post(site.url(f"/api/v1/devices/{PHONE}/topup"), json={"bytes": 500 * 10**6}).json()
    assert device["allowance_bytes"] == GB + 500 * 10**6


@pytest.mark.parametrize("mac, body", [(PHONE, {"bytes": 0}), (PHONE, {"bytes": "5GB"}), (PHONE, {}), (LAPTOP, {"bytes": 5})])
def test_topup_refusals_are_422(site: Site, admin: requests.Session, mac: str, body: dict) -> None:
    response = admin.post(site.url(f"/api/v1/devices/{mac}/topup"), json=body)
    assert response.status_code == 422
    assert admin.get(site.url(f"/api/v1/devices/{PHONE}")).json()["allowance_bytes"] == GB


def test_reset_zeroes_this_periods_usage(site: Site, admin: requests.Session) -> None:
    site.usage(PHONE, 100, 200)
    device = admin.post(site.url(f"/api/v1/devices/{PHONE}/reset")).json()
    assert device["usage"]["total_bytes"] == 0 and device["lifetime_bytes"] == 300


def test_groups_list_members_cap_and_usage(site: Site, admin: requests.Session) -> None:
    site.usage(PHONE, 0, 700)
    (zhang,) = admin.get(site.url("/api/v1/groups")).json()["groups"]
    assert zhang["id"] == "zhang" and zhang["name"] == "Zhang family" and zhang["members"] == [PHONE]
    assert zhang["cap"]["bytes"] == 5 * GB and zhang["usage"]["total_bytes"] == 700


def test_put_group_creates_and_replaces(site: Site, admin: requests.Session) -> None:
    body = {"name": "Travel", "members": [LAPTOP.upper()], "cap": {"bytes": 3 * GB, "period": "weekly", "action": "notify"}}
    group = admin.put(site.url("/api/v1/groups/travel"), json=body).json()
    assert group["members"] == [LAPTOP] and group["cap"]["period"] == "weekly"
    assert admin.get(site.url(f"/api/v1/devices/{LAPTOP}")).json()["group"] == "travel"
    group = admin.put(site.url("/api/v1/groups/travel"), json={"name": "Trip", "members": []}).json()
    assert group["name"] == "Trip" and group["members"] == [] and group["cap"] is None


@pytest.mark.parametrize("gid, body", [
    ("bad%20id", {"name": "x"}),
    ("ok", {"name": ""}),
    ("ok", {"members": ["not-a-mac"]}),
    ("ok", {"cap": {"bytes": 1, "period": "hourly"}}),
    ("ok", {"owner": "me"}),
])
def test_put_group_out_of_range_is_422_and_changes_nothing(site: Site, admin: requests.Session, gid: str, body: dict) -> None:
    before = site.config_bytes()
    assert admin.put(site.url(f"/api/v1/groups/{gid}"), json=body).status_code == 422
    assert site.config_bytes() == before


def test_delete_group_frees_its_members(site: Site, admin: requests.Session) -> None:
    response = admin.delete(site.url("/api/v1/groups/zhang"))
    assert response.status_code == 204 and response.content == b""
    assert admin.get(site.url(f"/api/v1/devices/{PHONE}")).json()["group"] is None
    assert admin.delete(site.url("/api/v1/groups/zhang")).status_code == 404
    assert admin.get(site.url("/api/v1/groups/zhang")).status_code == 404


def test_plan_sums_every_device_and_the_router(site: Site, admin: requests.Session) -> None:
    site.usage(PHONE, 1, 2)
    site.usage(LAPTOP, 3, 4)
    site.usage("router", 5, 0)
    plan = admin.get(site.url("/api/v1/plan")).json()
    assert plan["quota_bytes"] == 20 * GB and plan["used_bytes"] == 15 and plan["router_bytes"] == 5
    assert plan["period"] == "monthly" and plan["action"] == "block" and plan["wan_snmp_bytes"] is None
    assert plan["period_start"] < plan["period_end"]
    assert "forecast_exhausted_at" in plan


def test_put_plan_sets_and_removes_it(site: Site, admin: requests.Session) -> None:
    plan = admin.put(site.url("/api/v1/plan"), json={"bytes": 10 * GB, "period": "days", "start": "2026-11-20T09:00",
                                                     "days": 30, "action": "throttle", "throttle_kbit": 128}).json()
    assert plan["quota_bytes"] == 10 * GB and plan["period"] == "days"
    assert "option quota '10GB'" in site.config_bytes().decode()
    assert admin.put(site.url("/api/v1/plan"), data="null").json()["quota_bytes"] is None
    assert "config plan" not in site.config_bytes().decode()


def test_put_plan_out_of_range_is_422_and_changes_nothing(site: Site, admin: requests.Session) -> None:
    before = site.config_bytes()
    assert admin.put(site.url("/api/v1/plan"), json={"bytes": 10 * GB, "period": "fortnightly"}).status_code == 422
    assert site.config_bytes() == before


def test_history_by_hour_and_by_day(site: Site, admin: requests.Session) -> None:
    site.usage(PHONE, 10, 20)
    site.usage(PHONE, 1, 2, ago=3 * 3600)
    hours = admin.get(site.url(f"/api/v1/history?mac={PHONE}&step=hour")).json()
    assert hours["mac"] == PHONE and hours["step"] == "hour" and len(hours["points"]) == 49
    assert hours["points"][-1]["total_bytes"] == 30
    assert sum(p["total_bytes"] for p in hours["points"]) == 33
    days = admin.get(site.url(f"/api/v1/history?mac={PHONE}&step=day")).json()
    assert len(days["points"]) == 31 and sum(p["total_bytes"] for p in days["points"]) == 33


def test_history_of_all_devices_sums_them(site: Site, admin: requests.Session) -> None:
    site.usage(PHONE, 10, 0)
    site.usage(LAPTOP, 0, 5)
    history = admin.get(site.url("/api/v1/history?step=hour")).json()
    assert history["mac"] is None and history["points"][-1] == {**history["points"][-1], "up_bytes": 10, "down_bytes": 5}


def test_history_with_a_range(site: Site, admin: requests.Session) -> None:
    query = f"mac={PHONE}&step=hour&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z"
    assert len(admin.get(site.url(f"/api/v1/history?{query}")).json()["points"]) == 24


@pytest.mark.parametrize("query, status", [
    ("step=minute", 422),
    (f"mac={PHONE}&step=hour&from=yesterday", 422),
    (f"mac={PHONE}&step=hour&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", 422),
    (f"mac={PHONE}&step=hour&from=2000-01-01T00:00:00Z", 422),
    ("mac=02:00:00:00:00:99&step=hour", 404),
])
def test_history_refusals(site: Site, admin: requests.Session, query: str, status: int) -> None:
    response = admin.get(site.url(f"/api/v1/history?{query}"))
    assert response.status_code == status and response.json()["error"]


def test_alerts_newest_first(site: Site, admin: requests.Session) -> None:
    assert admin.get(site.url("/api/v1/alerts")).json() == {"alerts": []}
    for message in ("first", "second"):
        site.core.db.execute("INSERT INTO alert (time, kind, mac, message) VALUES (?, 'cap', ?, ?)",
                             (site.core.now(), PHONE, message))
    alerts = admin.get(site.url("/api/v1/alerts")).json()["alerts"]
    assert [a["message"] for a in alerts] == ["second", "first"] and alerts[0]["mac"] == PHONE


def test_login_returns_a_csrf_token_and_logout_ends_the_session(site: Site) -> None:
    session = requests.Session()
    response = session.post(site.url("/api/v1/session"), json={"password": "correct horse battery"})
    token = response.json()["csrf_token"]
    assert session.get(site.url("/api/v1/devices")).status_code == 200
    assert session.delete(site.url("/api/v1/session"), headers={"X-CSRF-Token": token}).status_code == 204
    assert session.get(site.url("/api/v1/devices")).status_code == 401


@pytest.mark.parametrize("body, status", [({"password": "wrong"}, 401), ({}, 422), ({"password": 5}, 422)])
def test_login_refusals(site: Site, body: dict, status: int) -> None:
    response = requests.post(site.url("/api/v1/session"), json=body)
    assert response.status_code == status and response.json()["error"]
    assert "Set-Cookie" not in response.headers


def test_me_finds_the_device_by_its_source_address_without_auth(site: Site) -> None:
    site.device(PHONE, "127.0.0.1")
    site.usage(PHONE, 5, 6)
    device = requests.get(site.url("/api/v1/me")).json()
    assert device["mac"] == PHONE and device["usage"]["total_bytes"] == 11


def test_me_for_an_unknown_address_is_404_with_a_reason(site: Site) -> None:
    response = requests.get(site.url("/api/v1/me"))
    assert response.status_code == 404 and "127.0.0.1" in response.json()["error"]


def test_healthz_needs_no_auth(site: Site) -> None:
    health = requests.get(site.url("/healthz")).json()
    assert health["ok"] is True and health["readings"] == 0 and health["config_error"] is None


def test_unknown_route_is_a_json_404(site: Site) -> None:
    response = requests.get(site.url("/api/v1/nothing"))
    assert response.status_code == 404 and response.json()["error"]


def test_wrong_method_is_405_with_allow(site: Site) -> None:
    response = requests.post(site.url("/api/v1/devices"), headers=site.bearer())
    assert response.status_code == 405 and "GET" in response.headers["Allow"] and response.json()["error"]


def test_a_config_broken_on_disk_makes_changes_a_409(site: Site, admin: requests.Session) -> None:
    with open(site.config_path, "a") as f:
        f.write("\nconfig device\n\toption mac 'garbage'\n")
    response = admin.patch(site.url(f"/api/v1/devices/{PHONE}"), json={"name": "x"})
    assert response.status_code == 409 and "garbage" in response.json()["error"]
