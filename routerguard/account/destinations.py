"""Bytes per device per destination name in the current period: what ate the data.

The meter's sampler hands over (device, destination address, up, down) at
its own cadence (account/meter.py: right after a reading, from every reading
on a small table to once a minute on a big one); the address becomes the
name the device looked up (or stays an address).
Memory and disk stay bounded however many names a device touches: each
device keeps its TOP biggest names of the period, and the bytes of names
pushed out go to one "other" row, so the rows always add up to the
device's usage.

Rows are kept per usage window (the period the device's usage is shown
for); when a period rolls, the new one starts empty and the old rows are
dropped at the next write, unless they began within the plan's window:
then they stay until it rolls too, so that the dashboard can say where the
plan's data went (a device on a daily cap under a monthly plan keeps a
month of days). Like the ledger, everything is answered from
the database plus memory, and written once per commit interval. A device
that moved no byte between two writes leaves memory (its rows are in the
table): random MACs pass by by the hundred a day.
"""

from __future__ import annotations

import ipaddress
import socket
import sqlite3
import threading
from typing import Callable, Iterable

from routerguard.attribute.names import Names, address_text
from routerguard.store.db import Database

TOP = 50  # names kept per device and period
OTHER = ""  # the row of everything pushed out of the top names
Pair = list  # [up, down]


class Tally:
    """The TOP biggest names and the rest, for one device."""

    def __init__(self, limit: int = TOP) -> None:
        self.limit = limit
        self.rows: dict[str, Pair] = {}

    def add(self, name: str, up: int, down: int) -> None:
        row = self.rows.get(name)
        if row is None:
            row = self._make_room(name, up + down)
        row[0] += up
        row[1] += down

    def add_ranked(self, rows: dict[str, Pair]) -> None:
        """Many names at once, biggest first: once a new name cannot enter, no smaller one can (the smallest name
        kept only grows), so the rest go to "other" at once, not each against every name kept (a sample of a
        big table brings a device hundreds of names)."""
        other_only = False
        for name, (up, down) in sorted(rows.items(), key=lambda item: -(item[1][0] + item[1][1])):
            row = self.rows.get(name)
            if row is None:
                row = self.rows.setdefault(OTHER, [0, 0]) if other_only else self._make_room(name, up + down)
                other_only = name != OTHER and row is self.rows.get(OTHER)
            row[0] += up
            row[1] += down

    def _make_room(self, name: str, size: int) -> Pair:
        named = [n for n in self.rows if n != OTHER]
        if name != OTHER and len(named) >= self.limit:
            smallest = min(named, key=lambda n: sum(self.rows[n]))
            if sum(self.rows[smallest]) >= size:
                name = OTHER
            else:
                up, down = self.rows.pop(smallest)
                other = self.rows.setdefault(OTHER, [0, 0])
                other[0] += up
                other[1] += down
        return self.rows.setdefault(name, [0, 0])

    def merge(self, other: "Tally") -> None:
        for name, (up, down) in other.rows.items():
            self.add(name, up, down)


class _Segment:
    """One device's tally for one window, and whether the database has it yet."""

    def __init__(self, start: float, tally: Tally) -> None:
        self.start, self.tally = start, tally
        self.version = self.written = 0


