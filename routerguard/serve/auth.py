"""Who may change things: the admin's browser session, or a script's bearer token.

There is no default password: until `routerguard passwd` sets one on the
router, logins are refused, so the first LAN device to find the page cannot
claim it. A session is a signed cookie (HttpOnly, SameSite=Strict) holding a
session id and a CSRF token that every state-changing request made with it
must echo; the id must be one the router started and has not ended
(store/sessions.py), so neither a logged-out cookie nor one forged with the
key is accepted, and a password or 2FA change ends them all. A bearer token
proves itself and needs none. With the second factor on, a login needs a
current TOTP code (or a recovery code) too.

Wrong passwords and codes lock the device out for longer and longer: the
device is its MAC from the neighbour table (so more addresses on one device
are no more guesses), else its IPv6 /64 or its IPv4 address; a ceiling over
all devices together bounds what many MACs can try. Each attempt is counted
as it is let through, before the password is hashed, so parallel requests
get no more guesses than serial ones.
"""

from __future__ import annotations

import hmac
import logging
import secrets as _random
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from typing import Callable, Iterator

from flask import Flask, current_app, request, session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from werkzeug.exceptions import Forbidden, TooManyRequests, Unauthorized

from routerguard.reasons import tag
from routerguard.serve.hosts import client_key
from routerguard.store.secrets import Secrets
from routerguard.store.sessions import SessionStore

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
MAX_TRACKED = 4096  # devices remembered; the oldest go first
EVERYONE = "*"  # the throttle's key for all devices together
EVERYONE_FREE = 30  # wrong tries of all devices together before everyone waits (many MACs, one attacker)
log = logging.getLogger("routerguard.auth")

AUTH = "routerguard.auth"


