"""Where each bundle boundary fell inside its hour: the one fact about bundles the ledger cannot tell.

The ledger keeps usage per hour bucket, and a bundle starts or expires at
any minute (a bundle added at 10:37, a 7-day bundle ending at 10:37 a week
later). To drain exactly, the plan's count at that moment is needed: the
daemon notes, the first time it works out a boundary that has passed (the
first reading after it, or the request that added the bundle), how many
bytes of the boundary's hour bucket had been counted by then (`mark`).
Everything else (which bundle each byte came from, what is left) is derived
again at each reading from the ledger, the bundles' definitions and these
marks (decide/bundles.py), so a restart, a clock jump or an edited bundle
gives the same accounts, and nothing drifts.

Marks are tiny (a number per boundary) and rare (a few a day), so they are
kept as one meta value written at once, not through the usage journal: a
crash loses none. The moment a bundle with no `start` was first seen (its
start, "when it was added") is kept the same way.
"""

from __future__ import annotations

import json
import threading
from typing import Callable

from routerguard.store.db import Database

MARKS_KEY = "bundle_marks"
SEEN_KEY = "bundle_first_seen"
KEEP_SECONDS = 400 * 86400  # marks and first sightings older than this serve no bundle anyone keeps


class BundleMarks:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._marks: dict[float, int] = {float(k): int(v) for k, v in _load(db.get_meta(MARKS_KEY)).items()}
        self._seen: dict[str, float] = {str(k): float(v) for k, v in _load(db.get_meta(SEEN_KEY)).items()}
        self._closed: dict[tuple[float, float], int] = {}  # (origin, hour) -> the plan's bytes from origin to that hour

    def closed(self, origin: float, hour: float, count: Callable[[], int]) -> int:
        """The plan's bytes from `origin` to `hour` (both hour buckets, `hour` over): worked out once by `count`.

        Hours that are over take no more usage (the ledger charges the hour
        of now), so the count at each passed boundary is a query the first
        time and a dictionary hit at every reading after; a restart asks
        again. Kept in memory for the origins in force only.
        """
        key = (origin, hour)
        with self._lock:
            if key in self._closed:
                return self._closed[key]
        value = count()
        with self._lock:
            if any(o != origin for o, _ in self._closed):
                self._closed = {k: v for k, v in self._closed.items() if k[0] == origin}
            self._closed[key] = value
        return value

    def marks(self) -> dict[float, int]:
        """Boundary epoch -> bytes of its hour bucket counted before it (in the plan's scope)."""
        with self._lock:
            return dict(self._marks)

    def mark(self, noted: dict[float, int], now: float) -> None:
        """Keep the first mark of each boundary in `noted`; a later one for the same boundary changes nothing."""
        with self._lock:
            fresh = {t: x for t, x in noted.items() if t not in self._marks}
            if not fresh:
                return
            self._marks.update(fresh)
            self._marks = {t: x for t, x in self._marks.items() if t > now - KEEP_SECONDS}
            self.db.put_meta(MARKS_KEY, json.dumps({repr(t): x for t, x in sorted(self._marks.items())}))

    def seen(self) -> dict[str, float]:
        """Every first sighting noted so far (the daemon's windows to keep, without noting anything)."""
        with self._lock:
            return dict(self._seen)

    def first_seen(self, ids: list[str], now: float) -> dict[str, float]:
        """When each bundle id was first seen (noting `now` for the new ones): the start of a bundle given none."""
        with self._lock:
            fresh = [i for i in ids if i not in self._seen]
            if fresh:
                for i in fresh:
                    self._seen[i] = now
                self._seen = {i: t for i, t in self._seen.items() if i in ids or t > now - KEEP_SECONDS}
                self.db.put_meta(SEEN_KEY, json.dumps(self._seen, sort_keys=True))
            return {i: self._seen[i] for i in ids}


def _load(text: str | None) -> dict:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
