"""No English on a Chinese page: every page, and every error a reader can meet, in zh-CN.

The pages come from the app's routes (page_tour.page_paths), so a page
added later is checked too; the error paths are listed here: a failed
login and its lock-out, refused form values (422), a missing page or
device (404), a crash (500), and each HTTP error the page can show.
A page showing an error's English fallback fails here: give the error a
key (routerguard/reasons.py) and words in serve/words.py.
"""

from __future__ import annotations

from typing import Iterator

import pytest
from flask import Flask, abort
from flask.testing import FlaskClient

from routerguard.serve.app import create_app
from routerguard.serve.words import service_name_in
from routerguard.serve.auth import FREE_FAILURES
from routerguard.serve.security import MAX_BODY
from page_tour import english_words, furnish, page_paths
from web_util import LAPTOP, PASSWORD, PHONE, Site

HTML = "text/html,application/xhtml+xml;q=0.9"
STATUSES = (400, 401, 403, 404, 405, 409, 413, 422, 429, 500)
HOUR = 3600


def seed(site: Site) -> None:
    """Something on every page: usage, alerts, a token; the guest's page is the phone's."""
    site.device(PHONE, "127.0.0.1", "zhang-phone")
    site.usage(PHONE, 50_000_000, 900_000_000)
    site.usage(LAPTOP, 10_000_000, 40_000_000, ago=2 * HOUR)
    furnish(site)


def data_words(site: Site) -> set[str]:
    """Names from the router's data (device, host, group names, token labels): shown as they were given."""
    names = {d.get(k) for d in site.service.devices() for k in ("name", "hostname")}
    names |= {g.get(k) for g in site.service.groups() for k in ("name", "id")}
    names |= {t.get(k) for t in site.core.secrets.tokens() for k in ("label", "id")}
    names |= {u["ifname"] for u in site.service.uplinks()}
    # the shipped services as the page names them in Chinese (brands stay as they are written: YouTube, Steam)
    names |= {service_name_in("zh-CN", s["name"]) for c in site.service.categories() for s in c["services"]}
    return {n for n in names if n}


@pytest.fixture
def app(site: Site) -> Flask:
    seed(site)
    app = create_app(site.service)

    @app.get("/test/crash")
    def crash() -> None:
        raise RuntimeError("a bug")

    @app.get("/test/status/<int:code>")
    def status(code: int) -> None:
        abort(code)

    return app


def reader(app: Flask, lang: str = "zh-CN", logged_in: bool = True) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT"] = HTML
    client.get(f"/lang/{lang}")
    if logged_in:
        response = client.post("/api/v1/session", json={"password": PASSWORD}, headers={"Accept": "application/json"})
        client.environ_base["HTTP_X_CSRF_TOKEN"] = response.get_json()["csrf_token"]
    return client


def check(client: FlaskClient, method: str, path: str, data_names: set[str], **kwargs) -> list[str]:
    """What is wrong with one response: English words on it, or not a page at all."""
    response = client.open(path, method=method, follow_redirects=True, **kwargs)
    if not response.content_type.startswith("text/html"):
        return [f"{method} {path}: not a page ({response.status_code} {response.content_type})"]
    words = english_words(response.get_data(as_text=True), data_names)
    return [f"{method} {path} ({response.status_code}): {' '.join(words)}"] if words else []


