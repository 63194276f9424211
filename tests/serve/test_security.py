"""Each security promise of ../shared/interface.md, over real HTTP."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Callable

import pytest
import requests

from routerguard.serve.auth import FREE_FAILURES
from routerguard.serve.security import MAX_BODY
from web_util import PASSWORD, PHONE, Site

CAP = {"cap": {"bytes": 5 * 10**9, "period": "daily", "action": "block"}}


def request_from(site: Site, source: str, method: str, path: str, body: object = None) -> http.client.HTTPResponse:
    """A request from another loopback address: another device, as far as the router can tell."""
    host, port = site.base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), source_address=(source, 0), timeout=10)
    connection.request(method, path, body=json.dumps(body) if body is not None else None,
                       headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


# --- no default password, no open first run ---------------------------------------


def test_without_a_password_login_is_refused_and_says_to_run_passwd(make_site: Callable[..., Site]) -> None:
    site = make_site(password=False)
    for password in ("", "admin", "password", PASSWORD):
        response = requests.post(site.url("/api/v1/session"), json={"password": password})
        assert response.status_code == 403
        assert "routerguard passwd" in response.json()["error"]
    assert "Set-Cookie" not in response.headers


def test_without_a_password_the_admin_pages_stay_closed(make_site: Callable[..., Site]) -> None:
    site = make_site(password=False)
    page = requests.get(site.url("/admin"))
    assert page.url.endswith("/login?next=/admin") and "routerguard passwd" in page.text
    login = requests.post(site.url("/login"), data={"password": "anything"})
    assert "routerguard passwd" in login.text and "Set-Cookie" not in login.headers
    assert requests.get(site.url("/api/v1/devices")).status_code == 401


# --- Host header (DNS rebinding) ------------------------------------------------


@pytest.mark.parametrize("method, path", [("GET", "/"), ("GET", "/api/v1/me"), ("POST", "/api/v1/session"),
                                          ("GET", "/healthz"), ("GET", "/static/style.css"), ("GET", "/api/v1/devices")])
def test_a_foreign_host_header_is_refused(site: Site, method: str, path: str) -> None:
    response = requests.request(method, site.url(path), headers={"Host": "evil.example"}, json={"password": PASSWORD})
    assert response.status_code == 403
    assert "Host" in response.json()["error"]


def test_a_foreign_host_is_refused_even_with_a_valid_token(site: Site) -> None:
    headers = {**site.bearer(), "Host": "rebind.attacker.example:8080"}
    assert requests.get(site.url("/api/v1/devices"), headers=headers).status_code == 403


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST.", "192.168.8.1:8080", "[::1]:8080",
                                  socket.gethostname(), f"{socket.gethostname()}.lan", "router.lan:8080"])
def test_the_routers_own_addresses_and_names_are_accepted(site: Site, host: str) -> None:
    assert requests.get(site.url("/healthz"), headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", ["router.lan.evil.example", "lan", "192.168.8.2", "[::2]", "127.0.0.1.nip.io"])
def test_near_misses_are_refused(site: Site, host: str) -> None:
    assert requests.get(site.url("/healthz"), headers={"Host": host}).status_code == 403


def test_a_request_without_host_is_refused(site: Site) -> None:
    host, port = site.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        reply = b"".join(iter(lambda: conn.recv(4096), b""))
    assert reply.startswith(b"HTTP/1.0 403") or reply.startswith(b"HTTP/1.1 403")


# --- CSRF, sessions and bearer tokens -------------------------------------------------


def test_a_session_change_without_the_csrf_token_is_refused(site: Site, admin: requests.Session) -> None:
    before = site.config_bytes()
    for token in (None, "wrong"):
        response = admin.patch(site.url(f"/api/v1/devices/{PHONE}"), json=CAP, headers={"X-CSRF-Token": token})
        assert response.status_code == 403 and "CSRF" in response.json()["error"]
    assert site.config_bytes() == before
    assert admin.patch(site.url(f"/api/v1/devices/{PHONE}"), json=CAP).status_code == 200


def test_a_form_post_without_the_csrf_field_is_refused(site: Site, admin: requests.Session) -> None:
    before = site.config_bytes()
    del admin.headers["X-CSRF-Token"]
    response = admin.post(site.url(f"/admin/devices/{PHONE}/cap"), data={"size": "5GB", "period": "daily", "action": "block"})
    assert response.status_code == 403
    assert site.config_bytes() == before


def test_a_bearer_token_needs_no_csrf_token(site: Site) -> None:
    response = requests.patch(site.url(f"/api/v1/devices/{PHONE}"), json=CAP, headers=site.bearer())
    assert response.status_code == 200 and response.json()["cap"]["bytes"] == 5 * 10**9


@pytest.mark.parametrize("header", ["Bearer rg_not-a-real-token", "Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer "])
def test_a_wrong_authorization_is_401_even_with_a_session_cookie(site: Site, admin: requests.Session, header: str) -> None:
    assert admin.get(site.url("/api/v1/devices"), headers={"Authorization": header}).status_code == 401


def test_a_revoked_token_stops_working(site: Site) -> None:
    headers = site.bearer()
    assert requests.get(site.url("/api/v1/devices"), headers=headers).status_code == 200
    (token,) = [t for t in site.core.secrets.tokens() if t["label"] == "test"]
    site.core.secrets.revoke_token(token["id"])
    assert requests.get(site.url("/api/v1/devices"), headers=headers).status_code == 401


def test_the_session_cookie_is_httponly_and_samesite(site: Site) -> None:
    response = requests.post(site.url("/api/v1/session"), json={"password": PASSWORD})
    cookie = response.headers["Set-Cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_a_copied_cookie_is_dead_after_logout(site: Site, admin: requests.Session) -> None:
    copy = requests.Session()
    copy.cookies.update(admin.cookies)
    assert copy.get(site.url("/api/v1/devices")).status_code == 200
    assert admin.delete(site.url("/api/v1/session")).status_code == 204
    assert copy.get(site.url("/api/v1/devices")).status_code == 401


# --- framing ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/login", "/blocked", "/api/v1/me", "/admin", "/healthz"])
def test_pages_refuse_to_be_framed(site: Site, admin: requests.Session, path: str) -> None:
    response = admin.get(site.url(path))
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


# --- wrong passwords are slowed down -------------------------------------------------------


def test_repeated_wrong_passwords_get_429_with_retry_after(site: Site) -> None:
    for _ in range(FREE_FAILURES):
        assert requests.post(site.url("/api/v1/session"), json={"password": "guess"}).status_code == 401
    refused = requests.post(site.url("/api/v1/session"), json={"password": PASSWORD})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0 and "try again" in refused.json()["error"]
    page = requests.post(site.url("/login"), data={"password": PASSWORD})
    assert page.status_code == 429 and int(page.headers["Retry-After"]) > 0


def test_the_slowdown_is_per_source_address(site: Site) -> None:
    for _ in range(FREE_FAILURES + 1):
        request_from(site, "127.0.0.2", "POST", "/api/v1/session", {"password": "guess"})
    assert request_from(site, "127.0.0.2", "POST", "/api/v1/session", {"password": PASSWORD}).status == 429
    assert request_from(site, "127.0.0.3", "POST", "/api/v1/session", {"password": PASSWORD}).status == 200


# --- bodies and values -----------------------------------------------------------------------


@pytest.mark.parametrize("method, path", [("PATCH", f"/api/v1/devices/{PHONE}"), ("POST", "/api/v1/session"),
                                          ("POST", f"/admin/devices/{PHONE}/cap")])
def test_a_body_over_64_kib_is_413(site: Site, admin: requests.Session, method: str, path: str) -> None:
    before = site.config_bytes()
    body = json.dumps({"name": "x" * MAX_BODY})
    response = admin.request(method, site.url(path), data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "64 KiB" in response.json()["error"]
    assert site.config_bytes() == before


@pytest.mark.parametrize("body", ["{", "{'name': 'x'}", "null}", "\xff"])
def test_malformed_json_is_400(site: Site, admin: requests.Session, body: str) -> None:
    response = admin.patch(site.url(f"/api/v1/devices/{PHONE}"), data=body.encode("latin-1"),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "JSON" in response.json()["error"]


def test_a_value_out_of_range_is_422_and_changes_nothing(site: Site, admin: requests.Session) -> None:
    before = site.config_bytes()
    response = admin.patch(site.url(f"/api/v1/devices/{PHONE}"), json={"name": "ok", "cap": {"bytes": -1}})
    assert response.status_code == 422 and "cap.bytes" in response.json()["error"]
    assert site.config_bytes() == before


# --- small doors --------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_the_language_switch_is_no_open_redirect(site: Site, target: str) -> None:
    response = requests.get(site.url("/lang/zh-CN"), params={"next": target}, allow_redirects=False)
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_login_page_next_is_no_open_redirect(site: Site) -> None:
    response = requests.post(site.url("/login?next=//evil.example/"), data={"password": PASSWORD}, allow_redirects=False)
    assert response.headers["Location"] == "/admin"
