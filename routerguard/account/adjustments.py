"""Top-ups, resets and manual blocks: rare user actions, written at once.

Top-ups stack within a period and vanish with it. A reset remembers the
usage at that moment, so "usage this period" becomes usage since the reset
without losing the hourly history the charts and the plan need.
"""

from __future__ import annotations

import threading

from routerguard.store.db import Database


class Adjustments:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._topups: dict[tuple[str, float | None], int] = {}
        self._resets: dict[tuple[str, float | None], tuple[int, int]] = {}

    def topup(self, scope: str, period_start: float | None, nbytes: int, now: float) -> None:
        with self._lock:
            self.db.execute("INSERT INTO adjustment (scope, period_start, kind, bytes, time) VALUES (?, ?, 'topup', ?, ?)",
                            (scope, period_start, nbytes, now))
            self._topups.pop((scope, period_start), None)

    def topups(self, scope: str, period_start: float | None) -> int:
        key = (scope, period_start)
        with self._lock:
            if key not in self._topups:
                (total,), = self.db.query("SELECT COALESCE(SUM(bytes), 0) FROM adjustment WHERE scope = ? AND period_start IS ? "
                                          "AND kind = 'topup'", key)
                self._topups[key] = total
            return self._topups[key]

    def reset(self, scope: str, period_start: float | None, up: int, down: int, now: float) -> None:
        """Record that `scope` had used (up, down) since `period_start` when it was reset."""
        with self._lock:
            self.db.execute("INSERT INTO adjustment (scope, period_start, kind, bytes, up, down, time) "
                            "VALUES (?, ?, 'reset', ?, ?, ?, ?)", (scope, period_start, up + down, up, down, now))
            self._resets.pop((scope, period_start), None)

    def reset_offset(self, scope: str, period_start: float | None) -> tuple[int, int]:
        """(up, down) to subtract from usage since `period_start`: the usage at the latest reset."""
        key = (scope, period_start)
        with self._lock:
            if key not in self._resets:
                rows = self.db.query("SELECT up, down FROM adjustment WHERE scope = ? AND period_start IS ? AND kind = 'reset' "
                                     "ORDER BY id DESC LIMIT 1", key)
                self._resets[key] = rows[0] if rows else (0, 0)
            return self._resets[key]

    def block(self, mac: str, until: float | None) -> None:
        self.db.execute("INSERT INTO block (mac, until) VALUES (?, ?) ON CONFLICT (mac) DO UPDATE SET until = excluded.until",
                        (mac, until))

    def unblock(self, mac: str) -> None:
        self.db.execute("DELETE FROM block WHERE mac = ?", (mac,))

    def blocks(self, now: float) -> dict[str, float | None]:
        """Manual blocks in force: mac -> until (None: until unblocked)."""
        return {mac: until for mac, until in self.db.query("SELECT mac, until FROM block") if until is None or until > now}
