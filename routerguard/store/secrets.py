"""The admin password, API tokens and the second factor, in `data_dir/secrets.json`.

A small JSON file rather than the usage database: the CLI changes it while
the daemon runs, it is tiny, and an atomic replace keeps it whole (the
file fsynced, renamed over the old one, the directory fsynced: a power cut
leaves the old or the new file, never an empty one). Only hashes are stored
of the password, the tokens and the recovery codes; a token or a recovery
code is shown once, when it is made. The TOTP secret is kept as is (a code
is checked against it), in this file of mode 0600.

Changing the password or the second factor ends every session of the page
(store/sessions.py, which also keeps the key that signs the session cookies,
out of this file and so out of backups).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets as _random
import threading
import time
from datetime import datetime, timezone
from typing import Any

from routerguard.config.uci import write_atomic
from routerguard.store import totp
from routerguard.store.sessions import SessionStore

FILENAME = "secrets.json"
CLI_TOKEN_FILE = "cli.token"  # beside secrets.json; the CLI on the router reads it (root only)
CLI_LABEL = "cli"
TOKEN_PREFIX = "rg_"
MIN_PASSWORD_LENGTH = 8
# scrypt with N=2^14: 16 MiB per check instead of werkzeug's default 32 MiB, which a
# 128 MB router feels; still far beyond what a GPU farm likes per guess.
PASSWORD_METHOD = "scrypt:16384:8:1"
RECOVERY_CODES = 10
RECOVERY_GROUPS = 4  # of 4 base32 characters: 80 random bits a code, so a fast hash is enough at rest
RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def _token_hash(token: str) -> str:
    """Tokens are long and random, so a fast hash is enough (unlike passwords)."""
    return hashlib.sha256(token.encode()).hexdigest()


class Secrets:
    def __init__(self, data_dir: str) -> None:
        self.path = os.path.join(data_dir, FILENAME)
        self._lock = threading.Lock()
        self.sessions = SessionStore(data_dir)

    def _load(self) -> dict[str, Any]:
        try:
            with open(self.path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return {"password": None, "tokens": []}

    def _save(self, data: dict[str, Any]) -> None:
        # Once the cookies' key lived here, so in every backup: it is gone at the next write, and
        # store/sessions.py signs with a key of its own (a cookie signed with this one is refused).
        data.pop("session_key", None)
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        write_atomic(self.path, json.dumps(data, indent=1), mode=0o600)  # fsync, rename, fsync of data_dir

    def has_password(self) -> bool:
        return bool(self._load().get("password"))

    def set_password(self, password: str) -> None:
        from werkzeug.security import generate_password_hash

        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters")
        with self._lock:
            data = self._load()
            data["password"] = generate_password_hash(password, method=PASSWORD_METHOD)
            self._save(data)
        self.sessions.end_all()

    def check_password(self, password: str) -> bool:
        from werkzeug.security import check_password_hash

        stored = self._load().get("password")
        return bool(stored) and check_password_hash(stored, password)

    def new_token(self, label: str = "", replace: bool = False) -> str:
        """Make a token, store its hash and return it (the only time it is visible).

        `replace` revokes the tokens with the same label first.
        """
        token = TOKEN_PREFIX + _random.token_urlsafe(32)
        with self._lock:
            data = self._load()
            kept = [t for t in data.get("tokens", []) if not (replace and t.get("label") == label)]
            data["tokens"] = kept + [{
                "id": _random.token_hex(4),
                "hash": _token_hash(token),
                "label": label,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }]
            self._save(data)
        return token

    @property
    def cli_token_path(self) -> str:
        return os.path.join(os.path.dirname(self.path), CLI_TOKEN_FILE)

    def rotate_cli_token(self) -> str:
        """A fresh token for the command line on the router, in data_dir/cli.token (mode 0600).

        The daemon calls this at start: root on the router can read the file,
        so `routerguard status` needs no token typed, and no one else can.
        The previous CLI token is revoked, so restarts leave one, not many.
        """
        token = self.new_token(CLI_LABEL, replace=True)
        write_atomic(self.cli_token_path, token + "\n", mode=0o600)
        return token

    def tokens(self) -> list[dict[str, str]]:
        """Tokens without their hashes, for listing on the page."""
        return [{k: v for k, v in t.items() if k != "hash"} for t in self._load().get("tokens", [])]

    def revoke_token(self, token_id: str) -> bool:
        with self._lock:
            data = self._load()
            kept = [t for t in data.get("tokens", []) if t["id"] != token_id]
            if len(kept) == len(data.get("tokens", [])):
                return False
            data["tokens"] = kept
            self._save(data)
            return True

    def check_token(self, token: str) -> bool:
        digest = _token_hash(token)
        return any(hmac.compare_digest(digest, t["hash"]) for t in self._load().get("tokens", []))

    # --- the second factor (TOTP, RFC 6238) and its recovery codes ---

    def totp_enabled(self) -> bool:
        return bool((self._load().get("totp") or {}).get("secret"))

    def enable_totp(self, secret: str, first_step: int | None = None) -> list[str]:
        """Turn the second factor on with `secret`; return fresh recovery codes (their hashes are kept).

        `first_step`: the step of the code that proved the app has the secret, so it cannot be used again.
        Every session ends.
        """
        codes = ["-".join("".join(_random.choice(RECOVERY_ALPHABET) for _ in range(4)) for _ in range(RECOVERY_GROUPS))
                 for _ in range(RECOVERY_CODES)]
        with self._lock:
            data = self._load()
            data["totp"] = {"secret": secret, "last_step": first_step,
                            "enabled": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            data["recovery"] = [_token_hash(_recovery_form(code)) for code in codes]
            self._save(data)
        self.sessions.end_all()
        return codes

    def disable_totp(self) -> bool:
        """Turn the second factor off (False when it was off); every session ends."""
        with self._lock:
            data = self._load()
            was = bool((data.get("totp") or {}).get("secret"))
            data.pop("totp", None)
            data.pop("recovery", None)
            self._save(data)
        self.sessions.end_all()
        return was

    def recovery_left(self) -> int:
        return len(self._load().get("recovery") or [])

    def check_otp(self, code: str, moment: float | None = None) -> bool:
        """A current TOTP code not used before, or an unused recovery code (used up by this)."""
        with self._lock:
            data = self._load()
            state = data.get("totp") or {}
            if not state.get("secret") or not isinstance(code, str):
                return False
            step = totp.matching_step(state["secret"], code, time.time() if moment is None else moment)
            if step is not None:
                if state.get("last_step") is not None and step <= state["last_step"]:
                    return False  # a code seen once is spent (RFC 6238 5.2): a code read over a shoulder fails
                state["last_step"] = step
                self._save(data)
                return True
            digest = _token_hash(_recovery_form(code))
            left = data.get("recovery") or []
            kept = [h for h in left if not hmac.compare_digest(h, digest)]
            if len(kept) == len(left):
                return False
            data["recovery"] = kept
            self._save(data)
            return True


def _recovery_form(code: str) -> str:
    """A recovery code as typed, in one spelling: lowercase, no spaces or dashes."""
    return "".join(ch for ch in code.lower() if ch.isalnum())
