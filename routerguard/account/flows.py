"""Per-flow byte deltas from live conntrack counters: every byte counted once.

Two kinds of reading arrive: dumps (live counters of every flow, every few
seconds) and DESTROY events (final counters of a flow as it ends). For each
flow the tracker keeps the counters it has already accounted, and turns a
reading into the bytes since then, summed per key (by default the flow's
original source address and ct mark). Kernel counters are never zeroed.

A flow is named by its original tuple, its 32-bit CTA_ID and its start time
(when ``nf_conntrack_timestamp`` is on): the id alone collides within large
tables; tuple and id are both reused when a connection ends and the same one
begins again, which the kernel likes to put in the memory just freed.

What is exact:
- Bytes of a flow up to its last reading, and all of them once its DESTROY
  event is read, including flows that start and end between two dumps.
- Readings in any order: a DESTROY read before or after the dump that no
  longer shows the flow, a flow listed twice by one dump (the kernel can, when
  its table changes under a dump), a dump racing a DESTROY (the kernel sends
  the event before it unlinks the entry), a DESTROY delivered twice.
- A connection that ends and begins again under the same name, as long as
  the new life's counters are still below the old one's last reading in some
  direction when first read, or the start timestamp is on.

What is not exact, and why it cannot be helped:
- A flow whose DESTROY event is lost (``EventsLost``, ENOBUFS): its bytes since
  its last reading, at most one poll interval of its traffic. Dumping soon
  after events are lost (the meter: at its next reading) gives every live
  flow a fresh reading, so flows whose end is lost later in the same storm
  lose only what they carry after it. The ``reliable`` event mode of
  ``DestroyEvents`` loses no DESTROY at all.
- Flows created while ``nf_conntrack_events`` is 2 (the default) and no
  listener was subscribed never report their end: as above.
- A connection reborn under the same name without a start timestamp whose
  counters already exceed its predecessor's last reading when first read:
  its first bytes, up to that reading, are taken for the predecessor's.
- A DESTROY arriving over ``retain_seconds`` after its flow left the table is
  taken for a flow never seen and counted from zero, so its bytes up to its
  last reading count twice; a flow missed by dumps for that long likewise.
  With events read before each dump this needs the kernel to hold a DESTROY
  back that long.

All of this assumes the events waiting are read before each dump, as in the
loop shown in ``FlowTracker``: a DESTROY left unread across two dumps can be
matched to the wrong life of a reused name.
"""

from __future__ import annotations

import time
from array import array
from bisect import bisect_left
from collections import deque
from operator import itemgetter
from typing import Callable, Deque, Dict, Hashable, Iterable, Iterator, List, Optional, Tuple

from routerguard.read.conntrack import Flow

Key = Hashable
Delta = Tuple[Key, int, int]  # key, up bytes (original direction), down bytes (reply direction)

# A flow's accounted counters are one int, original bytes above reply bytes,
# while a dump runs; between dumps they are sealed into arrays (_Sealed).
COUNTER_BITS = 64
COUNTER_MASK = (1 << COUNTER_BITS) - 1
# A flow's name is hashed to 60 bits: CPython stores such an int in 32 bytes,
# a 64-bit one in 48 (the tracker keeps one per live and per retired flow).
IDENTITY_BITS = 60
IDENTITY_MASK = (1 << IDENTITY_BITS) - 1

# How long readings of flows that left the table are kept, so that a late or
# repeated reading counts only its remainder; kept in a few age buckets, aged
# by dumps and events alike. The meter hands DESTROY events over as they come
# (a dump's length late at most), so 10 s is a wide margin; it keeps memory
# flat under 5,000 new flows a second (docs/benchmarks.md, Churn; 30 s held
# ~150,000 ended flows).
RETAIN_SECONDS = 10.0
RETAIN_BUCKETS = 3

source_and_mark: Callable[[Flow], Key] = itemgetter(Flow._fields.index("src"), Flow._fields.index("mark"))


def _identity(flow: Flow) -> int:
    return (hash(flow.orig_tuple) ^ flow.id ^ flow.start) & IDENTITY_MASK


def _counters(flow: Flow) -> int:
    return flow.orig_bytes << COUNTER_BITS | flow.reply_bytes


