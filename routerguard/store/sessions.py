"""The page's live sessions and the key that signs their cookies, in `data_dir/sessions.json`.

A cookie proves only that this router signed it; whether its session is
still alive is decided here, by its id: an id not in the file (logged out,
expired, or made up by someone who learnt the key) is refused, also after a
restart, because the file outlives the daemon.

The signing key lives here and not in secrets.json: secrets.json is part of
sysupgrade backups, and a key that travels in a backup lets whoever reads the
backup sign cookies. `end_all()` (a password or 2FA change) makes a new key
and forgets every session, so every cookie ever signed is dead at once.
The OpenWrt package must keep this file out of its backups
(openwrt/files/routerguard.keep lists the files it keeps; docs/security.md).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets as _random
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from routerguard.config.uci import write_atomic

FILENAME = "sessions.json"
LOCK_SUFFIX = ".lock"
MAX_SESSIONS = 32  # live at once; the oldest go first (a phone and a laptop each log in a few times a day)


class SessionStore:
    def __init__(self, data_dir: str) -> None:
        self.path = os.path.join(data_dir, FILENAME)
        self._lock = threading.Lock()
        self._cache: tuple[tuple[int, int, int], dict[str, Any]] | None = None

    # --- the file: read when it changed, written whole under a lock shared with other processes (the CLI) ---

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _read(self) -> dict[str, Any]:
        stamp = self._stamp()
        if stamp is not None and self._cache is not None and self._cache[0] == stamp:
            return self._cache[1]
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except (FileNotFoundError, ValueError):
            data = {}
        if not isinstance(data, dict) or not isinstance(data.get("key"), str) or not isinstance(data.get("sessions"), dict):
            data = {"key": None, "sessions": {}}
        if stamp is not None:
            self._cache = (stamp, data)
        return data

    def _write(self, data: dict[str, Any]) -> None:
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        write_atomic(self.path, json.dumps(data, indent=1))
        os.chmod(self.path, 0o600)
        self._cache = None

    @contextmanager
    def _changing(self) -> Iterator[dict[str, Any]]:
        """The file's data to change in place, written back at the end; one writer at a time, across processes."""
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        with self._lock, open(self.path + LOCK_SUFFIX, "a") as lock:
            os.chmod(lock.name, 0o600)
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._cache = None
            data = json.loads(json.dumps(self._read()))  # a copy: the cache is not changed under readers
            if not data.get("key"):
                data["key"] = _random.token_hex(32)
            now = time.time()
            data["sessions"] = {sid: until for sid, until in data["sessions"].items()
                                if isinstance(until, (int, float)) and until > now}
            yield data
            while len(data["sessions"]) > MAX_SESSIONS:
                oldest = min(data["sessions"], key=data["sessions"].get)
                del data["sessions"][oldest]
            self._write(data)

    # --- what the page asks ---

    def key(self) -> str:
        """The key that signs session cookies now (made on first use)."""
        data = self._read()
        if data.get("key"):
            return data["key"]
        with self._changing() as data:
            return data["key"]

    def start(self, lifetime: float) -> str:
        """A new live session for `lifetime` seconds; its id."""
        sid = _random.token_urlsafe(24)
        with self._changing() as data:
            data["sessions"][sid] = time.time() + lifetime
        return sid

    def alive(self, sid: object) -> bool:
        if not isinstance(sid, str):
            return False
        until = self._read()["sessions"].get(sid)
        return isinstance(until, (int, float)) and until > time.time()

    def end(self, sid: str) -> None:
        with self._changing() as data:
            data["sessions"].pop(sid, None)

    def end_all(self) -> None:
        """Every session ends and the signing key is new: a password or 2FA change."""
        with self._changing() as data:
            data["key"] = _random.token_hex(32)
            data["sessions"] = {}
