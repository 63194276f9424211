"""Top-ups of a group and of the plan, and the plan's calibration, over real HTTP: the API's routes and the page's
forms (serve/topups.py)."""

from __future__ import annotations

import html

import pytest
import requests

from web_util import LAPTOP, PHONE, Site

GB = 10**9
MB = 10**6

ROUTES = [("POST", "/api/v1/groups/zhang/topup", {"bytes": 1}), ("POST", "/api/v1/plan/topup", {"bytes": 1}),
          ("POST", "/api/v1/plan/calibrate", {"used_bytes": 1})]


def form(admin: requests.Session, site: Site, path: str, **fields: str) -> requests.Response:
    return admin.post(site.url(path), data={"csrf_token": admin.headers["X-CSRF-Token"], **fields})


def state(site: Site) -> tuple:
    return site.service.plan(), site.service.groups(), site.config_bytes()


@pytest.mark.parametrize("method, path, body", ROUTES)
def test_the_routes_need_credentials(site: Site, method: str, path: str, body: dict) -> None:
    before = state(site)
    assert requests.request(method, site.url(path), json=body).status_code == 401
    assert state(site) == before


def test_a_group_topup_returns_the_group_with_its_allowance_raised(site: Site, admin: requests.Session) -> None:
    response = admin.post(site.url("/api/v1/groups/zhang/topup"), json={"bytes": 500 * MB})
    assert response.status_code == 200
    group = response.json()
    assert group["id"] == "zhang" and group["allowance_bytes"] == 5 * GB + 500 * MB
    assert requests.post(site.url("/api/v1/groups/zhang/topup"), json={"bytes": 1}, headers=site.bearer()).status_code == 200


def test_a_plan_topup_returns_the_plan_with_its_allowance_raised(site: Site, admin: requests.Session) -> None:
    plan = admin.post(site.url("/api/v1/plan/topup"), json={"bytes": 2 * GB}).json()
    assert plan["allowance_bytes"] == 22 * GB and plan["quota_bytes"] == 20 * GB


def test_an_unknown_group_is_404(site: Site, admin: requests.Session) -> None:
    response = admin.post(site.url("/api/v1/groups/ghost/topup"), json={"bytes": 1})
    assert response.status_code == 404 and "ghost" in response.json()["error"]


@pytest.mark.parametrize("path, body, named", [
    ("/api/v1/groups/zhang/topup", {"bytes": 0}, "bytes"),
    ("/api/v1/groups/zhang/topup", {"bytes": "1GB"}, "bytes"),
    ("/api/v1/plan/topup", {}, "bytes"),
    ("/api/v1/plan/topup", {"bytes": -5}, "bytes"),
    ("/api/v1/plan/calibrate", {}, "used_bytes or left_bytes"),
    ("/api/v1/plan/calibrate", {"used_bytes": 1, "left_bytes": 2}, "used_bytes or left_bytes"),
    ("/api/v1/plan/calibrate", {"used_bytes": -1}, "used_bytes"),
    ("/api/v1/plan/calibrate", {"left_bytes": 7.5}, "left_bytes"),
    ("/api/v1/plan/calibrate", {"left_bytes": 21 * GB}, "left_bytes"),
])
def test_bad_bodies_are_422_naming_the_field_and_change_nothing(site: Site, admin: requests.Session, path: str, body: dict,
                                                               named: str) -> None:
    before = state(site)
    response = admin.post(site.url(path), json=body)
    assert response.status_code == 422 and named in response.json()["error"]
    assert state(site) == before


def test_without_a_plan_a_topup_or_left_is_422_and_used_is_taken(site: Site, admin: requests.Session) -> None:
    admin.put(site.url("/api/v1/plan"), data="null")
    site.usage(PHONE, 0, 3 * MB)
    assert admin.post(site.url("/api/v1/plan/topup"), json={"bytes": 1}).status_code == 422
    assert admin.post(site.url("/api/v1/plan/calibrate"), json={"left_bytes": 1}).status_code == 422
    plan = admin.post(site.url("/api/v1/plan/calibrate"), json={"used_bytes": 5 * MB}).json()
    assert plan["used_bytes"] == 5 * MB and plan["calibration_bytes"] == 2 * MB


