"""The effective time usage is charged to, with a fake wall clock and a fake monotonic clock."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routerguard.account.clock import JUMP_TOLERANCE, MIN_PLAUSIBLE_TIME, Clock
from routerguard.config.model import Period
from routerguard.core import Core
from routerguard.decide.periods import Zone, bucket_start, period_bounds

YEAR = 365 * 86400
MONTHLY = Period("monthly", reset_day=1)
BERLIN = Zone("Europe/Berlin")


def utc(*fields: int) -> float:
    return datetime(*fields, tzinfo=timezone.utc).timestamp()


MARK = utc(2026, 11, 20, 10)  # saved by the last run


class Router:
    """A wall clock that can be set and a monotonic clock that only moves on."""

    def __init__(self, wall: float, monotonic: float = 12.0) -> None:
        self.wall, self.monotonic = wall, monotonic

    def run(self, seconds: float) -> None:
        self.wall += seconds
        self.monotonic += seconds

    def clock(self, mark: float | None = None) -> Clock:
        clock = Clock(wall=lambda: self.wall, monotonic=lambda: self.monotonic)
        clock.restore(mark)
        return clock


def test_first_boot_in_1970_is_not_trusted_until_the_clock_is_plausible():
    router = Router(wall=30.0)
    clock = router.clock()
    assert clock.effective_now() == MIN_PLAUSIBLE_TIME
    assert not clock.trusted()
    router.run(600)
    assert clock.effective_now() == MIN_PLAUSIBLE_TIME + 600
    router.wall = utc(2026, 11, 20, 10)  # NTP
    assert clock.effective_now() == utc(2026, 11, 20, 10)
    assert clock.trusted()
    assert clock.last_jump is not None and clock.last_jump > 50 * YEAR


def test_boot_in_1970_charges_to_the_period_at_the_mark_until_ntp_corrects_it():
    router = Router(wall=30.0)
    clock = router.clock(MARK)
    assert clock.effective_now() == MARK and not clock.trusted()
    router.run(1800)
    assert clock.effective_now() == MARK + 1800  # moves on with the monotonic clock
    assert period_bounds(MONTHLY, clock.effective_now(), BERLIN) == period_bounds(MONTHLY, MARK, BERLIN)
    assert bucket_start(clock.effective_now(), BERLIN) == MARK
    router.run(1800)
    assert bucket_start(clock.effective_now(), BERLIN) == MARK + 3600  # hourly buckets still progress

    router.wall = MARK + 2 * 86400  # NTP: the router was off for two days
    assert clock.effective_now() == MARK + 2 * 86400
    assert clock.trusted()
    assert clock.last_jump is not None and clock.last_jump > 50 * YEAR


def test_boot_at_the_firmware_build_date_before_the_mark_is_not_trusted():
    router = Router(wall=utc(2025, 6, 1))  # plausible, but older than what we already charged to
    clock = router.clock(MARK)
    assert clock.effective_now() == MARK
    assert not clock.trusted()


def test_a_wall_clock_a_year_back_keeps_charging_to_the_period_in_force():
    router = Router(wall=MARK)
    clock = router.clock(MARK)
    assert clock.effective_now() == MARK and clock.trusted()
    in_force = period_bounds(MONTHLY, MARK, BERLIN)

    router.run(60)
    router.wall -= YEAR  # a bad NTP server
    assert clock.effective_now() == MARK + 60
    assert not clock.trusted()
    assert clock.last_jump == -YEAR
    router.run(3600)
    assert clock.effective_now() == MARK + 3660
    assert clock.last_jump is None  # reported once
    assert period_bounds(MONTHLY, clock.effective_now(), BERLIN) == in_force

    restarted = router.clock(clock.state())  # the daemon restarts with the clock still wrong
    assert restarted.effective_now() == MARK + 3660
    router.run(60)
    assert restarted.effective_now() == MARK + 3720 and not restarted.trusted()

    router.wall = MARK + 3720  # a good NTP server
    assert restarted.effective_now() == MARK + 3720
    assert restarted.trusted()


def test_a_wall_clock_a_year_ahead_is_accepted_and_reported():
    router = Router(wall=MARK)
    clock = router.clock(MARK)
    clock.effective_now()
    router.run(60)
    router.wall += YEAR
    assert clock.effective_now() == MARK + 60 + YEAR
    assert clock.trusted()
    assert clock.last_jump == YEAR
    assert period_bounds(MONTHLY, clock.effective_now(), BERLIN)[0] > MARK + YEAR - 31 * 86400


def test_the_daemon_logs_each_jump_once_with_the_time_usage_goes_to(fleet_config, caplog):
    core = Core(str(fleet_config("")))
    router = Router(wall=MARK)
    core.clock = router.clock(MARK)
    try:
        with caplog.at_level(logging.WARNING, logger="routerguard"):
            core.now()
            router.run(60)
            router.wall -= YEAR
            core.now()
            router.run(60)
            core.now()
            router.wall += YEAR  # NTP puts it right
            core.now()
    finally:
        core.db.close()
    assert [r.getMessage() for r in caplog.records if "wall clock" in r.getMessage()] == [
        "the wall clock jumped back by 365 days, 0:00:00 and is behind the time usage was charged to; usage goes on "
        "from 2026-11-20T10:01:00Z at the monotonic clock's pace, in the same period, until the wall clock catches up",
        "the wall clock jumped forward by 365 days, 0:00:00; taken as the real time, usage is charged from "
        "2026-11-20T10:02:00Z on",
    ]


def test_the_daemon_logs_a_clock_found_behind_at_start_once(fleet_config, caplog):
    core = Core(str(fleet_config("")))
    router = Router(wall=30.0)  # booted in 1970, before NTP
    core.clock = router.clock(MARK)
    try:
        with caplog.at_level(logging.WARNING, logger="routerguard"):
            for _ in range(3):
                core.now()
                router.run(60)
    finally:
        core.db.close()
    assert [r.getMessage() for r in caplog.records if "wall clock" in r.getMessage()] == [
        "the wall clock (1970-01-01T00:00:30Z) is behind the time usage was charged to; usage goes on from "
        "2026-11-20T10:00:00Z at the monotonic clock's pace, in the same period, until the wall clock catches up"]


def test_a_bogus_future_mark_is_cleared_by_restoring_none():
    router = Router(wall=MARK)
    clock = router.clock(MARK + YEAR)
    clock.effective_now()
    assert not clock.trusted()
    clock.restore(None)
    assert clock.effective_now() == MARK and clock.trusted()


def test_a_small_step_back_keeps_trust_and_never_moves_time_back():
    router = Router(wall=MARK)
    clock = router.clock(MARK)
    router.run(100)
    assert clock.effective_now() == MARK + 100
    router.wall -= 30  # NTP stepping a fast clock back, within the tolerance
    router.run(10)
    assert clock.effective_now() == MARK + 100
    assert clock.trusted() and clock.last_jump is None
    router.run(20)
    assert clock.effective_now() == MARK + 100  # held until the wall clock passes it again
    router.run(20)
    assert clock.effective_now() == MARK + 120


def test_a_step_back_beyond_the_tolerance_is_not_trusted():
    router = Router(wall=MARK)
    clock = router.clock(MARK)
    clock.effective_now()
    router.wall -= JUMP_TOLERANCE + 1
    router.run(5)
    assert clock.effective_now() == MARK + 5
    assert not clock.trusted()


def test_a_restart_resumes_at_the_mark_when_the_wall_clock_is_a_little_behind_it():
    router = Router(wall=MARK - 30)  # the mark was saved a moment before a slight step back
    clock = router.clock(MARK)
    assert clock.effective_now() == MARK and clock.trusted()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 7200), st.sampled_from([0.0, 0.0, 30.0, -30.0, -300.0, 3600.0, -YEAR, YEAR])),
                min_size=1, max_size=30))
def test_effective_time_never_goes_back_and_follows_monotonic_time_when_untrusted(steps: list[tuple[float, float]]):
    router = Router(wall=MARK)
    clock = router.clock(MARK)
    previous = clock.effective_now()
    for elapsed, jump in steps:
        router.run(elapsed)
        router.wall += jump
        now = clock.effective_now()
        assert now >= previous
        if not clock.trusted():
            assert now == pytest.approx(previous + elapsed)
        previous = now
