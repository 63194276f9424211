"""Values that live exactly as long as the kernel's state: kept in RAM (tmpfs), never on flash.

The kernel's per-device counters (enforce/recovery.py) tell a restarted
daemon what crossed while none was reading, so each commit must save them
beside the usage it saves. Journaled, they were most of each commit's
bytes (2.9 kB of JSON a minute for 50 devices, 9.3 MB a day of the router's
flash), and a reboot, the one event that flash outlives and RAM does not,
makes them worthless: the table they count is gone. So they are kept in a
small file under /var/run (tmpfs on OpenWrt and Debian), which a reboot
empties together with the table.

The usage they go with is in the journal, so the two are tied by the
commit's number (store.db: every journal record carries it): the file holds
the values staged for the newest commit and those of the one before, and a
reader asks for those of the last commit on the medium. A crash between
writing the file and the journal finds the previous commit's values, which
match the usage the journal holds; nothing is counted twice, none twice
missed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile

log = logging.getLogger("routerguard.store")

RUN_DIRS = ("/var/run/routerguard", "/run/routerguard")  # /var/run: tmpfs on OpenWrt (/tmp/run) and Debian (/run)


class Volatile:
    """The values of the last two commits, in a file named after data_dir (one daemon a data_dir)."""

    def __init__(self, data_dir: str, run_dirs: tuple[str, ...] | None = None) -> None:
        digest = hashlib.sha256(os.path.realpath(data_dir).encode()).hexdigest()[:16]
        self._name = f"kernel-{digest}.json"
        self._run_dirs = run_dirs or RUN_DIRS
        self.path: str | None = None
        self._warned = False

    def _folder(self) -> str | None:
        if self.path is None:
            for folder in self._run_dirs:
                try:
                    os.makedirs(folder, mode=0o700, exist_ok=True)
                except OSError:
                    continue
                if os.access(folder, os.W_OK):
                    self.path = os.path.join(folder, self._name)
                    break
        return self.path

    def _entries(self) -> list[dict]:
        """[{"commit": n, "values": {...}}, ...], newest first; [] when there is none or it cannot be read."""
        path = self._folder()
        try:
            with open(path or "", encoding="utf-8") as f:
                entries = json.load(f)
            return [e for e in entries if isinstance(e.get("commit"), int) and isinstance(e.get("values"), dict)]
        except (OSError, ValueError, AttributeError, TypeError):
            return []

    def save(self, commit: int, values: dict[str, str]) -> None:
        """`values` as of commit number `commit` (added to those of the commit before), keeping the commit before."""
        path = self._folder()
        if path is None:
            if not self._warned:
                log.warning("no writable folder among %s: what the kernel counts while no daemon reads it "
                            "will not be charged after a restart", ", ".join(self._run_dirs))
                self._warned = True
            return
        found = self._entries()
        base = next((e["values"] for e in found if e["commit"] <= commit), {})
        entries = [{"commit": commit, "values": {**base, **values}}] + [e for e in found if e["commit"] < commit][:1]
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=".routerguard-", dir=os.path.dirname(path))
            with os.fdopen(fd, "w", encoding="utf-8") as f:  # RAM: no fsync, nothing to wear
                json.dump(entries, f)
            os.replace(tmp, path)
        except OSError as e:
            log.warning("could not save %s (%s): a restart before the next commit charges nothing the kernel "
                        "counted meanwhile", path, e)
            if tmp and os.path.exists(tmp):
                os.unlink(tmp)

    def get(self, commit: int, key: str) -> str | None:
        """The value of `key` as of commit number `commit`; None if none was saved for that commit."""
        for entry in self._entries():
            if entry["commit"] == commit:
                value = entry["values"].get(key)
                return value if isinstance(value, str) else None
        return None
