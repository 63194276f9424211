"""Who may change things: the admin's browser session, or a script's bearer token.

There is no default password: until `routerguard passwd` sets one on the
router, logins are refused, so the first LAN device to find the page cannot
claim it. A session is a signed cookie (HttpOnly, SameSite=Strict) holding a
CSRF token that every state-changing request made with it must echo; a
bearer token proves itself and needs none. Wrong passwords lock the source
address out for longer and longer.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets as _random
import threading
import time
from datetime import timedelta
from typing import Callable

from flask import current_app, request, session
from werkzeug.exceptions import Forbidden, TooManyRequests, Unauthorized

from routerguard.reasons import tag
from routerguard.store.secrets import Secrets

SESSION_LIFETIME = timedelta(hours=12)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
NO_PASSWORD = ("no admin password is set yet: run `routerguard passwd` on the router (over SSH) to set one; "
               "until then the admin side stays closed")
FREE_FAILURES = 5  # wrong passwords before an address has to wait
BASE_DELAY = 30.0  # seconds of the first wait; each further failure doubles it
MAX_DELAY = 900.0
FORGET_AFTER = 3600.0  # an address quiet this long starts afresh
MAX_TRACKED = 4096  # addresses remembered; the oldest go first
IPV6_PREFIX = 64  # one LAN device can take any address of its /64 (privacy addresses)
AUTH = "routerguard.auth"


def client_key(address: str | None) -> str:
    """The throttle's key for a source address: IPv4 as is, IPv6 by its /64."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or ""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False))
    return str(ip)


class LoginThrottle:
    """Failures per address; after FREE_FAILURES each one costs a doubling wait."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (count, time of the last)

    def wait(self, key: str) -> float:
        """Seconds before `key` may try again (0: now)."""
        with self._lock:
            count, last = self._failures.get(key, (0, 0.0))
            if count < FREE_FAILURES:
                return 0.0
            delay = min(MAX_DELAY, BASE_DELAY * 2 ** (count - FREE_FAILURES))
            return max(0.0, last + delay - self._clock())

    def failed(self, key: str) -> None:
        with self._lock:
            now = self._clock()
            count, last = self._failures.pop(key, (0, now))
            self._failures[key] = (1 if now - last > FORGET_AFTER else count + 1, now)
            while len(self._failures) > MAX_TRACKED:
                del self._failures[next(iter(self._failures))]

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


class Auth:
    def __init__(self, secrets: Secrets) -> None:
        self.secrets = secrets
        self.throttle = LoginThrottle()
        self._lock = threading.Lock()
        # One password check at a time: scrypt takes 32 MiB, and a router has little more than a few of those.
        self._hashing = threading.Lock()
        self._ended: dict[str, float] = {}  # session id -> when it logged out: a copied cookie stays dead

    def who(self) -> str | None:
        """"bearer" or "session" when the request proves itself, else None.

        A request that sends an Authorization header is judged by it alone: a
        wrong token is not rescued by a cookie that came along.
        """
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            ok = scheme.lower() == "bearer" and token.strip() and self.secrets.check_token(token.strip())
            return "bearer" if ok else None
        sid = session.get("sid")
        if not sid or not self.secrets.has_password():
            return None
        with self._lock:
            return None if sid in self._ended else "session"

    def require(self) -> str:
        """The caller's credential kind; 401 without one, 403 for a session request without its CSRF token."""
        kind = self.who()
        if kind is None:
            raise tag(Unauthorized("log in first: POST /api/v1/session with the admin password, "
                                   "or send `Authorization: Bearer <token>` (make one with `routerguard token`)"), "log_in_first")
        if kind == "session" and request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD) or ""
            if not hmac.compare_digest(sent.encode(), str(session.get("csrf", "")).encode()):
                raise tag(Forbidden(f"missing or wrong CSRF token: send the csrf_token from the login as the {CSRF_HEADER} header"),
                          "csrf")
        return kind

    def login(self, password: object) -> str:
        """Start a session and return its CSRF token; 403 before a password exists, 429 while throttled, 401 when wrong."""
        if not self.secrets.has_password():
            raise tag(Forbidden(NO_PASSWORD), "no_password")
        key = client_key(request.remote_addr)
        wait = self.throttle.wait(key)
        if wait > 0:
            seconds = int(wait) + 1
            raise tag(TooManyRequests(f"too many wrong passwords from this address; try again in {seconds} seconds",
                                      retry_after=seconds), "too_many_tries", seconds=seconds)
        with self._hashing:
            right = isinstance(password, str) and self.secrets.check_password(password)
        if not right:
            self.throttle.failed(key)
            raise tag(Unauthorized("wrong password"), "wrong_password")
        self.throttle.succeeded(key)
        session.clear()
        session.permanent = True
        session["sid"] = _random.token_urlsafe(16)
        session["csrf"] = _random.token_urlsafe(32)
        return session["csrf"]

    def logout(self) -> None:
        sid = session.get("sid")
        session.clear()
        if not sid:
            return
        with self._lock:
            now = time.time()
            self._ended = {s: t for s, t in self._ended.items() if now - t < SESSION_LIFETIME.total_seconds()}
            self._ended[sid] = now

    @staticmethod
    def csrf_token() -> str:
        return session.get("csrf", "")


def auth() -> Auth:
    return current_app.extensions[AUTH]


def public(view: Callable) -> Callable:
    """Mark a view that any LAN device may use without credentials."""
    view.public = True  # type: ignore[attr-defined]
    return view


def is_public() -> bool:
    return getattr(current_app.view_functions.get(request.endpoint or ""), "public", False)
