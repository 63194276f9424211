"""The plan as eSIM bundles: which bundle each byte came from, as a plain function of counts at moments.

A bundle is cut into slices, each a quota valid over [start, end): a quota
bundle is one slice (from its start to the same wall-clock time N days
later, as periods.py counts an eSIM plan), a day pack one slice per local
day (its first from its start to the next local midnight, its last ending
at the midnight after its N-th day), the recurring `config plan` one slice
per period. What a slice has left when it ends is gone.

Between two consecutive boundaries (every slice's start and end) the set
of valid slices does not change, so the usage of that segment is drained
greedily: the slice that expires first, to its quota, then the next. The
input is the plan's count (decide/limits.py: usage in the plan's scope,
adjusted) at each boundary that has passed and now; the output is every
slice's used bytes, and each segment's bytes per slice (the bill's split
follows them). A count that goes down between two boundaries (a
calibration that says less was used) gives bytes back, to the slices
drained last. Nothing here reads a clock, a file or the ledger.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Hashable, Iterable, Mapping, TypeVar

from routerguard.config.bundles import PLAN_ID, Bundle
from routerguard.config.caps import Period
from routerguard.decide import periods

ACTIVE, EXHAUSTED, EXPIRED, FUTURE = "active", "exhausted", "expired", "future"
STATES = (ACTIVE, EXHAUSTED, EXPIRED, FUTURE)
CENT = Decimal("0.01")
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Slice:
    """A quota valid over [start, end) (end None: never expires), of bundle `bundle`."""

    bundle: str
    start: float
    end: float | None
    quota: int
    order: int = 0  # the bundle's place in the file: the last tie-break of the drain order

    def expiry_key(self) -> tuple[float, float, int]:
        return (math.inf if self.end is None else self.end, self.start, self.order)

    def valid(self, at: float) -> bool:
        return self.start <= at and (self.end is None or at < self.end)


@dataclass(frozen=True)
class Segment:
    """[start, end) between two consecutive points, the bytes each slice (by index) gave in it, and those none could."""

    start: float
    end: float
    taken: dict[int, int]
    over: int = 0


@dataclass
class Drain:
    used: list[int]  # per slice, in the order given
    segments: list[Segment] = field(default_factory=list)
    over: int = 0  # bytes counted while no valid slice had any left (exempt devices, the kernel's last packet)


# --- slices ------------------------------------------------------------------------


def local_start(bundle: Bundle, first_seen: float, zone: periods.Zone) -> tuple[datetime, float]:
    """The bundle's start as a naive local time and as an epoch (no start given: when it was first seen)."""
    if bundle.start is None:
        return zone.to_local(first_seen).replace(tzinfo=None), first_seen
    if bundle.start.tzinfo is not None:
        return zone.to_local(bundle.start.timestamp()).replace(tzinfo=None), bundle.start.timestamp()
    return bundle.start, zone.to_epoch(bundle.start)


def _midnight(day: datetime, zone: periods.Zone) -> float:
    return zone.to_epoch(datetime(day.year, day.month, day.day))


def bundle_bounds(bundle: Bundle, first_seen: float, zone: periods.Zone) -> tuple[float, float]:
    """[start, end): a quota bundle ends N days later at the same wall-clock time (an hour off across a DST
    change, as carriers count it), a day pack at the local midnight after its N-th day."""
    local, start = local_start(bundle, first_seen, zone)
    if bundle.daily is not None:
        return start, _midnight(local + timedelta(days=bundle.days), zone)
    return start, zone.to_epoch(local + timedelta(days=bundle.days))


@functools.lru_cache(maxsize=512)  # a bundle's slices do not change: a 30-day pack's are worked out once
def bundle_slices(bundle: Bundle, first_seen: float, zone: periods.Zone, order: int = 0) -> tuple[Slice, ...]:
    return tuple(_bundle_slices(bundle, first_seen, zone, order))


def _bundle_slices(bundle: Bundle, first_seen: float, zone: periods.Zone, order: int) -> list[Slice]:
    local, start = local_start(bundle, first_seen, zone)
    if bundle.daily is None:
        return [Slice(bundle.id, start, bundle_bounds(bundle, first_seen, zone)[1], bundle.quota or 0, order)]
    found = []
    for day in range(bundle.days):
        end = _midnight(local + timedelta(days=day + 1), zone)
        found.append(Slice(bundle.id, start, end, bundle.daily, order))
        start = end
    return found


