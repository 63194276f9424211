"""Guarding the guard, the page server's half (issue 19): sessions that end, two-factor login, the login
slow-down per device, the page under load, and the small doors. Each test here failed before its fix."""

from __future__ import annotations

import http.client
import io
import json
import re
import socket
from concurrent.futures import ThreadPoolExecutor

import pyotp
import pytest
import requests
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from routerguard import cli
from routerguard.serve.auth import EVERYONE_FREE, FREE_FAILURES, LoginThrottle
from routerguard.serve.hosts import client_key
from routerguard.serve.hosts import HostCheck
from routerguard.serve.server import MAX_PER_CLIENT, Server
from routerguard.store import totp
from routerguard.store.secrets import FILENAME, Secrets
from routerguard.store.sessions import FILENAME as SESSIONS
from web_util import LAPTOP, PASSWORD, PHONE, Site

NEW_PASSWORD = "a new and longer one"


def data_dir(site: Site) -> str:
    return site.core.config.main.data_dir


def run_cli(site: Site, *args: str, stdin: str = "", monkeypatch: pytest.MonkeyPatch | None = None) -> int:
    assert monkeypatch is not None
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return cli.main([*args, "--config", site.config_path])


def request_from(site: Site, source: str, method: str, path: str, body: object = None,
                 headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """A request from another loopback address: another device, as far as the router can tell."""
    host, port = site.base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), source_address=(source, 0), timeout=10)
    connection.request(method, path, body=json.dumps(body) if body is not None else None,
                       headers={"Content-Type": "application/json", **(headers or {})})
    response = connection.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    connection.close()
    return response


def forged(key: str, sid: str) -> str:
    """A session cookie as Flask signs it, made by someone who holds `key`."""
    interface = SecureCookieSessionInterface()
    serializer = URLSafeTimedSerializer(key, salt=interface.salt, serializer=interface.serializer,
                                        signer_kwargs={"key_derivation": interface.key_derivation,
                                                       "digest_method": interface.digest_method})
    return serializer.dumps({"sid": sid, "csrf": "x", "_permanent": True})


# --- sessions end -------------------------------------------------------------------------------------


