"""Usage per device: what the database holds plus what is pending in memory.

The meter loop adds deltas every reading; each commit (every commit
interval) appends the deltas since the last one to the database's journal,
and the tables take the journal in now and then (store.db). Everything the
rest of the daemon asks (usage since a period's start, lifetime totals,
history) answers from the tables plus what is pending, so a figure never
jumps at a commit. Pending usage is dropped only after the tables hold it,
and a commit's deltas only after the journal holds them: a full or
read-only disk keeps them in memory, never loses them.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from typing import Callable

from routerguard.store.db import Database

log = logging.getLogger("routerguard.ledger")

ROUTER = "router"  # the line for the router's own traffic (DNS forwarding, NTP, updates)
Pair = list  # [up, down], mutable for cheap in-place addition


class Ledger:
    def __init__(self, db: Database, bucket: Callable[[float], int]) -> None:
        self.db = db
        self.bucket = bucket
        self._lock = threading.RLock()  # the meter loop adds while the page reads
        self._pending: dict[tuple[str, int], Pair] = {}  # not in the tables yet
        self._fresh: dict[tuple[str, int], Pair] = {}  # not in the journal yet
        self._windows: dict[str, dict[float, Pair]] = {}
        self._lifetime: dict[str, Pair] = {mac: [up, down] for mac, up, down in db.query("SELECT mac, up, down FROM lifetime")}

    def add(self, mac: str, up: int, down: int, now: float) -> None:
        with self._lock:
            hour = self.bucket(now)
            _bump(self._pending.setdefault((mac, hour), [0, 0]), up, down)
            _bump(self._fresh.setdefault((mac, hour), [0, 0]), up, down)
            _bump(self._lifetime.setdefault(mac, [0, 0]), up, down)
            for start, sums in self._windows.get(mac, {}).items():
                if hour >= start:
                    _bump(sums, up, down)

    def usage(self, mac: str, start: float | None) -> tuple[int, int]:
        """(up, down) since `start` (a bucket boundary), or over the device's lifetime when None."""
        with self._lock:
            if start is None:
                up, down = self._lifetime.get(mac, (0, 0))
                return up, down
            windows = self._windows.setdefault(mac, {})
            if start not in windows:
                (up, down), = self.db.query(
                    "SELECT COALESCE(SUM(up), 0), COALESCE(SUM(down), 0) FROM usage WHERE mac = ? AND hour >= ?", (mac, start))
                for (pmac, hour), (pup, pdown) in self._pending.items():
                    if pmac == mac and hour >= start:
                        up, down = up + pup, down + pdown
                windows[start] = [up, down]
            up, down = windows[start]
            return up, down

    def keep_windows(self, active: set[tuple[str, float]]) -> None:
        """Forget cached sums no longer asked for (periods that ended, devices gone)."""
        with self._lock:
            for mac in list(self._windows):
                windows = self._windows[mac]
                for start in [s for s in windows if (mac, s) not in active]:
                    del windows[start]
                if not windows:
                    del self._windows[mac]

    def macs(self) -> list[str]:
        with self._lock:
            return sorted(self._lifetime)

    def commit(self, extra: Callable[[dict[str, str]], None] | None = None) -> bool:
        """Journal the deltas since the last commit and `extra`'s meta values (store.db.set_meta).

        False, keeping everything, when the journal cannot be written; a
        fold that fails leaves the journal as it is, to be retried.
        """
        with self._lock:
            rows = [(mac, hour, up, down) for (mac, hour), (up, down) in self._fresh.items()]
            meta: dict[str, str] = {}
            try:
                if extra:
                    extra(meta)
                fold_due = self.db.append(rows, meta)
            except (OSError, sqlite3.Error) as e:
                log.error("could not save usage in %s (%s); keeping %d bytes of %d devices in memory, "
                          "retrying at the next commit", os.path.dirname(self.db.path), e,
                          sum(up + down for _, _, up, down in rows), len({row[0] for row in rows}))
                return False
            self._fresh.clear()
            if fold_due:
                try:
                    self.fold()
                except (OSError, sqlite3.Error) as e:
                    log.error("could not move the usage journal into %s (%s); it keeps everything, retrying",
                              self.db.path, e)
            return True

    def fold(self) -> None:
        """Have the tables take the journal in (store.db.Database.fold) and forget what they now hold."""
        with self._lock:
            self.db.fold()
            self._pending = {key: list(pair) for key, pair in self._fresh.items()}

    def hours(self, mac: str | None) -> tuple[int, int] | None:
        """The first and the last hour bucket with usage of `mac` (of any device when None); None if none."""
        with self._lock:
            where, params = ("WHERE mac = ?", (mac,)) if mac is not None else ("", ())
            (first, last), = self.db.query(f"SELECT MIN(hour), MAX(hour) FROM usage {where}", params)
            found = [hour for hour in (first, last) if hour is not None]
            found += [hour for row_mac, hour in self._pending if mac is None or row_mac == mac]
            return (min(found), max(found)) if found else None

    def series(self, mac: str | None, since: float, until: float, key: Callable[[int], int],
               by_device: bool = True) -> list[tuple[int, str | None, int, int]]:
        """(time, mac, up, down) per step, oldest first; `key` maps an hour bucket to its step's start.

        Without `by_device` the devices are summed (mac None) by SQLite: a
        chart of all devices then reads a row an hour, not a row a device an
        hour (12,000 rows, 5 MiB of objects, for two days of 250 devices).
        """
        with self._lock:
            where, params = "hour >= ? AND hour < ?", [since, until]
            if mac is not None:
                where += " AND mac = ?"
                params.append(mac)
            rows = f"hour, mac, up, down FROM usage WHERE {where}" if by_device else \
                f"hour, NULL, SUM(up), SUM(down) FROM usage WHERE {where} GROUP BY hour"
            sums: dict[tuple[int, str | None], Pair] = {}
            for hour, row_mac, up, down in self.db.query(f"SELECT {rows}", params):
                _bump(sums.setdefault((key(hour), row_mac), [0, 0]), up, down)
            for (row_mac, hour), (up, down) in self._pending.items():
                if since <= hour < until and (mac is None or row_mac == mac):
                    _bump(sums.setdefault((key(hour), row_mac if by_device else None), [0, 0]), up, down)
            return sorted((t, m, up, down) for (t, m), (up, down) in sums.items())


def _bump(pair: Pair, up: int, down: int) -> None:
    pair[0] += up
    pair[1] += down