def test_calibration_shows_in_the_plan(site: Site, admin: requests.Session) -> None:
    site.usage(PHONE, 1 * MB, 5 * MB)
    site.usage(LAPTOP, 0, 4 * MB)
    plan = admin.post(site.url("/api/v1/plan/calibrate"), json={"used_bytes": 12 * MB}).json()
    assert plan["used_bytes"] == 12 * MB and plan["counted_bytes"] == 10 * MB and plan["calibration_bytes"] == 2 * MB
    assert admin.get(site.url("/api/v1/plan")).json() == plan
    plan = admin.post(site.url("/api/v1/plan/calibrate"), json={"left_bytes": 19 * GB}).json()
    assert plan["remaining_bytes"] == 19 * GB and plan["calibration_bytes"] == GB - 10 * MB


# --- the page ----------------------------------------------------------------------------------


def test_the_group_topup_form(site: Site, admin: requests.Session) -> None:
    page = admin.get(site.url("/admin/groups")).text
    assert 'action="/admin/groups/zhang/topup"' in page
    assert "Saved." in form(admin, site, "/admin/groups/zhang/topup", size="1GB").text
    assert site.service.group("zhang")["allowance_bytes"] == 6 * GB


def test_the_plan_topup_and_calibration_forms(site: Site, admin: requests.Session) -> None:
    site.usage(PHONE, 0, 7 * GB)
    assert "Saved." in form(admin, site, "/admin/plan/topup", size="2GB").text
    assert site.service.plan()["allowance_bytes"] == 22 * GB
    page = form(admin, site, "/admin/plan/calibrate", said="used", size="7.2GB").text
    assert "Saved." in page and "Carrier says" in page and "We counted" in page and "+200.0" in page
    assert site.service.plan()["calibration_bytes"] == 200 * MB
    form(admin, site, "/admin/plan/calibrate", said="left", size="16GB")
    assert site.service.plan()["remaining_bytes"] == 16 * GB


def test_a_refused_form_says_why_in_the_readers_language_and_changes_nothing(site: Site, admin: requests.Session) -> None:
    before = state(site)
    response = form(admin, site, "/admin/plan/calibrate", said="left", size="30GB")
    assert response.status_code == 422 and "more than the plan's allowance (20.0 GB)" in html.unescape(response.text)
    admin.get(site.url("/lang/zh-CN?next=/admin/plan"))
    response = form(admin, site, "/admin/plan/calibrate", said="used", size="")
    assert response.status_code == 422 and "请以流量大小填写已用流量" in response.text
    response = form(admin, site, "/admin/groups/zhang/topup", size="many")
    assert response.status_code == 422 and "不是" in response.text
    response = form(admin, site, "/admin/plan/topup", size="0")
    assert response.status_code == 422 and "请填写要追加的流量" in response.text
    assert state(site) == before


def test_the_page_in_chinese_shows_the_calibration(site: Site, admin: requests.Session) -> None:
    site.usage(PHONE, 0, 1 * GB)
    site.service.calibrate({"used_bytes": 900 * MB})
    admin.get(site.url("/lang/zh-CN?next=/admin/plan"))
    page = admin.get(site.url("/admin/plan")).text
    assert "运营商显示" in page and "路由器统计" in page and "差额" in page and "-100.0" in page
    assert "按运营商校准" in page and "追加流量" in page


def test_the_dashboard_notes_the_difference_once_calibrated(site: Site, admin: requests.Session) -> None:
    site.usage(PHONE, 0, 1 * GB)
    assert "Carrier minus ours" not in admin.get(site.url("/admin")).text
    site.service.calibrate({"used_bytes": 1_300 * MB})
    assert "Carrier minus ours: +300.0" in admin.get(site.url("/admin")).text
