"""The alerts raised, and which warning levels were already sent for which scope and period.

The one owner of the `alert` and `alert_sent` tables: the leak guard records
here, the page reads here. What was sent is stored at once, so a restart
repeats no alert; the alert list is trimmed with the folds (store/db.py).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any

from routerguard.store.db import Database

log = logging.getLogger("routerguard.alerts")

ALERTS_KEPT = 1000
SENT_CACHE = 1000  # (scope, period) pairs remembered before the cache starts afresh


@dataclass(frozen=True)
class Stored:
    """One alert as the page lists it."""

    id: int
    time: float
    kind: str
    mac: str | None
    message: str
    params: dict[str, Any]


class AlertLog:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._sent: dict[tuple[str, float], set[int]] = {}

    def sent_levels(self, scope: str, period: float) -> set[int]:
        """The levels (percent; 0 for an unusual burst) already sent for `scope` in the period starting `period`."""
        key = (scope, period)
        with self._lock:
            if key not in self._sent:
                if len(self._sent) > SENT_CACHE:
                    self._sent.clear()
                rows = self.db.query("SELECT level FROM alert_sent WHERE scope = ? AND period = ?", key)
                self._sent[key] = {level for level, in rows}
            return set(self._sent[key])

    def record(self, now: float, kind: str, mac: str | None, message: str, params: dict[str, Any],
               scope: str, period: float, levels: list[int]) -> int | None:
        """Store one alert and the levels it sends; its id, or None when the disk refused it.

        The levels count as sent even then, so a full disk does not repeat the alert every reading.
        """
        self.sent_levels(scope, period)
        with self._lock:
            self._sent[(scope, period)].update(levels)
        try:
            with self.db.batch() as tx:
                alert_id = tx.execute("INSERT INTO alert (time, kind, mac, message, params) VALUES (?, ?, ?, ?, ?)",
                                      (now, kind, mac, message, json.dumps(params))).lastrowid
                tx.executemany("INSERT OR IGNORE INTO alert_sent (scope, period, level) VALUES (?, ?, ?)",
                               [(scope, period, level) for level in levels])
            return alert_id
        except sqlite3.Error as e:
            log.error("could not store an alert (%s)", e)
            return None

    def mark_sent(self, scope: str, period: float, levels: list[int]) -> None:
        """Count `levels` as sent without an alert: what was there before anyone needed telling (a baseline)."""
        self.sent_levels(scope, period)
        with self._lock:
            self._sent[(scope, period)].update(levels)
        with self.db.batch() as tx:
            tx.executemany("INSERT OR IGNORE INTO alert_sent (scope, period, level) VALUES (?, ?, ?)",
                           [(scope, period, level) for level in levels])

    def recent(self, limit: int) -> list[Stored]:
        """The newest alerts first."""
        rows = self.db.query("SELECT id, time, kind, mac, message, params FROM alert ORDER BY id DESC LIMIT ?", (limit,))
        return [Stored(i, t, kind, mac, message, json.loads(params or "{}")) for i, t, kind, mac, message, params in rows]

    @staticmethod
    def trim(tx: sqlite3.Connection) -> None:
        """Keep the newest ALERTS_KEPT, in a fold's transaction."""
        tx.execute("DELETE FROM alert WHERE id <= (SELECT MAX(id) FROM alert) - ?", (ALERTS_KEPT,))
