"""When a cap's period starts and ends, and the hourly buckets usage is kept in.

Carriers reset plans on the local wall clock ("the 15th at midnight"), so
periods are computed in the router's configured zone and follow its daylight
saving changes: a daily period on a DST day is 23 or 25 hours long. Every
boundary is then turned into a UTC epoch, which is all the rest of the daemon
sees. Usage is stored in buckets that begin at local whole hours (and at
offset changes), so a period, which begins at a local whole hour, is always a
sum of whole buckets, even in zones offset by :30 or :45 from UTC.

Everything here is a plain function of its inputs: the caller passes `now`
(see routerguard.account.clock for which time that is).
"""

from __future__ import annotations

import calendar
import math
import time
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Callable

from routerguard.config.model import Period

try:
    from zoneinfo import ZoneInfo
except ImportError:  # a trimmed Python build on a router
    ZoneInfo = None  # type: ignore[assignment,misc]

HOUR = 3600
DAY = 86400
# Wider than any UTC offset (-12..+14 h), so the offsets a day before and a
# day after a local time are those on both sides of any change near it.
_OFFSET_PROBE = DAY
_UTC_EPOCH = datetime(1970, 1, 1)
# Under this much history a bytes-per-day figure is noise: ten minutes of a
# phone's update would forecast the plan gone by lunch.
MIN_RATE_WINDOW = HOUR


class Zone:
    """The router's time zone: an IANA zone, or the system's local time.

    OpenWrt often ships without the tz database (its zone is a POSIX TZ string
    the C library reads), so with no name, or a name that cannot be loaded,
    offsets come from time.localtime; `unavailable` then keeps the name that
    failed, for the daemon to warn about.
    """

    def __init__(self, name: str | None = None) -> None:
        self.name: str | None = None
        self.unavailable: str | None = None
        self._offset: Callable[[int], int] = _system_offset
        if name:
            zone = _load(name)
            if zone is None:
                self.unavailable = name
            else:
                self.name = name
                self._offset = lambda t: int(datetime.fromtimestamp(t, zone).utcoffset().total_seconds())  # type: ignore[union-attr]

    def __repr__(self) -> str:
        return f"Zone({self.name or 'system local time'})"

    def offset(self, epoch: float) -> int:
        """Seconds east of UTC in force at `epoch`."""
        return self._offset(math.floor(epoch))

    def to_local(self, epoch: float) -> datetime:
        """The aware local time at `epoch`, with the fixed offset then in force."""
        return datetime.fromtimestamp(epoch, timezone(timedelta(seconds=self.offset(epoch))))

    def to_epoch(self, local: datetime) -> float:
        """The UTC epoch of a naive local wall-clock time.

        A time skipped by a spring-forward change (02:30 in Berlin's gap) is
        the instant the clocks jumped, the first valid one after it, so a
        reset set in the gap happens as soon as that day's clock passes it.
        A time repeated by a fall-back change is its first occurrence (fold=0):
        a period starting then starts as early as the wall clock says.
        """
        wall = (local - _UTC_EPOCH).total_seconds()
        before, after = self.offset(wall - _OFFSET_PROBE), self.offset(wall + _OFFSET_PROBE)
        valid = [wall - off for off in (before, after) if self.offset(wall - off) == off]
        if valid:
            return min(valid)
        # In the gap: wall - after is before the change, wall - before after it.
        return float(self.offset_change(math.floor(wall - after), math.ceil(wall - before)))

    def offset_change(self, low: int, high: int) -> int:
        """The instant in (low, high] where the offset became the one at `high`; `low`'s must differ.

        Offsets change on whole seconds, once at most in the spans asked about
        here (under a day), so a bisection finds the change exactly.
        """
        target = self._offset(high)
        while high - low > 1:
            middle = (low + high) // 2
            if self._offset(middle) == target:
                high = middle
            else:
                low = middle
        return high


def _load(name: str) -> tzinfo | None:
    if ZoneInfo is None:
        return None
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # unknown zone, malformed key, unreadable file
        return None


def _system_offset(epoch: int) -> int:
    return time.localtime(epoch).tm_gmtoff


def bucket_start(now: float, zone: Zone) -> int:
    """The UTC epoch of the usage bucket containing `now`.

    A bucket is the local hour, cut short where the UTC offset changes: the
    boundaries are every local whole hour plus every offset change. Periods
    start at local whole hours, or at the change itself when their start falls
    in a spring-forward gap, so each is a sum of whole buckets in any zone
    (Lord Howe's 30-minute DST, India's +5:30, Nepal's +5:45 included).
    """
    epoch = math.floor(now)
    offset = zone.offset(epoch)
    start = epoch - (epoch + offset) % HOUR
    if zone.offset(start) != offset:
        start = zone.offset_change(start, epoch)
    return start


