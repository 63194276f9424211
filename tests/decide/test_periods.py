"""Periods and buckets on the local wall clock, across DST and odd UTC offsets."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routerguard.config.model import Period
from routerguard.decide.periods import (
    DAY,
    HOUR,
    MIN_RATE_WINDOW,
    Zone,
    bucket_start,
    burn_rate,
    days_left,
    forecast_exhausted_at,
    period_bounds,
)

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # DST of 30 minutes
    "Asia/Kolkata",  # +5:30
    "Asia/Kathmandu",  # +5:45
    "Pacific/Apia",  # skipped 2011-12-30 altogether
]
REPEATING = ("daily", "weekly", "monthly")


def utc(*fields: int) -> float:
    return datetime(*fields, tzinfo=timezone.utc).timestamp()


def hours(seconds: float) -> float:
    return seconds / HOUR


def offset_changes(zone: Zone, start: float, end: float) -> list[int]:
    """The instants in [start, end) where the zone's UTC offset changes."""
    step = 6 * HOUR
    return [zone.offset_change(int(t), int(t) + step) for t in range(int(start), int(end), step)
            if zone.offset(t) != zone.offset(t + step)]


def dst_days() -> list[tuple[str, float]]:
    """(zone, an instant on the local day of each offset change) in 2026, Apia's 2011 jump too."""
    cases = []
    for name in ZONES:
        zone = Zone(name)
        years = [(utc(2011, 1, 1), utc(2012, 1, 1))] if name == "Pacific/Apia" else []
        for start, end in years + [(utc(2026, 1, 1), utc(2027, 1, 1))]:
            cases += [(name, change) for change in offset_changes(zone, start, end)]
    return cases


def assert_whole_period(period: Period, now: float, zone: Zone) -> None:
    """The period holds now, tiles time with its neighbours, begins at reset_hour and on bucket boundaries."""
    start, end = period_bounds(period, now, zone)
    assert start is not None and end is not None
    assert start <= now < end
    assert bucket_start(start, zone) == start and bucket_start(end, zone) == end
    assert period_bounds(period, end, zone)[0] == end
    assert period_bounds(period, start - 1, zone)[1] == start
    local = zone.to_local(start)
    in_gap = zone.offset(start - 1) != zone.offset(start)  # the reset hour was skipped: the change itself
    assert (local.hour, local.minute, local.second) == (period.reset_hour, 0, 0) or in_gap


# --- Zone ------------------------------------------------------------------------


def test_a_time_in_the_spring_gap_is_the_instant_of_the_change():
    berlin = Zone("Europe/Berlin")  # 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00 UTC
    assert berlin.to_epoch(datetime(2026, 3, 29, 2, 30)) == utc(2026, 3, 29, 1)
    assert berlin.to_epoch(datetime(2026, 3, 29, 3, 0)) == utc(2026, 3, 29, 1)


def test_a_repeated_autumn_time_is_its_first_occurrence():
    berlin = Zone("Europe/Berlin")  # 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC
    assert berlin.to_epoch(datetime(2026, 10, 25, 2, 30)) == utc(2026, 10, 25, 0, 30)
    assert berlin.to_epoch(datetime(2026, 10, 25, 3, 0)) == utc(2026, 10, 25, 2)


def test_to_local_gives_the_offset_in_force():
    local = Zone("America/New_York").to_local(utc(2026, 7, 1, 12))
    assert local.isoformat() == "2026-07-01T08:00:00-04:00"


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(ZONES), st.integers(int(utc(2005, 1, 1)), int(utc(2040, 1, 1))))
def test_local_time_round_trips_except_the_second_of_a_repeated_hour(name: str, epoch: int):
    zone = Zone(name)
    naive = zone.to_local(epoch).replace(tzinfo=None)
    back = zone.to_epoch(naive)
    assert back == epoch or (back < epoch and zone.to_local(back).replace(tzinfo=None) == naive)


def test_an_unknown_zone_falls_back_to_system_local_time():
    zone = Zone("Mars/Olympus_Mons")
    assert zone.name is None and zone.unavailable == "Mars/Olympus_Mons"
    assert zone.offset(utc(2026, 1, 1)) == time.localtime(utc(2026, 1, 1)).tm_gmtoff


