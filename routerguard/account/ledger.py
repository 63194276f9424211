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
from typing import Callable, Iterable

from routerguard.store.db import Database

log = logging.getLogger("routerguard.ledger")

ROUTER = "router"  # the line for the router's own traffic (DNS forwarding, NTP, updates)
Pair = list  # [up, down], mutable for cheap in-place addition
Window = list  # [up, down, asked since the last keep_windows]
ASKED = 2


class Ledger:
    """The owner of usage, and of the sums it keeps at hand for the windows asked for.

    Readings ask the usage of each device since the start of each period in
    force (the plan's, a group's, the device's cap's) and over its lifetime,
    every few seconds, so those sums are kept in memory and added to as
    usage comes in. A router runs for months: periods roll and random MACs
    pass by, so the daemon tells the ledger at each commit which period
    starts are in force (keep_windows), and the ledger forgets every sum of
    another start, or not asked for since the last time it was told; asked
    again, one costs a query.
    """

    def __init__(self, db: Database, bucket: Callable[[float], int]) -> None:
        self.db = db
        self.bucket = bucket
        self._lock = threading.RLock()  # the meter loop adds while the page reads
        self._pending: dict[tuple[str, int], Pair] = {}  # not in the tables yet
        self._fresh: dict[tuple[str, int], Pair] = {}  # not in the journal yet
        self._windows: dict[str, dict[float | None, Window]] = {}  # mac -> start (None: lifetime) -> sums
        self._starts: frozenset[float | None] | None = None  # of the periods in force, as last told
        self._counted: set[str] | None = None  # macs() as last worked out, kept up to date by add()

    def add(self, mac: str, up: int, down: int, now: float) -> None:
        with self._lock:
            hour = self.bucket(now)
            _bump(self._pending.setdefault((mac, hour), [0, 0]), up, down)
            _bump(self._fresh.setdefault((mac, hour), [0, 0]), up, down)
            for start, sums in self._windows.get(mac, {}).items():
                if start is None or hour >= start:
                    _bump(sums, up, down)
            since = self._since()
            if self._counted is not None and (since is None or hour >= since):
                self._counted.add(mac)

    def usage(self, mac: str, start: float | None) -> tuple[int, int]:
        """(up, down) since `start` (a bucket boundary), or over the device's lifetime when None."""
        with self._lock:
            windows = self._windows.setdefault(mac, {})
            sums = windows.get(start)
            if sums is None:
                sums = windows[start] = [*self._stored(mac, start), False]
            sums[ASKED] = True
            return sums[0], sums[1]

    def _stored(self, mac: str, start: float | None) -> tuple[int, int]:
        """(up, down) of `mac` since `start` from the tables plus what is pending."""
        if start is None:
            rows = self.db.query("SELECT up, down FROM lifetime WHERE mac = ?", (mac,))
        else:
            rows = self.db.query("SELECT COALESCE(SUM(up), 0), COALESCE(SUM(down), 0) FROM usage "
                                 "WHERE mac = ? AND hour >= ?", (mac, start))
        up, down = rows[0] if rows else (0, 0)
        for (pmac, hour), (pup, pdown) in self._pending.items():
            if pmac == mac and (start is None or hour >= start):
                up, down = up + pup, down + pdown
        return up, down

    def keep_windows(self, starts: Iterable[float | None]) -> None:
        """The period starts in force now (None: a period that never ends); lifetimes always are.

        Forgets the sums of any other start (periods that ended) and those
        not asked for since the last call (devices gone, a page that looked
        at an old period); macs() lists the devices with usage since the
        earliest start in force from now on.
        """
        told = frozenset(starts)
        in_force = told | {None}
        with self._lock:
            if told != self._starts:
                self._counted = None
            self._starts = told
            for mac in list(self._windows):
                windows = self._windows[mac]
                for start in [s for s, sums in windows.items() if s not in in_force or not sums[ASKED]]:
                    del windows[start]
                for sums in windows.values():
                    sums[ASKED] = False
                if not windows:
                    del self._windows[mac]

    def _since(self) -> float | None:
        """The earliest start in force; None (every device ever) when a period never ends, or none was told."""
        starts = self._starts
        if not starts or None in starts:
            return None
        return min(s for s in starts if s is not None)

    def macs(self) -> list[str]:
        """The devices (and ROUTER) with usage in a window in force: since its earliest start, or ever.

        What the limits of this moment count: a device that passed by months
        ago is no longer among them (its usage stays in the tables, in
        series() and hours()), so the work of a reading follows the devices
        of the current periods, not every MAC ever seen.
        """
        with self._lock:
            if self._counted is None:
                since = self._since()
                if since is None:
                    found = {mac for mac, in self.db.query("SELECT mac FROM lifetime")}
                else:
                    found = {mac for mac, in self.db.query("SELECT DISTINCT mac FROM usage WHERE hour >= ?", (since,))}
                found |= {mac for mac, hour in self._pending if since is None or hour >= since}
                self._counted = found
            return sorted(self._counted)

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