# --- periods -------------------------------------------------------------------
# A repeating period is numbered: the n-th day, week or month. Each kind says
# which number a local time is probably in and when the n-th one starts on the
# wall clock; period_bounds corrects the guess against DST edges.


def _daily_index(local: datetime, period: Period) -> int:
    return local.toordinal()


def _daily_start(index: int, period: Period) -> datetime:
    day = date.fromordinal(index)
    return datetime(day.year, day.month, day.day, period.reset_hour)


def _weekly_index(local: datetime, period: Period) -> int:
    # date.fromordinal(1) is a Monday, so ordinals 7n + d fall on weekday d (1 = Monday).
    return (local.toordinal() - period.reset_day) // 7


def _weekly_start(index: int, period: Period) -> datetime:
    return _daily_start(7 * index + period.reset_day, period)


def _monthly_index(local: datetime, period: Period) -> int:
    return local.year * 12 + local.month - 1


def _monthly_start(index: int, period: Period) -> datetime:
    year, month0 = divmod(index, 12)
    day = min(period.reset_day, calendar.monthrange(year, month0 + 1)[1])
    return datetime(year, month0 + 1, day, period.reset_hour)


_CYCLES: dict[str, tuple[Callable[[datetime, Period], int], Callable[[int, Period], datetime]]] = {
    "daily": (_daily_index, _daily_start),
    "weekly": (_weekly_index, _weekly_start),
    "monthly": (_monthly_index, _monthly_start),
}


def period_bounds(period: Period, now: float, zone: Zone) -> tuple[float | None, float | None]:
    """The UTC epochs [start, end) of the period in force at `now`.

    daily, weekly and monthly repeat on the wall clock at `reset_hour`;
    monthly's `reset_day` is clamped to short months (31 means Feb 28/29, the
    30th in April) and each month clamps afresh, so Jan 31 is followed by
    Feb 28 and then Mar 31. `days` is an eSIM plan: from `start` (local) to the
    same wall-clock time N calendar days later, as carriers count it, so a DST
    change inside makes it an hour longer or shorter. It never rolls over:
    before `start` the tuple lies ahead of `now` (the plan has not begun),
    after `end` behind it (the plan expired; the caller treats an expired
    plan's allowance as used up). `none` never resets: (None, None).
    """
    if period.kind == "none":
        return None, None
    if period.kind == "days":
        return _days_bounds(period, zone)
    if period.kind not in _CYCLES:
        raise ValueError(f"unknown period kind {period.kind!r}")
    guess, start_of = _CYCLES[period.kind]

    def epoch(index: int) -> float:
        return zone.to_epoch(start_of(index, period))

    index = guess(zone.to_local(now).replace(tzinfo=None), period)
    # The guess is the right one or a neighbour (a reset inside a DST gap or
    # fold, a now before today's reset hour): step until start <= now < end.
    while epoch(index) > now:
        index -= 1
    while epoch(index + 1) <= now:
        index += 1
    return epoch(index), epoch(index + 1)


def _days_bounds(period: Period, zone: Zone) -> tuple[float, float]:
    if period.start is None or period.days is None:
        raise ValueError("a 'days' period needs start and days")
    start = period.start
    if start.tzinfo is not None:  # written with an explicit offset: that instant, in the router's zone
        start = zone.to_local(start.timestamp()).replace(tzinfo=None)
        first = period.start.timestamp()
    else:
        first = zone.to_epoch(start)
    return first, zone.to_epoch(start + timedelta(days=period.days))


# --- figures for the plan view ---------------------------------------------------


def days_left(period: Period, now: float, zone: Zone) -> float | None:
    """Days (of 24 h) until the period ends; the whole length before a plan starts, 0 once expired."""
    start, end = period_bounds(period, now, zone)
    if start is None or end is None:
        return None
    return max(0.0, end - max(now, start)) / DAY


def burn_rate(used_bytes: int, period_start: float | None, now: float) -> float | None:
    """Bytes per day used so far this period; None for the first MIN_RATE_WINDOW, when it means nothing yet."""
    if period_start is None or now - period_start < MIN_RATE_WINDOW:
        return None
    return used_bytes * DAY / (now - period_start)


def forecast_exhausted_at(allowance: int, used: int, rate_bytes_per_s: float, now: float,
                          end: float | None = None) -> float | None:
    """When the allowance runs out if usage goes on at `rate_bytes_per_s`.

    `now` when it already has; None when nothing is being used or, given the
    period's `end`, not before the period resets (no alarm for a reset that
    comes first).
    """
    if used >= allowance:
        return now
    if rate_bytes_per_s <= 0:
        return None
    at = now + (allowance - used) / rate_bytes_per_s
    return None if end is not None and at >= end else at