@pytest.fixture
def system_tz(monkeypatch):
    """Set the process's TZ like OpenWrt does (a POSIX rule, no tz database needed)."""

    def use(value: str) -> None:
        monkeypatch.setenv("TZ", value)
        time.tzset()

    yield use
    monkeypatch.undo()
    time.tzset()


def test_system_local_time_with_a_posix_rule_matches_the_iana_zone(system_tz):
    system_tz("CET-1CEST,M3.5.0,M10.5.0/3")
    local, berlin = Zone(), Zone("Europe/Berlin")
    daily = Period("daily", reset_hour=2)
    for now in (utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 12), utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 12)):
        assert local.offset(now) == berlin.offset(now)
        assert period_bounds(daily, now, local) == period_bounds(daily, now, berlin)
        assert bucket_start(now, local) == bucket_start(now, berlin)


# --- buckets ---------------------------------------------------------------------


@pytest.mark.parametrize("name, now, start", [
    ("Europe/Berlin", utc(2026, 7, 1, 10, 47), utc(2026, 7, 1, 10)),
    ("Asia/Kolkata", utc(2026, 7, 1, 10, 47), utc(2026, 7, 1, 10, 30)),
    ("Asia/Kathmandu", utc(2026, 7, 1, 10, 47), utc(2026, 7, 1, 10, 15)),
    ("Asia/Kathmandu", utc(2026, 7, 1, 10, 7), utc(2026, 7, 1, 9, 15)),
    # Berlin falls back at 01:00 UTC: the repeated hour is a bucket of its own.
    ("Europe/Berlin", utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 0)),
    ("Europe/Berlin", utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 1)),
    # Lord Howe springs from 02:00 (+10:30) to 02:30 (+11) at 15:30 UTC: 02:30-03:00 is a half-hour bucket.
    ("Australia/Lord_Howe", utc(2026, 10, 3, 15, 20), utc(2026, 10, 3, 14, 30)),
    ("Australia/Lord_Howe", utc(2026, 10, 3, 15, 40), utc(2026, 10, 3, 15, 30)),
    ("Australia/Lord_Howe", utc(2026, 10, 3, 16, 10), utc(2026, 10, 3, 16)),
    # and falls back from 02:00 (+11) to 01:30 (+10:30) at 15:00 UTC.
    ("Australia/Lord_Howe", utc(2026, 4, 4, 14, 50), utc(2026, 4, 4, 14)),
    ("Australia/Lord_Howe", utc(2026, 4, 4, 15, 10), utc(2026, 4, 4, 15)),
    ("Australia/Lord_Howe", utc(2026, 4, 4, 15, 40), utc(2026, 4, 4, 15, 30)),
])
def test_bucket_starts_at_the_local_hour_or_the_offset_change(name: str, now: float, start: float):
    assert bucket_start(now, Zone(name)) == start


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(ZONES), st.integers(int(utc(2005, 1, 1)), int(utc(2040, 1, 1))), st.integers(1, 3 * HOUR))
def test_buckets_tile_time(name: str, epoch: int, later: int):
    zone = Zone(name)
    start = bucket_start(epoch, zone)
    assert start <= epoch < start + HOUR
    assert bucket_start(start, zone) == start
    assert bucket_start(epoch + later, zone) >= start
    local = zone.to_local(start)
    assert (local.minute, local.second) == (0, 0) or zone.offset(start - 1) != zone.offset(start)


def test_buckets_around_every_offset_change_are_at_most_an_hour():
    for name, change in dst_days():
        zone = Zone(name)
        starts = sorted({bucket_start(t, zone) for t in range(change - 3 * HOUR, change + 3 * HOUR, 300)})
        assert change in starts
        assert all(0 < b - a <= HOUR for a, b in zip(starts, starts[1:]))


# --- repeating periods -------------------------------------------------------------


def test_daily_before_the_reset_hour_is_yesterdays_period():
    period, zone = Period("daily", reset_hour=6), Zone("Europe/Berlin")
    assert period_bounds(period, utc(2026, 7, 2, 3), zone) == (utc(2026, 7, 1, 4), utc(2026, 7, 2, 4))
    assert period_bounds(period, utc(2026, 7, 2, 4), zone) == (utc(2026, 7, 2, 4), utc(2026, 7, 3, 4))


