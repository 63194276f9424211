"""Which time to charge usage to, on a router whose wall clock may lie.

A travel router has no battery-backed clock: it boots in 1970 or at its
firmware's build date and waits for NTP, which then jumps the clock forward,
and a bad NTP server or a slip of the admin's hand can throw it back a year.
Charging usage to such a time would file it in the wrong period, and a clock
back in an old period would hand out a fresh allowance. So usage is charged
to an effective time that only ever moves forward and follows the wall clock
only while the wall clock is believable.

The one piece of state worth keeping across restarts is the mark: the latest
effective time handed out. The caller saves `state()` in its database and
gives it back with `restore()` on start.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Callable

# 2025-01-01T00:00:00Z: earlier than any real "now" for this software, later
# than 1970 and than the build date a router boots at, so a first boot with an
# empty database does not start periods in the past.
MIN_PLAUSIBLE_TIME = 1735689600.0
# How far the wall clock may move against the monotonic clock between two
# readings without counting as a jump: NTP's small steps stay under this.
JUMP_TOLERANCE = 120.0


class Clock:
    """Effective time from a wall clock, a monotonic clock and a persisted mark.

    The rules, each from a way router clocks go wrong:

    - The wall clock is trusted only from MIN_PLAUSIBLE_TIME on, mark or no
      mark: a first boot in 1970 with an empty database must not charge usage
      to 1970 (it is charged from MIN_PLAUSIBLE_TIME on instead).
    - The wall clock is trusted only when it is not behind the expected time
      (the mark advanced by monotonic time since it was set) by more than
      JUMP_TOLERANCE. A boot in 1970 or at the build date, or a jump back by
      a year, puts it far behind: effective time then goes on from the mark
      at the pace of the monotonic clock, which never jumps, so usage keeps
      its hourly buckets and the period in force; no period resets because
      the wall clock went back.
    - It becomes trusted again when it comes back level with or past the
      expected time, as NTP does when it corrects a 1970 boot. It is not
      trusted merely for getting past the old mark: a clock set back a year
      reaches the old mark a year late, while the expected time is right.
    - A forward jump is accepted as real time (it is how NTP corrects a boot
      clock) and reported in `last_jump`, so the daemon can log it.
    - Effective time never decreases: a small backward step by NTP (within
      the tolerance) holds it until the wall clock passes it again.

    A forward jump to a bogus future moves the mark there for good; the way
    back is `restore(None)` once the admin has fixed the clock.
    """

    def __init__(self, wall: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._wall, self._monotonic = wall, monotonic
        self._mark: float | None = None  # latest effective time handed out
        self._mark_monotonic: float | None = None  # monotonic reading then; None for a mark from before this boot
        self._last_wall: float | None = None
        self._trusted = False
        self.last_jump: float | None = None  # signed seconds the wall clock jumped in the latest effective_now()

    def state(self) -> float | None:
        """The mark to save: the latest effective time handed out."""
        return self._mark

    def restore(self, value: float | None) -> None:
        """Carry on from a saved mark (None: no mark, trust any plausible wall clock).

        The time the router was off is unknown, so effective time resumes at
        the mark itself until the wall clock is trusted.
        """
        self._mark, self._mark_monotonic, self._last_wall = value, None, None

    def wall(self) -> float | None:
        """The wall clock's reading at the latest effective_now()."""
        return self._last_wall

    def trusted(self) -> bool:
        """Whether the latest effective_now() followed the wall clock."""
        return self._trusted

    def effective_now(self) -> float:
        """The time to charge usage to now (see the class's rules)."""
        wall, monotonic = self._wall(), self._monotonic()
        self.last_jump = self._jump(wall, monotonic)
        expected = self._expected(monotonic)
        self._trusted = wall >= MIN_PLAUSIBLE_TIME and (expected is None or wall >= expected - JUMP_TOLERANCE)
        if self._trusted:
            now = wall if self._mark is None else max(wall, self._mark)
        else:
            now = MIN_PLAUSIBLE_TIME if expected is None else expected
        self._mark, self._mark_monotonic, self._last_wall = now, monotonic, wall
        return now

    def _expected(self, monotonic: float) -> float | None:
        """The mark moved on by the monotonic time since it was set."""
        if self._mark is None or self._mark_monotonic is None:
            return self._mark
        return self._mark + monotonic - self._mark_monotonic

    def _jump(self, wall: float, monotonic: float) -> float | None:
        """How far the wall clock moved against the monotonic one since the last reading, past the tolerance."""
        if self._last_wall is None or self._mark_monotonic is None:
            return None
        jump = wall - (self._last_wall + monotonic - self._mark_monotonic)
        return jump if abs(jump) > JUMP_TOLERANCE else None


def describe_jump(jump: float, now: float, trusted: bool) -> str:
    """The daemon's log line for a wall-clock jump: an admin reading it learns which time usage goes to."""
    way = "forward" if jump > 0 else "back"
    amount = timedelta(seconds=round(abs(jump)))
    if trusted:
        return f"the wall clock jumped {way} by {amount}; taken as the real time, usage is charged from {_utc(now)} on"
    return f"the wall clock jumped {way} by {amount} and {_behind(now)}"


def describe_behind(wall: float, now: float) -> str:
    """The log line for a wall clock found behind without a jump: a start before NTP, or after it was set back."""
    return f"the wall clock ({_utc(wall)}) {_behind(now)}"


def _behind(now: float) -> str:
    return (f"is behind the time usage was charged to; usage goes on from {_utc(now)} at the monotonic clock's "
            f"pace, in the same period, until the wall clock catches up")


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