def error_visits(site: Site) -> Iterator[tuple[str, str, dict, int]]:
    """(method, path, request arguments, the status it must answer) of each error a page can show."""
    device = f"/admin/devices/{LAPTOP}"
    cap = {"period": "none", "action": "block"}
    for fields in ({"size": "5XB"}, {"size": "lots"}, {"size": "5", "action": "throttle", "throttle": "0kbit"},
                   {"size": "5GB", "action": "throttle"}, {"size": "2000TB"}, {"size": "1GB", "period": "monthly", "reset_day": "x"},
                   {"size": "1GB", "period": "monthly", "reset_day": "40"}, {"size": "1GB", "period": "days"},
                   {"size": "1GB", "period": "days", "start": "soon", "days": "3"}, {"size": "1GB", "period": "often"}):
        yield "POST", f"{device}/cap", {"data": {**cap, **fields}}, 422
        yield "POST", "/admin/plan", {"data": {**cap, **fields}}, 422
    yield "POST", f"{device}/topup", {"data": {"size": "500MB"}}, 422  # the laptop has no cap of its own
    yield "POST", f"{device}/topup", {"data": {"size": ""}}, 422
    yield "POST", f"{device}/settings", {"data": {"name": "x" * 65}}, 422
    yield "POST", f"{device}/settings", {"data": {"name": "Work", "group": "nobody"}}, 422
    yield "POST", "/admin/groups", {"data": {"id": "no spaces", "name": "x"}}, 422
    yield "POST", "/admin/groups", {"data": {"id": "kids", "name": "Kids", "members": ["not-a-mac"]}}, 422
    yield "POST", "/admin/tokens", {"data": {"label": "x" * 65}}, 422
    yield "POST", "/admin/groups/nobody/delete", {}, 404
    yield "POST", "/admin/groups/zhang/topup", {"data": {"size": ""}}, 422
    yield "POST", "/admin/groups/zhang/topup", {"data": {"size": "lots"}}, 422
    yield "POST", "/admin/groups/nobody/topup", {"data": {"size": "1GB"}}, 404
    yield "POST", "/admin/plan/topup", {"data": {"size": "0"}}, 422
    yield "POST", "/admin/plan/calibrate", {"data": {"said": "used", "size": ""}}, 422
    yield "POST", "/admin/plan/calibrate", {"data": {"said": "left", "size": "30GB"}}, 422
    yield "POST", "/admin/tokens/nothing/revoke", {}, 404
    yield "GET", "/admin/devices/02:00:00:00:00:99", {}, 404
    yield "GET", "/admin/devices/not-a-mac", {}, 404
    yield "GET", "/no/such/page", {}, 404
    yield "GET", "/admin/alerts/pause", {}, 405
    yield "POST", "/admin/plan", {"data": {"size": "x" * (MAX_BODY + 1)}}, 413
    yield "POST", "/admin/plan", {"data": {"size": "1GB"}, "headers": {"X-CSRF-Token": "forged"}}, 403
    yield "GET", "/test/crash", {}, 500
    for code in STATUSES:
        yield "GET", f"/test/status/{code}", {}, code


def test_every_page_reads_in_chinese(app: Flask, site: Site) -> None:
    paths = page_paths(app)
    assert {"/admin", "/admin/plan", "/admin/groups", "/admin/alerts", "/admin/tokens", "/me", "/blocked", "/login"} <= set(paths)
    names = data_words(site)
    admin, guest = reader(app), reader(app, logged_in=False)
    problems = [p for path in paths for client in (admin, guest) for p in check(client, "GET", path, names)]
    assert not problems, "English on zh-CN pages:\n" + "\n".join(problems)


def test_every_error_reads_in_chinese(app: Flask, site: Site) -> None:
    names = data_words(site)
    admin = reader(app)
    problems = []
    for method, path, kwargs, code in error_visits(site):
        assert admin.open(path, method=method, **kwargs).status_code == code, (method, path, kwargs)
        problems += check(admin, method, path, names, **kwargs)
    assert not problems, "English on zh-CN error pages:\n" + "\n".join(problems)


def test_a_failed_login_and_the_lock_out_read_in_chinese(app: Flask, site: Site) -> None:
    guest, names = reader(app, logged_in=False), data_words(site)
    for attempt in range(FREE_FAILURES + 1):
        response = guest.post("/login", data={"password": "nope"})
        assert response.status_code == (401 if attempt < FREE_FAILURES else 429)
        assert not english_words(response.get_data(as_text=True), names)
    assert "秒后再试" in response.get_data(as_text=True)


def test_the_api_keeps_its_english_errors(app: Flask) -> None:
    client = reader(app)
    response = client.patch(f"/api/v1/devices/{PHONE}", json={"cap": {"bytes": "5XB"}}, headers={"Accept": "application/json"})
    assert response.status_code == 422 and response.get_json()["error"].startswith("cap.bytes: '5XB' is not a whole number")


def test_an_english_page_says_the_same_errors_in_english(app: Flask) -> None:
    client = reader(app, "en")
    page = client.post(f"/admin/devices/{LAPTOP}/cap", data={"size": "5XB", "period": "none", "action": "block"})
    assert page.status_code == 422 and "Not saved: size: &#39;5XB&#39;: unknown unit" in page.get_data(as_text=True)
    assert "There is no such page." in client.get("/no/such/page").get_data(as_text=True)


def test_an_error_without_words_falls_back_to_its_english_sentence(app: Flask) -> None:
    """So the tests above catch an error that has no words yet, rather than the page showing nothing."""
    from routerguard.reasons import Reason
    from routerguard.serve.i18n import say
    with app.test_request_context():
        from flask import g
        g.lang = "zh-CN"
        assert say(Reason("something new: {n}", n=3)) == "something new: 3"
        assert say(Reason("a size", "field_reason", field="cap.bytes", reason=Reason("odd"))) == "流量大小：odd"