@pytest.mark.parametrize("name, day, length", [
    ("Europe/Berlin", utc(2026, 3, 29, 12), 23),
    ("Europe/Berlin", utc(2026, 10, 25, 12), 25),
    ("America/New_York", utc(2026, 3, 8, 18), 23),
    ("America/New_York", utc(2026, 11, 1, 18), 25),
    ("Australia/Lord_Howe", utc(2026, 10, 4, 1), 23.5),
    ("Australia/Lord_Howe", utc(2026, 4, 5, 1), 24.5),
    ("Asia/Kolkata", utc(2026, 3, 29, 12), 24),
])
def test_a_daily_period_follows_the_wall_clock_through_dst(name: str, day: float, length: float):
    start, end = period_bounds(Period("daily"), day, Zone(name))
    assert hours(end - start) == length


def test_a_reset_hour_skipped_by_spring_forward_resets_at_the_change():
    start, end = period_bounds(Period("daily", reset_hour=2), utc(2026, 3, 29, 12), Zone("Europe/Berlin"))
    assert (start, end) == (utc(2026, 3, 29, 1), utc(2026, 3, 30, 0))


def test_a_repeated_reset_hour_resets_once_at_its_first_occurrence():
    period, berlin = Period("daily", reset_hour=2), Zone("Europe/Berlin")
    first = period_bounds(period, utc(2026, 10, 25, 0, 30), berlin)  # 02:30 CEST
    second = period_bounds(period, utc(2026, 10, 25, 1, 30), berlin)  # 02:30 CET, an hour later
    assert first == second == (utc(2026, 10, 25, 0), utc(2026, 10, 26, 1))


def test_apia_skipped_day_leaves_no_empty_period():
    period, apia = Period("daily"), Zone("Pacific/Apia")
    change = utc(2011, 12, 30, 10)  # 2011-12-29 24:00 (-10) became 2011-12-31 00:00 (+14)
    assert period_bounds(period, change - 1, apia) == (utc(2011, 12, 29, 10), change)
    assert period_bounds(period, change, apia) == (change, utc(2011, 12, 31, 10))


def test_weekly_starts_on_the_last_reset_weekday():
    zone = Zone("UTC")
    monday = Period("weekly", reset_day=1)
    assert period_bounds(monday, utc(2026, 7, 1, 12), zone) == (utc(2026, 6, 29), utc(2026, 7, 6))  # a Wednesday
    sunday_6 = Period("weekly", reset_day=7, reset_hour=6)
    assert period_bounds(sunday_6, utc(2026, 7, 5, 5), zone) == (utc(2026, 6, 28, 6), utc(2026, 7, 5, 6))
    assert period_bounds(sunday_6, utc(2026, 7, 5, 6), zone) == (utc(2026, 7, 5, 6), utc(2026, 7, 12, 6))


def test_monthly_before_the_reset_day_is_last_months_period():
    period, zone = Period("monthly", reset_day=15, reset_hour=6), Zone("UTC")
    assert period_bounds(period, utc(2026, 1, 10), zone) == (utc(2025, 12, 15, 6), utc(2026, 1, 15, 6))
    assert period_bounds(period, utc(2026, 1, 15, 6), zone) == (utc(2026, 1, 15, 6), utc(2026, 2, 15, 6))


def test_monthly_reset_day_is_clamped_afresh_each_month():
    period, zone = Period("monthly", reset_day=31), Zone("UTC")
    assert period_bounds(period, utc(2027, 2, 10), zone) == (utc(2027, 1, 31), utc(2027, 2, 28))
    assert period_bounds(period, utc(2027, 3, 1), zone) == (utc(2027, 2, 28), utc(2027, 3, 31))
    assert period_bounds(period, utc(2028, 3, 1), zone) == (utc(2028, 2, 29), utc(2028, 3, 31))  # leap year
    assert period_bounds(period, utc(2027, 5, 1), zone) == (utc(2027, 4, 30), utc(2027, 5, 31))


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(ZONES), st.sampled_from(REPEATING), st.integers(1, 31), st.integers(0, 23),
    st.integers(int(utc(2005, 1, 1)), int(utc(2040, 1, 1))),
)
def test_repeating_periods_hold_now_and_start_on_bucket_boundaries(name: str, kind: str, day: int, hour: int, now: int):
    period = Period(kind, reset_day=min(day, 7) if kind == "weekly" else day, reset_hour=hour)
    assert_whole_period(period, now, Zone(name))


