"""Stable per-device ids for the conntrack mark, kept in the `device` table.

The kernel tags every flow from the LAN to a metered uplink with its device's
id (ruleset.py), so both directions of a flow, and the meter reading it, know
the device without asking the neighbour table: IPv6 privacy addresses and
address changes do not matter. An id never changes once given, so flows that
outlive a restart keep meaning the same device.

Only the high bits of the 32-bit ct mark are ours (the top one says "this
flow's device was sent a reset", ruleset.py): mwan3 (GL.iNet's multi-WAN)
keeps its interface in bits 0x3F00 and other tools use the low bits, so
routerguard leaves them as they are (see docs/enforcement.md).
"""

from __future__ import annotations

import threading

from routerguard.store.db import Database

MARK_SHIFT = 16
MARK_MASK = 0x7FFF0000  # the bits of the ct mark that hold a device id
NEWCOMER_ID = 0x7FFF  # a MAC the daemon has not registered yet (enforce/ruleset.py marks its flows with this)
FREE_ID = 0x7FFE  # a flow leaving by an unmetered uplink: nobody pays (enforce/saver.py marks it, the meter skips it)
MAX_ID = FREE_ID - 1


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
        rows = db.query("SELECT mac, mark FROM device")
        self._by_mac: dict[str, int] = {mac: mark for mac, mark in rows}
        self._by_id: dict[int, str] = {mark: mac for mac, mark in rows}

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
            return device_id

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
