"""Stable per-device ids for the conntrack mark, kept in the `device` table.

The kernel tags every flow from the LAN to a metered uplink with its device's
id (ruleset.py), so both directions of a flow, and the meter reading it, know
the device without asking the neighbour table: IPv6 privacy addresses and
address changes do not matter. An id never changes while a flow may carry
it, so flows that outlive a restart keep meaning the same device; the id of
a device absent for longer than any flow lives (RELEASE_AFTER) is given
back, so a year of passing random MACs does not use up the 32,765 ids nor
grow the table by a chain each.

Only the high bits of the 32-bit ct mark are ours (the top one says "this
flow's device was sent a reset", ruleset.py): mwan3 (GL.iNet's multi-WAN)
keeps its interface in bits 0x3F00 and other tools use the low bits, so
routerguard leaves them as they are (see docs/enforcement.md).
"""

from __future__ import annotations

import threading
from typing import Iterable

from routerguard.store.db import Database

MARK_SHIFT = 16
MARK_MASK = 0x7FFF0000  # the bits of the ct mark that hold a device id
NEWCOMER_ID = 0x7FFF  # a MAC the daemon has not registered yet (enforce/ruleset.py marks its flows with this)
FREE_ID = 0x7FFE  # a flow leaving by an unmetered uplink: nobody pays (enforce/saver.py marks it, the meter skips it)
MAX_ID = FREE_ID - 1
RELEASE_AFTER = 6 * 86400  # conntrack's longest timeout (an established TCP flow: 5 days), and a day to spare
SEEN_WRITE_EVERY = 86400  # a device's last_seen reaches the flash at most once a day (release is a day early at worst)


class MarksExhausted(RuntimeError):
    """Every id is taken: the device stays a newcomer (shared default cap)."""


def mark_of(device_id: int) -> int:
    """The ct mark bits that carry `device_id`."""
    return device_id << MARK_SHIFT


def id_of_mark(mark: int) -> int:
    return (mark & MARK_MASK) >> MARK_SHIFT


class Marks:
    """MAC <-> id, allocated once and stored at once (a restart must find the same ids)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        rows = db.query("SELECT mac, mark, last_seen FROM device")
        self._by_mac: dict[str, int] = {mac: mark for mac, mark, _ in rows}
        self._by_id: dict[int, str] = {mark: mac for mac, mark, _ in rows}
        self._stored: dict[str, float] = {mac: seen for mac, _, seen in rows}  # last_seen as the table has it
        self._seen: dict[str, float] = dict(self._stored)

    def id_for(self, mac: str, now: float) -> int:
        """The device's id, given now (the lowest free one) if it has none."""
        with self._lock:
            found = self._by_mac.get(mac)
            if found is not None:
                return found
            device_id = next((i for i in range(1, MAX_ID + 1) if i not in self._by_id), None)
            if device_id is None:
                raise MarksExhausted(f"all {MAX_ID} device ids are taken; {mac} is treated as a newcomer")
            self.db.execute("INSERT INTO device (mac, mark, first_seen, last_seen) VALUES (?, ?, ?, ?)",
                            (mac, device_id, now, now))
            self._by_mac[mac], self._by_id[device_id] = device_id, mac
            self._stored[mac] = self._seen[mac] = now
            return device_id

    def keep(self, present: Iterable[str], now: float) -> list[str]:
        """Note the devices present now; give back the ids of those absent for RELEASE_AFTER (returned).

        No flow outlives its conntrack timeout, and a flow that moves bytes
        keeps its device present, so no flow carries a released id.
        """
        with self._lock:
            for mac in present:
                if mac in self._by_mac:
                    self._seen[mac] = max(self._seen[mac], now)
            stale = [mac for mac, stored in self._stored.items() if self._seen[mac] - stored >= SEEN_WRITE_EVERY]
            gone = [mac for mac, seen in self._seen.items() if now - seen >= RELEASE_AFTER]
            if stale or gone:
                with self.db.batch() as tx:
                    tx.executemany("UPDATE device SET last_seen = ? WHERE mac = ?", [(self._seen[m], m) for m in stale])
                    tx.executemany("DELETE FROM device WHERE mac = ?", [(m,) for m in gone])
                self._stored.update((mac, self._seen[mac]) for mac in stale)
            for mac in gone:
                del self._by_id[self._by_mac.pop(mac)], self._seen[mac], self._stored[mac]
            return gone

    def mac_of_mark(self, mark: int) -> str | None:
        """The device a flow's ct mark names, or None (no id, or a newcomer's): for the meter."""
        with self._lock:
            return self._by_id.get(id_of_mark(mark))

    def macs(self) -> list[str]:
        with self._lock:
            return list(self._by_mac)

    def ids(self) -> list[tuple[str, int]]:
        """(mac, id) of every device given one."""
        with self._lock:
            return list(self._by_mac.items())