def _covers(counters: int, base: int) -> bool:
    """Could ``counters`` be a later reading of the flow read as ``base``?"""
    return counters >> COUNTER_BITS >= base >> COUNTER_BITS and counters & COUNTER_MASK >= base & COUNTER_MASK


class _Sealed:
    """Readings no longer added to: uids sorted beside their counters, 26 bytes a flow.

    A dict costs about 100 bytes a flow, 120 with large counters: the live
    flows between two dumps (65,536 and more on a busy router, the sampler
    dumping once a minute) and the retired ones (some 50,000 at 5,000 flows
    ending a second) are kept so.
    """

    def __init__(self, readings: Dict[int, int]) -> None:
        uids = sorted(readings)
        self._uids = array("Q", uids)
        self._up = array("Q", (readings[uid] >> COUNTER_BITS for uid in uids))
        self._down = array("Q", (readings[uid] & COUNTER_MASK for uid in uids))
        self._taken = bytearray(len(uids))  # 1 at the positions taken back (flows ended, or found by the next dump): a
        # byte a flow, where a set of positions cost about 60 (a dump of 65,536 flows takes them all)
        self._taken_count = 0
        # Where the uids with each value of their top bits begin, about four
        # uids apart: a lookup bisects those few, at half the cost of all.
        self._shift = IDENTITY_BITS - max(len(uids).bit_length() - 2, 0)
        self._starts = array("I", [bisect_left(uids, top << self._shift) for top in range((IDENTITY_MASK >> self._shift) + 2)])

    def __len__(self) -> int:
        return len(self._uids) - self._taken_count

    def find(self, uid: int) -> int:
        """The position of `uid` if it is here and not taken, else -1."""
        uids, top = self._uids, uid >> self._shift
        at = bisect_left(uids, uid, self._starts[top], self._starts[top + 1])
        return at if at < len(uids) and uids[at] == uid and not self._taken[at] else -1

    def counters(self, at: int) -> int:
        return self._up[at] << COUNTER_BITS | self._down[at]

    def drop(self, at: int) -> None:
        if not self._taken[at]:
            self._taken[at] = 1
            self._taken_count += 1

    def take(self, uid: int, counters: int) -> Optional[int]:
        """The reading of `uid` that `counters` may follow, removed; None if none."""
        at = self.find(uid)
        if at < 0:
            return None
        base = self.counters(at)
        if not _covers(counters, base):
            return None
        self.drop(at)
        return base

    def remaining(self) -> Iterator[Tuple[int, int]]:
        """(uid, counters) of every reading not taken."""
        taken = self._taken
        return ((uid, self.counters(at)) for at, uid in enumerate(self._uids) if not taken[at])


class _Retired:
    """Readings of flows gone from the table for ``retain_seconds`` at least.

    The newest are in a dict; every ``retain_seconds / RETAIN_BUCKETS`` they
    are sealed, and a sealed bucket falls off once all it holds is old
    enough. Empty buckets are not kept, so a quiet store costs no lookups.
    """

    def __init__(self, retain_seconds: float, now: float) -> None:
        self._retain_seconds = retain_seconds
        self._newest: Dict[int, int] = {}
        self._started = now
        self._sealed: Deque[Tuple[float, _Sealed]] = deque()  # (sealed at, bucket), oldest first

    def put(self, uid: int, counters: int) -> None:
        self._newest[uid] = counters

    def take(self, uid: int, counters: int) -> Optional[int]:
        """The newest reading that ``counters`` may follow, removed; None if none."""
        base = self._newest.get(uid)
        if base is not None and _covers(counters, base):
            del self._newest[uid]
            return base
        for _, bucket in reversed(self._sealed):
            base = bucket.take(uid, counters)
            if base is not None:
                return base
        return None

    def age(self, now: float) -> None:
        """Seal the newest readings when they span their bucket's seconds; drop what was sealed long enough ago."""
        if now - self._started >= self._retain_seconds / RETAIN_BUCKETS:
            if self._newest:
                self._sealed.append((now, _Sealed(self._newest)))
                self._newest = {}
            self._started = now
        while self._sealed and now - self._sealed[0][0] >= self._retain_seconds:
            self._sealed.popleft()