class Destinations:
    def __init__(self, db: Database, names: Names, limit: int = TOP) -> None:
        self.db, self.names, self.limit = db, names, limit
        self._lock = threading.Lock()
        self._pending: dict[str, Tally] = {}  # since the last settle, window not known yet
        self._current: dict[str, _Segment] = {}
        self._retired: list[tuple[str, _Segment]] = []  # a rolled window not yet written
        self._keep_since: float | None = None  # rolled windows that began since then stay (the plan's window)

    def add(self, mac: str, destination: bytes | None, up: int, down: int) -> None:
        """Bytes of one flow key in one reading; `destination` None: not known (charged to "other")."""
        if destination is None:
            name = OTHER
        else:
            name = self.names.name(mac, destination) or address_text(destination)
        with self._lock:
            self._pending.setdefault(mac, Tally(self.limit)).add(name, up, down)

    def add_many(self, mac: str, flows: Iterable[tuple[bytes, int, int]]) -> None:
        """Bytes of many (destination, up, down) of one device: a sample of the whole table (account/meter.py)."""
        by_name: dict[str, Pair] = {}
        for destination, up, down in flows:
            row = by_name.setdefault(self.names.name(mac, destination) or address_text(destination), [0, 0])
            row[0] += up
            row[1] += down
        with self._lock:
            self._pending.setdefault(mac, Tally(self.limit)).add_ranked(by_name)

    def settle(self, window_start: Callable[[str], float | None], keep_since: float | None = None) -> None:
        """Charge what is pending to each device's current window (None: lifetime).

        `keep_since`: the plan window's start; rolled windows that began since then are kept, not dropped."""
        with self._lock:
            self._keep_since = keep_since
            pending, self._pending = self._pending, {}
            for mac, tally in pending.items():
                start = window_start(mac) or 0.0
                segment = self._current.get(mac)
                if segment is None or segment.start != start:
                    if segment is not None:
                        self._retired.append((mac, segment))
                    segment = self._current[mac] = _Segment(start, self._load(mac, start))
                segment.tally.merge(tally)
                segment.version += 1

    def _load(self, mac: str, start: float) -> Tally:
        tally = Tally(self.limit)
        for name, up, down in self.db.query("SELECT name, up, down FROM destination WHERE mac = ? AND start = ?", (mac, start)):
            tally.rows[name] = [up, down]
        return tally

    def top(self, mac: str, start: float | None) -> list[tuple[str, int, int]]:
        """(name, up, down) since `start` (None: all kept), biggest first; names learnt since replace addresses."""
        start = start or 0.0
        with self._lock:
            in_memory = [seg for m, seg in [*self._retired, *self._current.items()] if m == mac and seg.start >= start]
            skip = [seg.start for seg in in_memory]
            rows = self.db.query(
                f"SELECT name, up, down FROM destination WHERE mac = ? AND start >= ? AND start NOT IN ({','.join('?' * len(skip))})",
                (mac, start, *skip))
            rows += [(n, up, down) for seg in in_memory for n, (up, down) in seg.tally.rows.items()]
            pending = self._pending.get(mac)
            rows += [(n, up, down) for n, (up, down) in pending.rows.items()] if pending else []
        total = Tally(self.limit)
        for name, up, down in rows:
            total.add(self._renamed(mac, name), up, down)
        return sorted(((n, up, down) for n, (up, down) in total.rows.items()), key=lambda r: r[1] + r[2], reverse=True)

    def _renamed(self, mac: str, name: str) -> str:
        """An address row's name, when the answer that names it arrived after its bytes."""
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return name
        return self.names.name(mac, socket.inet_pton(socket.AF_INET6 if address.version == 6 else socket.AF_INET, name)) or name

    def write(self, tx: sqlite3.Connection) -> Callable[[], None]:
        """Write changed windows and drop rolled ones, in the caller's transaction; call the result once it committed."""
        with self._lock:
            changed = [(mac, seg, seg.version) for mac, seg in [*self._retired, *self._current.items()] if seg.version != seg.written]
            keep = self._keep_since
            current = [(mac, seg.start if keep is None else min(seg.start, keep)) for mac, seg in self._current.items()]
            for mac, seg, _ in changed:
                tx.execute("DELETE FROM destination WHERE mac = ? AND start = ?", (mac, seg.start))
                tx.executemany("INSERT INTO destination (mac, start, name, up, down) VALUES (?, ?, ?, ?, ?)",
                               [(mac, seg.start, name, up, down) for name, (up, down) in seg.tally.rows.items()])
            tx.executemany("DELETE FROM destination WHERE mac = ? AND start < ?", current)
            retired = list(self._retired)
            idle = [(mac, seg) for mac, seg in self._current.items() if seg.version == seg.written]

        def done() -> None:
            with self._lock:
                for _, seg, version in changed:
                    seg.written = version
                self._retired = [entry for entry in self._retired if entry not in retired]
                for mac, seg in idle:  # no byte since the last write: the table has it, top() and settle() read it there
                    if self._current.get(mac) is seg and seg.version == seg.written:
                        del self._current[mac]

        return done


def view(rows: Iterable[tuple[str, int, int]], describe: Callable[[str], dict]) -> list[dict]:
    """The API's destinations: name, service, category and bytes; the rest is named "other"."""
    return [{**(describe(name) if name != OTHER else {"name": "other", "service": None, "category": None}),
             "up_bytes": up, "down_bytes": down, "total_bytes": up + down} for name, up, down in rows]


def summed(rows: Iterable[dict], key: Callable[[dict], object]) -> list[tuple[object, int, int]]:
    """(key, up, down) of destination views added up by `key` (a category, a service), biggest first."""
    sums: dict[object, list[int]] = {}
    for row in rows:
        pair = sums.setdefault(key(row), [0, 0])
        pair[0] += row["up_bytes"]
        pair[1] += row["down_bytes"]
    return sorted(((k, up, down) for k, (up, down) in sums.items()), key=lambda r: r[1] + r[2], reverse=True)
