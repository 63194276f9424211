"""Top-ups, resets, calibrations and manual blocks: rare user actions, written at once.

Top-ups stack within a period and vanish with it. A reset remembers the
usage at that moment, so "usage this period" becomes usage since the reset
without losing the hourly history the charts and the plan need. A
calibration keeps the difference between what the carrier says and what
was counted (decide/calibration.py); the latest one of a period is in force.

Every reading asks each device's top-ups and reset for its period, and
almost all have none: so all of them are held in memory (a few rows per
user action), and a device without any costs a dictionary miss, not a
query per device and period (73,000 queries a day after a year of phones
passing by with random MACs, bench/year.py).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from routerguard.store.db import Database

HOLDS_KEY = "throttle_holds"  # meta: {mac: [until, kbit]}, the throttles set for a while (on_unusual 'throttle')

Key = tuple[str, float | None]  # (scope, period start)


@dataclass(frozen=True)
class Calibration:
    offset: int  # bytes added to the scope's count (negative: the carrier counted less)
    said: str  # "used" or "left": what the carrier said
    said_bytes: int
    time: float


class Adjustments:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._topups: dict[Key, int] = {}
        self._resets: dict[Key, tuple[int, int]] = {}
        for scope, start, kind, nbytes, up, down in db.query(
                "SELECT scope, period_start, kind, bytes, up, down FROM adjustment ORDER BY id"):
            self._note((scope, start), kind, nbytes, up, down)
        self._calibrations: dict[Key, Calibration] = {}
        for scope, start, offset, said, said_bytes, moment in db.query(
                "SELECT scope, period_start, bytes, said, said_bytes, time FROM calibration ORDER BY id"):
            self._calibrations[(scope, start)] = Calibration(offset, said, said_bytes, moment)
        self._holds: dict[str, tuple[float, int]] = {mac: (until, kbit) for mac, (until, kbit)
                                                      in json.loads(db.get_meta(HOLDS_KEY) or "{}").items()}

    def _note(self, key: Key, kind: str, nbytes: int, up: int | None, down: int | None) -> None:
        if kind == "topup":
            self._topups[key] = self._topups.get(key, 0) + nbytes
        elif kind == "reset":
            self._resets[key] = (up or 0, down or 0)

    def topup(self, scope: str, period_start: float | None, nbytes: int, now: float) -> None:
        with self._lock:
            self.db.execute("INSERT INTO adjustment (scope, period_start, kind, bytes, time) VALUES (?, ?, 'topup', ?, ?)",
                            (scope, period_start, nbytes, now))
            self._note((scope, period_start), "topup", nbytes, None, None)

    def topups(self, scope: str, period_start: float | None) -> int:
        with self._lock:
            return self._topups.get((scope, period_start), 0)

    def reset(self, scope: str, period_start: float | None, up: int, down: int, now: float) -> None:
        """Record that `scope` had used (up, down) since `period_start` when it was reset."""
        with self._lock:
            self.db.execute("INSERT INTO adjustment (scope, period_start, kind, bytes, up, down, time) "
                            "VALUES (?, ?, 'reset', ?, ?, ?, ?)", (scope, period_start, up + down, up, down, now))
            self._note((scope, period_start), "reset", up + down, up, down)

    def reset_offset(self, scope: str, period_start: float | None) -> tuple[int, int]:
        """(up, down) to subtract from usage since `period_start`: the usage at the latest reset."""
        with self._lock:
            return self._resets.get((scope, period_start), (0, 0))

    def calibrate(self, scope: str, period_start: float | None, calibration: Calibration) -> None:
        """Record what the carrier said about `scope` in the period from `period_start`; it replaces an earlier one."""
        with self._lock:
            self.db.execute("INSERT INTO calibration (scope, period_start, bytes, said, said_bytes, time) VALUES (?, ?, ?, ?, ?, ?)",
                            (scope, period_start, calibration.offset, calibration.said, calibration.said_bytes,
                             calibration.time))
            self._calibrations[(scope, period_start)] = calibration

    def calibration(self, scope: str, period_start: float | None) -> Calibration | None:
        with self._lock:
            return self._calibrations.get((scope, period_start))

    def calibration_offset(self, scope: str, period_start: float | None) -> int:
        """Bytes to add to the scope's count in that period: 0 unless calibrated."""
        found = self.calibration(scope, period_start)
        return found.offset if found else 0

    def block(self, mac: str, until: float | None) -> None:
        self.db.execute("INSERT INTO block (mac, until) VALUES (?, ?) ON CONFLICT (mac) DO UPDATE SET until = excluded.until",
                        (mac, until))

    def unblock(self, mac: str) -> None:
        self.db.execute("DELETE FROM block WHERE mac = ?", (mac,))

    def blocks(self, now: float) -> dict[str, float | None]:
        """Manual blocks in force: mac -> until (None: until unblocked)."""
        return {mac: until for mac, until in self.db.query("SELECT mac, until FROM block") if until is None or until > now}

    def hold_throttle(self, mac: str, until: float, kbit: int) -> None:
        """Slow `mac` down to `kbit` until `until`, whatever its caps say (an unusual burst, on_unusual 'throttle')."""
        with self._lock:
            self._holds[mac] = (until, kbit)
            self._write_holds()

    def release_throttle(self, mac: str) -> bool:
        """Lift a held throttle; whether there was one."""
        with self._lock:
            found = self._holds.pop(mac, None) is not None
            if found:
                self._write_holds()
            return found

    def throttles(self, now: float) -> dict[str, tuple[float, int]]:
        """Held throttles in force: mac -> (until, kbit)."""
        with self._lock:
            return {mac: held for mac, held in self._holds.items() if held[0] > now}

    def _write_holds(self) -> None:
        self.db.put_meta(HOLDS_KEY, json.dumps({mac: list(held) for mac, held in self._holds.items()}))
