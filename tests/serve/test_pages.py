"""The HTML pages over HTTP: forms do what the API does, words exist in both languages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from routerguard.serve.words import MESSAGES
from web_util import LAPTOP, PHONE, Site

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"
GB = 10**9


def form(admin: requests.Session, site: Site, path: str, **fields: str) -> requests.Response:
    """Post a form as the page does: with the CSRF token as a hidden field."""
    return admin.post(site.url(path), data={"csrf_token": admin.headers["X-CSRF-Token"], **fields})


def test_every_word_exists_in_both_languages() -> None:
    used = {key for template in TEMPLATES.glob("*.html")
            for key in re.findall(r"""_\('([a-z_]+)'""", template.read_text())}
    assert set(MESSAGES["en"]) == set(MESSAGES["zh-CN"])
    assert used - {"state_", "period_", "action_", "scope_"} <= set(MESSAGES["en"])


@pytest.mark.parametrize("accept, title", [("zh-CN,zh;q=0.9", "管理员登录"), ("zh-TW", "管理员登录"), ("en-GB", "Admin login"),
                                           ("fr", "Admin login"), ("", "Admin login")])
def test_accept_language_picks_the_language(site: Site, accept: str, title: str) -> None:
    assert title in requests.get(site.url("/login"), headers={"Accept-Language": accept}).text


def test_the_language_cookie_wins_over_the_browser(site: Site) -> None:
    session = requests.Session()
    session.get(site.url("/lang/zh-CN?next=/login"))
    assert "管理员登录" in session.get(site.url("/login"), headers={"Accept-Language": "en"}).text


def test_a_guest_page_without_login(site: Site) -> None:
    site.device(PHONE, "127.0.0.1")
    page = requests.get(site.url("/")).text
    assert "Zhang phone" in page and "left" in page and "resets" in page
    assert "Zhang family" not in page and LAPTOP not in page  # nothing about other devices


def test_the_blocked_page_without_login(site: Site) -> None:
    site.device(PHONE, "127.0.0.1")
    site.usage(PHONE, 0, 2 * GB)
    page = requests.get(site.url("/blocked"))
    assert page.status_code == 200 and "Data quota reached" in page.text and "Zhang phone" in page.text


def test_an_unknown_guest_is_told_why(site: Site) -> None:
    assert "does not know this device yet" in requests.get(site.url("/me")).text


def test_admin_pages_send_a_guest_to_the_login(site: Site) -> None:
    response = requests.get(site.url(f"/admin/devices/{PHONE}"), allow_redirects=False)
    assert response.status_code == 303 and response.headers["Location"] == f"/login?next=/admin/devices/{PHONE}"


def test_the_login_form_logs_in_and_goes_on(site: Site) -> None:
    session = requests.Session()
    response = session.post(site.url("/login?next=/admin/plan"), data={"password": "correct horse battery"})
    assert response.url == site.url("/admin/plan") and "Plan settings" in response.text
    assert "wrong password" in session.post(site.url("/login"), data={"password": "nope"}).text


def test_device_forms(site: Site, admin: requests.Session) -> None:
    base = f"/admin/devices/{LAPTOP}"
    assert "Saved." in form(admin, site, f"{base}/settings", name="Work laptop", group="zhang", exempt="1").text
    assert "Saved." in form(admin, site, f"{base}/cap", size="2GB", period="weekly", reset_day="3", action="throttle",
                            throttle="1mbit").text
    form(admin, site, f"{base}/topup", size="500MB")
    form(admin, site, f"{base}/block", blocked="1")
    device = site.service.device(LAPTOP)
    assert device["name"] == "Work laptop" and device["group"] == "zhang" and device["exempt"]
    assert device["cap"]["bytes"] == 2 * GB and device["cap"]["reset_day"] == 3 and device["cap"]["throttle_kbit"] == 1000
    assert device["allowance_bytes"] == 2 * GB + 500 * 10**6 and device["blocked"]
    site.usage(LAPTOP, 1, 1)
    form(admin, site, f"{base}/reset")
    assert site.service.device(LAPTOP)["usage"]["total_bytes"] == 0
    form(admin, site, f"{base}/cap", remove="1")
    assert site.service.device(LAPTOP)["cap"] is None


@pytest.mark.parametrize("fields, reason", [({"size": "5XB"}, "unknown unit"), ({"size": "1GB", "period": "days"}, "start"),
                                            ({"size": "1GB", "action": "throttle"}, "throttle")])
def test_a_refused_form_says_why_with_422_and_changes_nothing(site: Site, admin: requests.Session, fields: dict,
                                                              reason: str) -> None:
    before = site.config_bytes()
    response = form(admin, site, f"/admin/devices/{PHONE}/cap", **fields)
    assert response.status_code == 422 and reason in response.text
    assert site.config_bytes() == before


def test_group_forms(site: Site, admin: requests.Session) -> None:
    response = admin.post(site.url("/admin/groups"), data=[("csrf_token", admin.headers["X-CSRF-Token"]), ("id", "trip"),
                                                           ("name", "Trip"), ("size", "3GB"), ("period", "daily"),
                                                           ("action", "block"), ("members", PHONE), ("members", LAPTOP)])
    assert "Saved." in response.text
    assert site.service.group("trip")["members"] == [PHONE, LAPTOP]
    form(admin, site, "/admin/groups/trip/delete")
    assert [g["id"] for g in site.service.groups()] == ["zhang"]


def test_plan_form(site: Site, admin: requests.Session) -> None:
    form(admin, site, "/admin/plan", size="50GB", period="days", start="2026-11-20T09:00", days="30", action="notify")
    plan = site.service.plan()
    assert plan["quota_bytes"] == 50 * GB and plan["period"] == "days" and plan["action"] == "notify"
    form(admin, site, "/admin/plan", remove="1")
    assert site.service.plan()["quota_bytes"] is None


def test_a_token_is_shown_once_works_and_can_be_revoked(site: Site, admin: requests.Session) -> None:
    page = form(admin, site, "/admin/tokens", label="grafana").text
    token = re.search(r'id="new-token">([^<]+)<', page).group(1)
    assert token not in admin.get(site.url("/admin/tokens")).text
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.get(site.url("/api/v1/devices"), headers=bearer).status_code == 200
    (made,) = [t for t in site.core.secrets.tokens() if t["label"] == "grafana"]
    form(admin, site, f"/admin/tokens/{made['id']}/revoke")
    assert requests.get(site.url("/api/v1/devices"), headers=bearer).status_code == 401


def test_logout_form(site: Site, admin: requests.Session) -> None:
    form(admin, site, "/logout")
    assert admin.get(site.url("/api/v1/devices")).status_code == 401


def test_the_dashboard_forecasts_when_the_plan_runs_out(site: Site, admin: requests.Session) -> None:
    assert "Nothing is being used right now." in admin.get(site.url("/admin")).text
    site.usage(PHONE, 0, 10**9)
    now = site.core.now()
    site.core.rates.record(now - 1, {PHONE: (0, 0)})
    site.core.rates.record(now, {PHONE: (0, 10**9)})  # 8 Gbit/s: the rest of 20 GB goes in under a minute
    assert "At this rate the plan lasts until" in admin.get(site.url("/admin")).text