def plan_slices(quota: int, period: Period, since: float, now: float, zone: periods.Zone, order: int = -1) -> list[Slice]:
    """The recurring plan as one slice per period, from the period in force at `since` to the one at `now`."""
    if period.kind == "none":
        return [Slice(PLAN_ID, -math.inf, None, quota, order)]
    if period.kind == "days":
        start, end = periods.period_bounds(period, now, zone)
        return [Slice(PLAN_ID, start, end, quota, order)]  # type: ignore[arg-type]
    found: list[Slice] = []
    at = min(since, now)
    while True:
        start, end = periods.period_bounds(period, at, zone)
        found.append(Slice(PLAN_ID, start, end, quota, order))  # type: ignore[arg-type]
        if end is None or end > now:
            return found
        at = end


def boundaries(slices: Iterable[Slice], until: float) -> list[float]:
    """Every slice start and end up to `until`, sorted: where the set of valid slices changes."""
    found = set()
    for s in slices:
        for t in (s.start, s.end):
            if t is not None and math.isfinite(t) and t <= until:
                found.add(t)
    return sorted(found)


# --- the drain --------------------------------------------------------------------


def _sweep(slices: list[Slice], times: list[float]):
    """For each segment [t0, t1) of consecutive `times`: (t0, t1, the slices valid over all of it, the one that
    expires first first). A sweep over the slices sorted by start: a day pack of years is thousands of slices,
    of which one is valid at a time."""
    by_start = sorted(range(len(slices)), key=lambda i: slices[i].start)
    current: list[int] = []
    next_up = 0
    for t0, t1 in zip(times, times[1:]):
        if t1 <= t0:
            continue
        while next_up < len(by_start) and slices[by_start[next_up]].start <= t0:
            current.append(by_start[next_up])
            next_up += 1
        current = [i for i in current if slices[i].end is None or slices[i].end > t0]
        valid = sorted((i for i in current if slices[i].end is None or slices[i].end >= t1),
                       key=lambda i: slices[i].expiry_key())
        yield t0, t1, valid


def drain(slices: list[Slice], points: list[tuple[float, int]]) -> Drain:
    """Each slice's used bytes, given the plan's count at each boundary passed and now (`points`, by time).

    Before the first point nothing is drained; a segment's bytes go to the
    slices valid over all of it, the one that expires first first.
    """
    used = [0] * len(slices)
    result = Drain(used)
    counts = dict(points)
    for t0, t1, valid in _sweep(slices, [t for t, _ in points]):
        delta, taken = counts[t1] - counts[t0], {}
        if delta >= 0:
            for i in valid:
                take = min(delta, slices[i].quota - used[i])
                if take > 0:
                    used[i] += take
                    taken[i] = take
                    delta -= take
            over = delta
        else:  # the count went down: give back, the slice drained last first
            over = 0
            for i in reversed(valid):
                back = min(-delta, used[i])
                if back > 0:
                    used[i] -= back
                    taken[i] = -back
                    delta += back
        result.over += over
        result.segments.append(Segment(t0, t1, taken, over))
    return result


def state(s: Slice, used: int, now: float) -> str:
    if now < s.start:
        return FUTURE
    if s.end is not None and now >= s.end:
        return EXPIRED
    return EXHAUSTED if used >= s.quota else ACTIVE


@dataclass(frozen=True)
class Account:
    """One bundle now: for a day pack in its days, today's slice (quota, used, left, today's end)."""

    id: str
    start: float
    end: float | None
    quota: int
    used: int
    left: int
    state: str
    total_used: int  # over every slice: what the bill is split on
    slice_end: float | None  # when what is left now lapses (a day pack: tonight)


def account(bundle_id: str, slices: list[Slice], used: list[int], now: float) -> Account:
    """The bundle made of `slices` (its own, in time order) at `now`, given each slice's used bytes."""
    total_used = sum(used)
    first, last = slices[0], slices[-1]
    current = next((i for i, s in enumerate(slices) if s.valid(now)), None)
    if current is None:
        quota = sum(s.quota for s in slices)
        st = FUTURE if now < first.start else EXPIRED
        left = quota if st == FUTURE else 0
        return Account(bundle_id, first.start, last.end, quota, total_used, left, st, total_used, None)
    s, u = slices[current], used[current]
    return Account(bundle_id, first.start, last.end, s.quota, u, max(0, s.quota - u), state(s, u, now), total_used,
                   s.end)


def left_now(slices: list[Slice], used: list[int], now: float) -> int:
    """What the valid slices have left at `now`: the plan's quota in the kernel, beyond what it counted."""
    return sum(max(0, s.quota - u) for s, u in zip(slices, used) if s.valid(now))