class LoginThrottle:
    """Failures per device; after FREE_FAILURES each one costs a doubling wait.

    All devices together (EVERYONE) are held the same way after EVERYONE_FREE.
    `attempt` checks and counts in one step: a try is a failure until it succeeds.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (count, time of the last)

    def _wait(self, key: str, free: int) -> float:
        count, last = self._failures.get(key, (0, 0.0))
        if count < free or self._clock() - last > FORGET_AFTER:
            return 0.0
        delay = min(MAX_DELAY, BASE_DELAY * 2 ** (count - free))
        return max(0.0, last + delay - self._clock())

    def wait(self, key: str) -> float:
        """Seconds before `key` may try again (0: now)."""
        with self._lock:
            return max(self._wait(key, FREE_FAILURES), self._wait(EVERYONE, EVERYONE_FREE))

    def everyone_waits(self) -> bool:
        """Whether the ceiling over all devices holds tries back now (rather than one device's own count)."""
        with self._lock:
            return self._wait(EVERYONE, EVERYONE_FREE) > 0

    def _count(self, key: str) -> None:
        now = self._clock()
        count, last = self._failures.pop(key, (0, now))
        self._failures[key] = (1 if now - last > FORGET_AFTER else count + 1, now)
        while len(self._failures) > MAX_TRACKED:
            oldest = next(iter(self._failures))
            if oldest == EVERYONE:
                self._failures[EVERYONE] = self._failures.pop(EVERYONE)
                oldest = next(iter(self._failures))
            del self._failures[oldest]

    def attempt(self, key: str) -> float:
        """Let a try through and count it as a failure (0), or say how long `key` must wait (nothing counted)."""
        with self._lock:
            wait = max(self._wait(key, FREE_FAILURES), self._wait(EVERYONE, EVERYONE_FREE))
            if wait == 0:
                self._count(key)
                self._count(EVERYONE)
            return wait

    def failed(self, key: str) -> None:
        with self._lock:
            self._count(key)
            self._count(EVERYONE)

    def succeeded(self, key: str) -> None:
        """The try let through was right: the device starts afresh, and everyone's count gets it back."""
        with self._lock:
            self._failures.pop(key, None)
            count, last = self._failures.get(EVERYONE, (0, 0.0))
            if count > 0:
                self._failures[EVERYONE] = (count - 1, last)


class StoredSessions(SecureCookieSessionInterface):
    """Flask's signed cookie, signed with the key of store/sessions.py as it is now (it changes with the
    password), and set only when the session changed: a cookie is never re-signed just for being sent."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        try:
            key = self.store.key()
        except OSError as e:  # no key yet, and data_dir takes no writes (full, read-only): no sessions, the rest works
            log.warning("no session key (%s): logging in waits until data_dir takes writes again", e)
            return None
        return URLSafeTimedSerializer(key, salt=self.salt, serializer=self.serializer,
                                      signer_kwargs={"key_derivation": self.key_derivation, "digest_method": self.digest_method})

    def should_set_cookie(self, app: Flask, session) -> bool:  # type: ignore[override]
        return session.modified


class Auth:
    def __init__(self, secrets: Secrets, mac_of: Callable[[str], str | None] | None = None) -> None:
        self.secrets = secrets
        self.sessions = secrets.sessions
        self.mac_of = mac_of
        self.throttle = LoginThrottle()
        # One password check at a time: scrypt takes 16 MiB, and a router has little more than a few of those.
        self._hashing = threading.Lock()

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
        if not sid:
            return None
        if not self.secrets.has_password() or not self.sessions.alive(sid):
            session.clear()  # the answer deletes the cookie rather than signing it again
            return None
        return "session"

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

    def login(self, password: object, otp: object = None) -> str:
        """Start a session and return its CSRF token.

        403 before a password exists, 429 while the device waits, 401 for a wrong password, and with the
        second factor on for a missing or wrong code: each 401 counts towards the wait.
        """
        self.prove(password, otp)
        return self.start_session()

    def prove(self, password: object, otp: object = None) -> None:
        """The login's checks, also asked again before the password or the second factor changes."""
        if not self.secrets.has_password():
            raise tag(Forbidden(NO_PASSWORD), "no_password")
        with self.attempt():
            with self._hashing:
                right = isinstance(password, str) and self.secrets.check_password(password)
            if not right:
                raise tag(Unauthorized("wrong password"), "wrong_password")
            if self.secrets.totp_enabled():
                if not isinstance(otp, str) or not otp.strip():
                    raise tag(Unauthorized('two-factor login is on: send the 6-digit code from the authenticator app '
                                           'as "otp" (or a recovery code)'), "otp_missing")
                if not self.secrets.check_otp(otp):
                    raise tag(Unauthorized("wrong or used one-time code"), "otp_wrong")

    @contextmanager
    def attempt(self) -> Iterator[None]:
        """One try of this device, counted before it is made (429 while it waits); forgiven when the block ends well."""
        key = client_key(request.remote_addr, self.mac_of)
        wait = self.throttle.attempt(key)
        if wait > 0:
            seconds = int(wait) + 1
            if self.throttle.everyone_waits():
                raise tag(TooManyRequests(f"too many wrong passwords from many devices; every login waits {seconds} "
                                          "seconds (a bearer token and the router's command line still work)",
                                          retry_after=seconds), "too_many_tries_everyone", seconds=seconds)
            raise tag(TooManyRequests(f"too many wrong passwords from this device; try again in {seconds} seconds",
                                      retry_after=seconds), "too_many_tries", seconds=seconds)
        yield
        self.throttle.succeeded(key)

    def start_session(self) -> str:
        """A new session for this browser (after a login, or after a change that ended every session); its CSRF token."""
        session.clear()
        session.permanent = True
        session["sid"] = self.sessions.start(SESSION_LIFETIME.total_seconds())
        session["csrf"] = _random.token_urlsafe(32)
        return session["csrf"]

    def logout(self) -> None:
        sid = session.get("sid")
        session.clear()
        if isinstance(sid, str):
            self.sessions.end(sid)

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
