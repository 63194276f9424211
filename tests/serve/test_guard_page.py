"""Guarding the guard on the page: approving a new device, undoing what unusual use did, in both languages."""

from __future__ import annotations

import json

import requests

from routerguard.decide.alerts import HOUR
from routerguard.serve.words import MESSAGES
from web_util import LAPTOP, Site

VISITOR = "02:00:00:00:00:71"


def approve_mode(site: Site) -> None:
    site.core.config_file.edit(lambda package: package.find("routerguard")[0].set("new_devices", "approve"))


def test_a_device_waiting_for_approval_is_approved_from_its_page(site: Site, admin: requests.Session) -> None:
    approve_mode(site)
    site.device(VISITOR, "192.168.8.150", "visitor")
    page = admin.get(site.url(f"/admin/devices/{VISITOR}")).text
    assert "Waiting for approval" in page and f"/admin/devices/{VISITOR}/approve" in page
    assert "Waiting for approval" in admin.get(site.url("/admin")).text
    response = admin.post(site.url(f"/admin/devices/{VISITOR}/approve"), allow_redirects=False)
    assert response.status_code == 303
    assert site.service.device(VISITOR)["approved"] is True
    assert "Waiting for approval" not in admin.get(site.url(f"/admin/devices/{VISITOR}")).text


def test_the_approve_button_speaks_chinese(site: Site, admin: requests.Session) -> None:
    approve_mode(site)
    site.device(VISITOR, "192.168.8.150", "visitor")
    admin.cookies.set("lang", "zh-CN")
    page = admin.get(site.url(f"/admin/devices/{VISITOR}")).text
    assert "等待批准" in page and "批准上网" in page


def test_an_alert_that_acted_offers_undo(site: Site, admin: requests.Session) -> None:
    core = site.core
    core.adjustments.hold_throttle(LAPTOP, core.now() + HOUR, 256)
    params = {"name": "laptop", "recent": 20_000_000, "minutes": 10, "usual": 1000, "factor": 10, "done": "throttle", "kbit": 256}
    core.alerts.record(core.now(), "unusual_rate", LAPTOP, "laptop moved 20 MB. Slowed to 256 kbit/s for 1 hour.", params,
                       "s", 0.0, [0])
    page = admin.get(site.url("/admin/alerts")).text
    assert "Slowed to 256 kbit/s for 1 hour." in page and "/admin/alerts/undo" in page
    admin.cookies.set("lang", "zh-CN")
    assert "已限速至 256 kbit/s，持续 1 小时。" in admin.get(site.url("/admin/alerts")).text
    assert "撤销" in admin.get(site.url(f"/admin/devices/{LAPTOP}")).text
    response = admin.post(site.url("/admin/alerts/undo"), data={"mac": LAPTOP}, allow_redirects=False)
    assert response.status_code == 303
    assert site.service.device(LAPTOP)["throttled_until"] is None


def test_the_api_patches_approved_and_refuses_bad_values(site: Site) -> None:
    approve_mode(site)
    site.device(VISITOR, "192.168.8.150", "visitor")
    url = site.url(f"/api/v1/devices/{VISITOR}")
    response = requests.patch(url, json={"approved": "yes"}, headers=site.bearer())
    assert response.status_code == 422 and response.json()["error"] == "approved must be true or false"
    assert all("error_bad_approved" in MESSAGES[lang] for lang in MESSAGES)  # the page says it in the reader's language
    response = requests.patch(url, json={"approved": True}, headers=site.bearer())
    assert response.status_code == 200 and response.json()["approved"] is True
    assert json.loads(requests.get(url, headers=site.bearer()).text)["approved"] is True


def test_the_undo_needs_the_admin(site: Site) -> None:
    response = requests.post(site.url("/admin/alerts/undo"), data={"mac": LAPTOP}, allow_redirects=False)
    assert response.status_code == 303 and "/login" in response.headers["Location"]


def test_a_new_device_alert_offers_approve_while_it_waits(site: Site, admin: requests.Session) -> None:
    approve_mode(site)
    site.device(VISITOR, "192.168.8.150", "visitor")
    core = site.core
    core.alerts.record(core.now(), "new_device", VISITOR, "New device", {"mac": VISITOR, "hostname": "visitor",
                                                                         "address": "192.168.8.150"}, "n", 0.0, [0])
    assert f"/admin/devices/{VISITOR}/approve" in admin.get(site.url("/admin/alerts")).text
    site.service.patch_device(VISITOR, {"approved": True})
    assert f"/admin/devices/{VISITOR}/approve" not in admin.get(site.url("/admin/alerts")).text