def next_change(slices: Iterable[Slice], now: float) -> float | None:
    """The next moment after `now` a slice starts or ends (when the daemon's quota must change)."""
    later = [t for s in slices for t in (s.start, s.end) if t is not None and math.isfinite(t) and t > now]
    return min(later, default=None)


# --- splitting --------------------------------------------------------------------


def split(total: int, weights: Mapping[K, int]) -> dict[K, int]:
    """`total` in whole units shared in proportion to `weights`, largest remainders first: the parts add up."""
    weight = sum(w for w in weights.values() if w > 0)
    if weight <= 0 or total == 0:
        return {k: 0 for k in weights}
    sign, total = (1, total) if total > 0 else (-1, -total)
    parts = {k: total * max(w, 0) // weight for k, w in weights.items()}
    rest = total - sum(parts.values())
    by_remainder = sorted(weights, key=lambda k: (-(total * max(weights[k], 0) % weight), str(k)))
    for k in by_remainder[:rest]:
        parts[k] += 1
    return {k: sign * v for k, v in parts.items()}


def bundle_cost(price: Decimal, quota: int, used: int) -> Decimal:
    """What the used share of a bundle cost: price × used / quota, to the cent (half up)."""
    if quota <= 0:
        return Decimal(0)
    return (price * used / quota).quantize(CENT, rounding=ROUND_HALF_UP)


def cost_split(price: Decimal, quota: int, bytes_by: Mapping[K, int]) -> dict[K, Decimal]:
    """Each one's cost of a bundle by its bytes; the amounts add up to bundle_cost of their sum, to the cent.

    Each share is worth price × bytes / quota; those are floored to cents and
    the cents left over go to the largest remainders (largest-remainder
    apportionment), so no row is off by more than a cent and none is lost.
    """
    used = sum(bytes_by.values())
    cents = int(bundle_cost(price, quota, used) / CENT)
    if not used:
        return {k: Decimal(0).quantize(CENT) for k in bytes_by}
    exact = {k: price * b / quota / CENT for k, b in bytes_by.items()}
    floors = {k: int(v.to_integral_value(rounding=ROUND_FLOOR)) for k, v in exact.items()}
    rest = cents - sum(floors.values())
    order = sorted(bytes_by, key=lambda k: (-(exact[k] - floors[k]), -bytes_by[k], str(k)))
    for k in order[:rest]:  # 0 <= rest <= len(order): the total is within half a cent of the exact sum
        floors[k] += 1
    return {k: (Decimal(v) * CENT).quantize(CENT) for k, v in floors.items()}


# --- the forecast -----------------------------------------------------------------


def forecast(slices: list[Slice], used: list[int], now: float, rate: float) -> tuple[float | None, list[int]]:
    """When the bundles run out if usage goes on at `rate` bytes a second, and what each slice will have left
    when it ends (expiring unused) at that rate; now when nothing valid has anything left.

    The same drain as above, run forward over the boundaries to come: a
    bundle that starts later lifts a plan that ran out, so the answer is the
    first moment nothing valid is left.
    """
    used = list(used)
    ahead = sorted({now} | {t for s in slices for t in (s.start, s.end)
                            if t is not None and math.isfinite(t) and t > now})
    exhausted: float | None = None
    if rate > 0:
        for t0, t1, valid in _sweep(slices, ahead):
            need = rate * (t1 - t0)
            for i in valid:
                take = min(need, slices[i].quota - used[i])
                if take > 0:
                    used[i] += int(take)
                    need -= take
            if need > 0 and exhausted is None:
                exhausted = t1 - need / rate
        if exhausted is None:
            forever = sum(max(0, s.quota - u) for s, u in zip(slices, used) if s.end is None and s.start <= ahead[-1])
            exhausted = ahead[-1] + forever / rate if forever or not ahead[1:] else ahead[-1]
    elif left_now(slices, used, now) == 0:
        exhausted = now
    unused = [max(0, s.quota - u) if s.end is not None and s.end > now else 0 for s, u in zip(slices, used)]
    return exhausted, unused


def device_split(taken: int, weights: Mapping[K, int], fallback: Mapping[K, int]) -> dict[K, int]:
    """A segment's bytes from one slice shared by what each one moved in it (or, when the hours of the segment
    show nothing, in its hour bucket): the bill follows each device's bytes, and the parts add up."""
    return split(taken, weights if any(w > 0 for w in weights.values()) else fallback)