def test_a_session_is_dead_after_routerguard_passwd(site: Site, admin: requests.Session,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert admin.get(site.url("/api/v1/devices")).status_code == 200
    assert run_cli(site, "passwd", stdin=NEW_PASSWORD + "\n", monkeypatch=monkeypatch) == 0
    assert admin.get(site.url("/api/v1/devices")).status_code == 401
    assert requests.post(site.url("/api/v1/session"), json={"password": NEW_PASSWORD}).status_code == 200


def test_a_cookie_signed_with_any_key_on_disk_and_a_made_up_sid_is_refused(site: Site, admin: requests.Session) -> None:
    keys = [json.load(open(f"{data_dir(site)}/{name}")).get(field)
            for name, field in ((FILENAME, "session_key"), (SESSIONS, "key"))
            if __import__("os").path.exists(f"{data_dir(site)}/{name}")]
    assert [k for k in keys if k], "a signing key on disk"
    for key in filter(None, keys):
        cookie = forged(key, "any-sid-at-all")
        response = requests.get(site.url("/api/v1/devices"), cookies={"routerguard_session": cookie})
        assert response.status_code == 401


def test_the_signing_key_is_not_in_secrets_json_which_backups_keep(site: Site, admin: requests.Session) -> None:
    stored = json.load(open(f"{data_dir(site)}/{FILENAME}"))
    assert "session_key" not in stored
    key = json.load(open(f"{data_dir(site)}/{SESSIONS}"))["key"]
    assert key not in open(f"{data_dir(site)}/{FILENAME}").read()


def test_a_logged_out_cookie_stays_dead_after_a_restart(site: Site, admin: requests.Session) -> None:
    copy = dict(admin.cookies)
    assert admin.delete(site.url("/api/v1/session")).status_code == 204
    restarted = Server(site.service, (("127.0.0.1", 0),))  # a new app: nothing of the old one's memory
    restarted.start()
    try:
        response = requests.get(f"http://127.0.0.1:{restarted.port}/api/v1/devices", cookies=copy)
        assert response.status_code == 401
    finally:
        restarted.stop()


def test_a_live_session_survives_a_restart(site: Site, admin: requests.Session) -> None:
    restarted = Server(site.service, (("127.0.0.1", 0),))
    restarted.start()
    try:
        assert admin.get(f"http://127.0.0.1:{restarted.port}/api/v1/devices").status_code == 200
    finally:
        restarted.stop()


def test_a_refused_cookie_is_not_signed_again(site: Site, admin: requests.Session) -> None:
    copy = dict(admin.cookies)
    assert admin.delete(site.url("/api/v1/session")).status_code == 204
    for path in ("/api/v1/devices", "/", "/admin"):
        response = requests.get(site.url(path), cookies=copy, allow_redirects=False)
        for header in response.raw.headers.getlist("Set-Cookie"):
            name, _, rest = header.partition("=")
            if name.strip() == "routerguard_session":
                assert rest.split(";")[0] == "", f"{path} signed a refused cookie again: {header}"


def test_a_valid_session_is_not_re_signed_on_every_request(site: Site, admin: requests.Session) -> None:
    response = admin.get(site.url("/api/v1/devices"))
    assert response.status_code == 200 and "Set-Cookie" not in response.headers


def page_form(session: requests.Session, site: Site, path: str) -> str:
    page = session.get(site.url(path))
    assert page.status_code == 200
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def test_a_password_change_on_the_page_ends_every_other_session(site: Site) -> None:
    actor, other = site.login(), site.login()
    csrf = page_form(actor, site, "/admin/security")
    response = actor.post(site.url("/admin/security/password"),
                          data={"csrf_token": csrf, "current": PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD})
    assert response.status_code == 200 and response.url.endswith("/admin/security")
    assert other.get(site.url("/api/v1/devices")).status_code == 401
    assert actor.get(site.url("/admin/security")).status_code == 200  # the actor's browser got a fresh session
    assert requests.post(site.url("/api/v1/session"), json={"password": PASSWORD}).status_code == 401
    assert requests.post(site.url("/api/v1/session"), json={"password": NEW_PASSWORD}).status_code == 200


def test_a_password_change_needs_the_current_password(site: Site, admin: requests.Session) -> None:
    csrf = page_form(admin, site, "/admin/security")
    response = admin.post(site.url("/admin/security/password"),
                          data={"csrf_token": csrf, "current": "not it", "new": NEW_PASSWORD, "again": NEW_PASSWORD})
    assert response.status_code == 401
    assert requests.post(site.url("/api/v1/session"), json={"password": PASSWORD}).status_code == 200


def test_2fa_enable_or_disable_ends_every_session(site: Site, admin: requests.Session,
                                                  monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    assert run_cli(site, "2fa", "enable", monkeypatch=monkeypatch) == 0
    assert admin.get(site.url("/api/v1/devices")).status_code == 401
    secret = re.search(r"^secret: (\w+)$", capsys.readouterr().out, re.M).group(1)
    again = requests.Session()
    token = again.post(site.url("/api/v1/session"), json={"password": PASSWORD, "otp": pyotp.TOTP(secret).now()})
    assert token.status_code == 200
    assert run_cli(site, "2fa", "disable", monkeypatch=monkeypatch) == 0
    assert again.get(site.url("/api/v1/devices")).status_code == 401


# --- two-factor login -------------------------------------------------------------------------------------


@pytest.mark.parametrize("moment, expected", [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
                                              (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130")])
def test_totp_agrees_with_rfc_6238s_vectors(moment: int, expected: str) -> None:
    secret = __import__("base64").b32encode(b"12345678901234567890").decode()
    assert totp.code_at(secret, totp.step_of(moment), digits=8) == expected


def test_totp_agrees_with_pyotp() -> None:
    secret = totp.new_secret()
    for moment in (0, 29, 30, 1_700_000_000, 1_800_000_015):
        assert totp.code_at(secret, totp.step_of(moment)) == pyotp.TOTP(secret).at(moment)
    assert totp.matching_step(secret, pyotp.TOTP(secret).at(1_800_000_000 - 30), 1_800_000_000) is not None
    assert totp.matching_step(secret, pyotp.TOTP(secret).at(1_800_000_000 - 90), 1_800_000_000) is None


def test_2fa_enable_prints_the_secret_and_its_otpauth_uri(site: Site, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    assert run_cli(site, "2fa", "enable", monkeypatch=monkeypatch) == 0
    out = capsys.readouterr().out
    secret = re.search(r"^secret: ([A-Z2-7]+)$", out, re.M).group(1)
    uri = re.search(r"^uri: (\S+)$", out, re.M).group(1)
    parsed = pyotp.parse_uri(uri)
    assert parsed.secret == secret and parsed.digits == 6 and parsed.interval == 30
    assert len(re.findall(r"^  [a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$", out, re.M)) == 10
    stored = json.load(open(f"{data_dir(site)}/{FILENAME}"))
    codes = re.findall(r"^  (\S+)$", out, re.M)
    assert not any(code in json.dumps(stored) for code in codes), "recovery codes are kept hashed"


def test_with_2fa_the_password_alone_is_401_and_with_a_code_a_session(site: Site, monkeypatch: pytest.MonkeyPatch,
                                                                      capsys) -> None:
    run_cli(site, "2fa", "enable", monkeypatch=monkeypatch)
    out = capsys.readouterr().out
    secret = re.search(r"^secret: (\w+)$", out, re.M).group(1)
    recovery = re.findall(r"^  (\S+)$", out, re.M)
    alone = requests.post(site.url("/api/v1/session"), json={"password": PASSWORD})
    assert alone.status_code == 401 and "otp" in alone.json()["error"]
    wrong = requests.post(site.url("/api/v1/session"), json={"password": PASSWORD, "otp": "000000"})
    assert wrong.status_code == 401 and "code" in wrong.json()["error"]
    code = pyotp.TOTP(secret).now()
    ok = requests.post(site.url("/api/v1/session"), json={"password": PASSWORD, "otp": code})
    assert ok.status_code == 200 and ok.json()["csrf_token"]
    assert requests.post(site.url("/api/v1/session"), json={"password": PASSWORD, "otp": code}).status_code == 401, \
        "a code is spent once used"
    assert requests.post(site.url("/api/v1/session"), json={"password": PASSWORD, "otp": recovery[0].upper()}).status_code == 200
    assert requests.post(site.url("/api/v1/session"), json={"password": PASSWORD, "otp": recovery[0]}).status_code == 401
    assert requests.post(site.url("/api/v1/session"), json={"password": "wrong one", "otp": recovery[1]}).json()["error"] \
        == "wrong password"


def test_wrong_codes_count_towards_the_slowdown(site: Site, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    run_cli(site, "2fa", "enable", monkeypatch=monkeypatch)
    secret = re.search(r"^secret: (\w+)$", capsys.readouterr().out, re.M).group(1)
    for _ in range(FREE_FAILURES):
        assert requests.post(site.url("/api/v1/session"), json={"password": PASSWORD, "otp": "123456"}).status_code == 401
    late = requests.post(site.url("/api/v1/session"), json={"password": PASSWORD, "otp": pyotp.TOTP(secret).now()})
    assert late.status_code == 429


def test_2fa_is_enrolled_on_the_page_with_a_local_qr_code_and_recovery_codes_shown_once(site: Site) -> None:
    admin = site.login()
    csrf = page_form(admin, site, "/admin/security")
    started = admin.post(site.url("/admin/security/2fa/start"), data={"csrf_token": csrf})
    assert started.status_code == 200
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', started.text).group(1)
    assert re.search(r'<img class="qr" src="data:image/svg\+xml', started.text), "the QR code is drawn here, no fetch"
    wrong = admin.post(site.url("/admin/security/2fa/confirm"), data={"csrf_token": csrf, "secret": secret, "otp": "000000"})
    assert wrong.status_code == 422 and not site.core.secrets.totp_enabled()
    done = admin.post(site.url("/admin/security/2fa/confirm"),
                      data={"csrf_token": csrf, "secret": secret, "otp": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and site.core.secrets.totp_enabled()
    codes = re.findall(r"<li>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</li>", done.text)
    assert len(codes) == 10
    assert not re.findall(r"[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}", admin.get(site.url("/admin/security")).text)
    assert requests.post(site.url("/api/v1/session"), json={"password": PASSWORD}).status_code == 401
    login = requests.Session()
    form = login.post(site.url("/login"), data={"password": PASSWORD, "otp": codes[3]})
    assert form.url.endswith("/admin") and form.status_code == 200


@pytest.mark.parametrize("lang, missing, wrong", [("en", "authenticator app", "wrong"), ("zh-CN", "验证码", "错误")])
def test_the_login_page_says_which_is_missing_or_wrong_in_both_languages(site: Site, monkeypatch: pytest.MonkeyPatch,
                                                                        lang: str, missing: str, wrong: str) -> None:
    site.core.secrets.enable_totp(totp.new_secret())
    browser = requests.Session()
    browser.cookies.set("lang", lang)
    page = browser.get(site.url("/login"))
    assert 'name="otp"' in page.text
    alone = browser.post(site.url("/login"), data={"password": PASSWORD, "otp": ""})
    assert alone.status_code == 401 and missing in alone.text
    bad = browser.post(site.url("/login"), data={"password": PASSWORD, "otp": "000000"})
    assert bad.status_code == 401 and wrong in bad.text


def test_2fa_is_turned_off_on_the_page_with_the_password_and_a_code(site: Site) -> None:
    secret = totp.new_secret()
    site.core.secrets.enable_totp(secret)
    admin = requests.Session()
    response = admin.post(site.url("/api/v1/session"), json={"password": PASSWORD, "otp": pyotp.TOTP(secret).now()})
    csrf = page_form(admin, site, "/admin/security")
    response = admin.post(site.url("/admin/security/2fa/disable"), data={"csrf_token": csrf, "current": PASSWORD, "otp": ""})
    assert response.status_code == 401 and site.core.secrets.totp_enabled()
    step = totp.step_of(__import__("time").time()) + 1  # the next code: the one used to log in is spent
    response = admin.post(site.url("/admin/security/2fa/disable"),
                          data={"csrf_token": csrf, "current": PASSWORD, "otp": totp.code_at(secret, step)})
    assert response.status_code == 200 and not site.core.secrets.totp_enabled()


# --- the login slow-down: per device, with a ceiling, counted as it is let through ------------------------------


def test_more_addresses_on_one_device_are_no_more_guesses(site: Site) -> None:
    site.device(LAPTOP, "127.0.0.2", "laptop")
    site.device(LAPTOP, "127.0.0.3", "laptop")
    assert site.core.directory.mac_of("127.0.0.2") == site.core.directory.mac_of("127.0.0.3") == LAPTOP
    for _ in range(FREE_FAILURES):
        assert request_from(site, "127.0.0.2", "POST", "/api/v1/session", {"password": "guess"}).status == 401
    assert request_from(site, "127.0.0.3", "POST", "/api/v1/session", {"password": PASSWORD}).status == 429
    assert request_from(site, "127.0.0.4", "POST", "/api/v1/session", {"password": PASSWORD}).status == 200


def test_ipv6_addresses_without_a_mac_are_one_device_by_their_64() -> None:
    assert client_key("fd00::1:2:3:4") == client_key("fd00::9:9:9:9") != client_key("fd00:0:0:1::1")
    assert client_key("192.168.8.9", {"192.168.8.9": PHONE}.get) == client_key("fd00::23", {"fd00::23": PHONE}.get)
    assert client_key("::ffff:192.168.8.9") == "192.168.8.9"


def test_parallel_guesses_get_no_more_than_serial_ones(site: Site) -> None:
    Secrets(data_dir(site)).set_password(PASSWORD)  # the router's own scrypt cost: each check takes a while
    tries = MAX_PER_CLIENT - 2  # in parallel, each on its own connection
    with ThreadPoolExecutor(tries) as pool:
        codes = list(pool.map(lambda _: requests.post(site.url("/api/v1/session"), json={"password": "guess"}).status_code,
                              range(tries)))
    assert codes.count(401) == FREE_FAILURES and codes.count(429) == tries - FREE_FAILURES


def test_a_ceiling_over_all_devices_holds_many_macs() -> None:
    now = [1000.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    for n in range(EVERYONE_FREE):
        assert throttle.attempt(f"mac 02:00:00:00:{n // 256:02x}:{n % 256:02x}") == 0
    assert throttle.attempt("mac 02:00:00:00:ff:ff") > 0, "a fresh MAC waits once everyone has failed enough"
    now[0] += 3601
    assert throttle.attempt("mac 02:00:00:00:ff:ff") == 0


def test_a_right_login_gives_its_try_back_to_the_ceiling() -> None:
    throttle = LoginThrottle(clock=lambda: 1000.0)
    for n in range(EVERYONE_FREE * 2):
        assert throttle.attempt(f"device {n}") == 0
        throttle.succeeded(f"device {n}")
    assert throttle.wait("anyone") == 0


def test_a_cross_site_text_plain_login_cannot_lock_the_admin_out(site: Site) -> None:
    for _ in range(FREE_FAILURES * 2):
        response = requests.post(site.url("/api/v1/session"), data='{"password": "guess"}',
                                 headers={"Content-Type": "text/plain"})
        assert response.status_code == 400 and "JSON" in response.json()["error"]
    assert requests.post(site.url("/api/v1/session"), json={"password": PASSWORD}).status_code == 200


@pytest.mark.parametrize("headers", [{"Origin": "http://evil.example"}, {"Origin": "null"},
                                     {"Sec-Fetch-Site": "cross-site"}, {"Referer": "http://evil.example/page"}])
def test_a_login_from_another_sites_page_is_refused_and_not_counted(site: Site, headers: dict) -> None:
    for _ in range(FREE_FAILURES * 2):
        assert requests.post(site.url("/api/v1/session"), json={"password": "guess"}, headers=headers).status_code == 403
        assert requests.post(site.url("/login"), data={"password": "guess"}, headers=headers).status_code == 403
    assert requests.post(site.url("/api/v1/session"), json={"password": PASSWORD}).status_code == 200


def test_a_login_from_the_routers_own_page_is_let_through(site: Site) -> None:
    own = site.base
    headers = {"Origin": own, "Sec-Fetch-Site": "same-origin"}
    assert requests.post(site.url("/api/v1/session"), json={"password": PASSWORD}, headers=headers).status_code == 200
    form = requests.post(site.url("/login"), data={"password": PASSWORD}, headers={"Origin": own}, allow_redirects=False)
    assert form.status_code == 303


# --- the page server under load -------------------------------------------------------------------------


def test_200_idle_connections_from_one_client_leave_the_page_to_another(site: Site) -> None:
    host, port = site.base.removeprefix("http://").split(":")
    idle = []
    try:
        for _ in range(200):
            conn = socket.socket()
            conn.bind(("127.0.0.2", 0))
            conn.connect((host, int(port)))
            idle.append(conn)
        answer = requests.get(site.url("/healthz"), timeout=1)
        assert answer.status_code == 200
    finally:
        for conn in idle:
            conn.close()


def test_a_client_gets_its_own_connections_up_to_the_limit(site: Site) -> None:
    """Those over MAX_PER_CLIENT are closed at once; the first ones still answer."""
    host, port = site.base.removeprefix("http://").split(":")
    held = []
    try:
        for _ in range(MAX_PER_CLIENT + 5):
            conn = socket.create_connection((host, int(port)), timeout=5, source_address=("127.0.0.5", 0))
            held.append(conn)
        held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert held[0].recv(100).startswith(b"HTTP/1.1 200")
        closed = 0
        for conn in held[MAX_PER_CLIENT:]:
            try:
                conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                closed += conn.recv(100) == b""
            except ConnectionError:
                closed += 1
        assert closed == 5
    finally:
        for conn in held:
            conn.close()


# --- small doors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/%09/evil.example", "/%0a/evil.example", "/%0d%0aSet-Cookie:%20x=1", "/\t/evil.example",
                                    "/%5Cevil.example", "/%20/evil.example"])
def test_no_open_redirect_through_whitespace_or_control_characters(site: Site, target: str) -> None:
    response = requests.get(site.url(f"/lang/en?next={target}"), allow_redirects=False)
    assert response.status_code == 303 and response.headers["Location"] == "/"
    login = requests.post(site.url(f"/login?next={target}"), data={"password": PASSWORD}, allow_redirects=False)
    assert login.status_code == 303 and login.headers["Location"] == "/admin"


def test_a_same_site_next_still_works(site: Site) -> None:
    response = requests.get(site.url("/lang/en?next=/admin/plan%3Fx%3D1"), allow_redirects=False)
    assert response.headers["Location"] == "/admin/plan?x=1"


@pytest.mark.parametrize("path, method", [("/api/v1/session", "POST"), (f"/api/v1/devices/{PHONE}", "PATCH")])
def test_a_60_kb_nested_json_body_is_400_not_500(site: Site, admin: requests.Session, path: str, method: str) -> None:
    body = "[" * 30000 + "]" * 30000
    response = admin.request(method, site.url(path), data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "JSON" in response.json()["error"]


@pytest.mark.parametrize("field, body", [
    ("device", {"name": "Zhang\nphone"}), ("device", {"name": "evil\r\nX-Header: 1"}), ("device", {"name": "tab\there"}),
    ("device", {"name": "bell\x07"}), ("device", {"name": "rev\u202eenohp"}), ("device", {"name": "line\u2028break"}),
    ("group", {"name": "Zhang\nfamily", "members": []}), ("category", {"name": "Ga\nmes", "domains": ["example.com"]}),
])
def test_names_refuse_line_breaks_and_control_characters(site: Site, admin: requests.Session, field: str, body: dict) -> None:
    before = site.config_bytes()
    path = {"device": f"/api/v1/devices/{PHONE}", "group": "/api/v1/groups/zhang2", "category": "/api/v1/categories/games"}[field]
    response = admin.request("PATCH" if field == "device" else "PUT", site.url(path), json=body)
    assert response.status_code == 422 and "name" in response.json()["error"]
    assert site.config_bytes() == before


def test_emoji_names_stay_allowed(site: Site, admin: requests.Session) -> None:
    response = admin.patch(site.url(f"/api/v1/devices/{PHONE}"), json={"name": "张 👨\u200d👩\u200d👧 phone"})
    assert response.status_code == 200 and response.json()["name"] == "张 👨\u200d👩\u200d👧 phone"


def test_hostname_dot_local_is_refused_unless_configured(site: Site) -> None:
    local = f"{socket.gethostname().partition('.')[0]}.local"
    assert requests.get(site.url("/healthz"), headers={"Host": local}).status_code == 403
    assert not HostCheck(lambda: set(), lambda: set()).allows(local)
    assert HostCheck(lambda: {local}, lambda: set()).allows(local)


def test_past_the_ceiling_a_fresh_device_waits_too_and_is_told_why(site: Site) -> None:
    sources = [f"127.0.1.{n}" for n in range(1, EVERYONE_FREE // FREE_FAILURES + 1)]
    for source in sources:
        for _ in range(FREE_FAILURES):
            assert request_from(site, source, "POST", "/api/v1/session", {"password": "guess"}).status == 401
    fresh = request_from(site, "127.0.2.1", "POST", "/api/v1/session", {"password": PASSWORD})
    assert fresh.status == 429 and "many devices" in json.loads(fresh.body)["error"]
    assert requests.get(site.url("/api/v1/devices"), headers=site.bearer()).status_code == 200