@pytest.mark.parametrize("name, change", dst_days())
def test_periods_on_offset_change_days_start_on_bucket_boundaries(name: str, change: int):
    zone = Zone(name)
    local_day = zone.to_local(change).replace(tzinfo=None)
    for hour in range(24):
        for kind in REPEATING:
            period = Period(kind, reset_day=local_day.isoweekday() if kind == "weekly" else local_day.day, reset_hour=hour)
            for now in (change - HOUR, change - 1, change, change + 1800, change + HOUR):
                assert_whole_period(period, now, zone)


# --- days plans and never-resetting ------------------------------------------------

ESIM = Period("days", start=datetime(2026, 10, 10, 9), days=30)  # Berlin leaves DST on 2026-10-25


def test_a_days_plan_runs_n_calendar_days_on_the_wall_clock():
    start, end = period_bounds(ESIM, utc(2026, 10, 20), Zone("Europe/Berlin"))
    assert (start, end) == (utc(2026, 10, 10, 7), utc(2026, 11, 9, 8))  # 09:00 CEST to 09:00 CET
    assert hours(end - start) == 30 * 24 + 1


def test_a_days_plan_neither_rolls_before_its_start_nor_after_its_end():
    zone = Zone("Europe/Berlin")
    bounds = (utc(2026, 10, 10, 7), utc(2026, 11, 9, 8))
    assert period_bounds(ESIM, utc(2026, 9, 1), zone) == bounds
    assert period_bounds(ESIM, utc(2027, 9, 1), zone) == bounds
    assert days_left(ESIM, utc(2026, 9, 1), zone) == 30 + 1 / 24
    assert days_left(ESIM, utc(2027, 9, 1), zone) == 0


def test_a_days_plan_start_with_an_offset_is_that_instant():
    aware = Period("days", start=datetime(2026, 10, 10, 9, tzinfo=timezone(timedelta(hours=2))), days=30)
    assert period_bounds(aware, utc(2026, 10, 20), Zone("Europe/Berlin")) == (utc(2026, 10, 10, 7), utc(2026, 11, 9, 8))


def test_no_period_never_resets():
    assert period_bounds(Period("none"), utc(2026, 1, 1), Zone("UTC")) == (None, None)
    assert days_left(Period("none"), utc(2026, 1, 1), Zone("UTC")) is None


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="hourly"):
        period_bounds(Period("hourly"), utc(2026, 1, 1), Zone("UTC"))


# --- figures for the plan view -----------------------------------------------------


def test_days_left_counts_to_the_end_of_the_period():
    assert days_left(Period("daily"), utc(2026, 7, 1, 18), Zone("UTC")) == 0.25


def test_burn_rate_is_bytes_per_day_so_far():
    assert burn_rate(4_000_000_000, utc(2026, 7, 1), utc(2026, 7, 3)) == 2_000_000_000
    assert burn_rate(10**9, None, utc(2026, 7, 3)) is None


def test_burn_rate_waits_for_enough_history():
    start = utc(2026, 7, 1)
    assert burn_rate(10_000_000, start, start + MIN_RATE_WINDOW - 1) is None
    assert burn_rate(10_000_000, start, start - DAY) is None  # a plan that has not begun


def test_forecast_when_the_allowance_runs_out():
    now = utc(2026, 7, 1)
    assert forecast_exhausted_at(1000, 400, 2.0, now) == now + 300
    assert forecast_exhausted_at(1000, 400, 2.0, now, end=now + 299) is None  # the reset comes first
    assert forecast_exhausted_at(1000, 400, 0.0, now) is None
    assert forecast_exhausted_at(1000, 1000, 0.0, now) == now  # already used up