class FlowTracker:
    """Turns conntrack readings into byte deltas per key.

    From a poll loop (see ``routerguard.read.conntrack``)::

        tracker.dump(dump_flows(), account=False)    # at start: bytes already stored
        while running:
            try:
                tracker.ended(events.read())
            except EventsLost as lost:
                tracker.ended(lost.flows)
                tracker.dump(dump_flows())           # resync at once
            if time_to_poll:
                tracker.dump(dump_flows())
                for key, up, down in tracker.take(): ...
    """

    def __init__(
        self,
        key: Callable[[Flow], Key] = source_and_mark,
        retain_seconds: float = RETAIN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._key = key
        self._clock = clock
        self._live = _Sealed({})  # each live flow's accounted counters, as of the last dump
        # Left the table without a DESTROY read yet (a predecessor, or a flow
        # whose event is late or lost), and ended with their DESTROY read.
        self._vanished = _Retired(retain_seconds, clock())
        self._destroyed = _Retired(retain_seconds, clock())
        self._pending: Dict[Key, List[int]] = {}

    def __len__(self) -> int:
        """Flows alive at the last dump."""
        return len(self._live)

    def dump(self, flows: Iterable[Flow], account: bool = True) -> None:
        """Account a full table dump; flows it lacks are retired.

        With ``account=False`` the counters are only remembered: for the first
        dump after a restart, whose bytes the store already holds.
        If the iteration fails midway, what was read stays accounted and the
        rest waits for the next dump.
        """
        live = self._live
        fresh: Dict[int, int] = {}  # this dump's readings: sealed at its end, the flows it lacks retired
        try:
            for flow in flows:
                uid = _identity(flow)
                counters = _counters(flow)
                last = fresh.get(uid)  # listed twice by this dump
                if last is None:
                    at = live.find(uid)
                    if at >= 0:
                        last = live.counters(at)
                        live.drop(at)
                if last is None:
                    base = self._reclaim(uid, counters, self._vanished, self._destroyed)
                elif last == counters:  # idle since the last reading
                    fresh[uid] = counters
                    continue
                elif _covers(counters, last):
                    base = last
                else:  # a new life under the same name; the old one's DESTROY is still to come
                    self._vanished.put(uid, last)
                    base = 0
                if account:
                    self._account(flow, counters, base)
                fresh[uid] = counters
        except BaseException:
            # What was read stays accounted; the flows not read yet keep their last readings for the next dump.
            fresh.update((uid, last) for uid, last in live.remaining() if uid not in fresh)
            self._live = _Sealed(fresh)
            raise
        for uid, last in live.remaining():
            self._vanished.put(uid, last)
        self._live = _Sealed(fresh)
        self._age()

    def ended(self, flows: Iterable[Flow]) -> None:
        """Account DESTROY events: the final counters of flows that ended."""
        self._age()  # also between dumps: events come in all the time, and a bucket is meant to span its seconds
        live = self._live
        for flow in flows:
            uid = _identity(flow)
            counters = _counters(flow)
            base = self._vanished.take(uid, counters)
            if base is None:
                base = self._destroyed.take(uid, counters)
                if base != counters:  # not a repeated event: the live flow's end, if it may be
                    found = live.take(uid, counters)
                    if found is not None:
                        base = found
                    elif base is None:
                        base = 0
            self._account(flow, counters, base)
            self._destroyed.put(uid, counters)

    def take(self) -> List[Delta]:
        """The bytes accounted since the last take, per key, and forget them."""
        pending, self._pending = self._pending, {}
        return [(key, up, down) for key, (up, down) in pending.items()]

    def _account(self, flow: Flow, counters: int, base: int) -> None:
        up = (counters >> COUNTER_BITS) - (base >> COUNTER_BITS)
        down = (counters & COUNTER_MASK) - (base & COUNTER_MASK)
        if up or down:
            key = self._key(flow)
            total = self._pending.get(key)
            if total is None:
                self._pending[key] = [up, down]
            else:
                total[0] += up
                total[1] += down

    @staticmethod
    def _reclaim(uid: int, counters: int, *stores: _Retired) -> int:
        """The reading a flow not in the table continues, or 0 for a new flow."""
        for store in stores:
            base = store.take(uid, counters)
            if base is not None:
                return base
        return 0

    def _age(self) -> None:
        now = self._clock()
        self._vanished.age(now)
        self._destroyed.age(now)
