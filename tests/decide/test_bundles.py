"""The plan as eSIM bundles, pure: slices, drain order, day packs across DST days, expiry, the bill's split."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routerguard.config.bundles import Bundle
from routerguard.config.caps import Period
from routerguard.decide import bundles
from routerguard.decide.bundles import ACTIVE, EXHAUSTED, EXPIRED, FUTURE, Slice, drain
from routerguard.decide.periods import DAY, HOUR, Zone

MB = 1_000_000
BERLIN, NEW_YORK, UTC = Zone("Europe/Berlin"), Zone("America/New_York"), Zone("UTC")


def local(zone: Zone, *fields: int) -> float:
    return zone.to_epoch(datetime(*fields))


def test_a_quota_bundle_ends_the_same_wall_clock_time_n_days_later_across_dst():
    bundle = Bundle("b", "b", 7, quota=5 * MB, start=datetime(2026, 3, 26, 9, 0))  # Berlin springs forward Mar 29
    start, end = bundles.bundle_bounds(bundle, 0, BERLIN)
    assert start == local(BERLIN, 2026, 3, 26, 9) and end == local(BERLIN, 2026, 4, 2, 9)
    assert end - start == 7 * DAY - HOUR


@pytest.mark.parametrize("zone, day, hours", [
    (BERLIN, (2026, 3, 29), 23),  # spring forward
    (BERLIN, (2026, 10, 25), 25),  # fall back
    (NEW_YORK, (2026, 3, 8), 23),
    (NEW_YORK, (2026, 11, 1), 25),
])
def test_a_day_pack_has_one_slice_a_local_day_even_on_dst_days(zone, day, hours):
    the_day = datetime(*day)
    before, after = the_day - timedelta(days=1), the_day + timedelta(days=2)
    pack = Bundle("d", "d", 3, daily=MB, start=before.replace(hour=15, minute=30))
    slices = bundles.bundle_slices(pack, 0, zone)
    assert [s.quota for s in slices] == [MB] * 3
    assert slices[0].start == zone.to_epoch(before.replace(hour=15, minute=30)) and slices[0].end == zone.to_epoch(the_day)
    assert slices[1].start == zone.to_epoch(the_day) and slices[1].end - slices[1].start == hours * HOUR
    assert slices[2].end == zone.to_epoch(after)  # the midnight after the third day
    assert bundles.bundle_bounds(pack, 0, zone) == (slices[0].start, slices[2].end)


def test_a_bundle_without_start_starts_when_first_seen():
    seen = local(UTC, 2026, 5, 1, 10, 37)
    start, end = bundles.bundle_bounds(Bundle("a", "a", 1, quota=MB), seen, UTC)
    assert (start, end) == (seen, seen + DAY)


def test_usage_drains_the_bundle_that_expires_first():
    day = Slice("day", 0, 100, 3 * MB)
    month = Slice("month", 0, 1000, 6 * MB, order=1)
    result = drain([month, day], [(0, 0), (50, 4 * MB)])
    assert result.used == [1 * MB, 3 * MB] and result.over == 0


def test_what_is_left_at_expiry_is_gone_and_the_next_bundle_drains():
    week = Slice("week", 0, 100, 5 * MB)
    month = Slice("month", 0, 1000, 6 * MB, order=1)
    # 2 MB before the week ends, 3 MB after: the week's 3 MB left lapse, the month pays for the rest.
    result = drain([week, month], [(0, 0), (100, 2 * MB), (200, 5 * MB)])
    assert result.used == [2 * MB, 3 * MB]
    assert bundles.state(week, 2 * MB, 200) == EXPIRED and bundles.left_now([week, month], result.used, 200) == 3 * MB
    assert bundles.left_now([week, month], result.used, 99) == 6 * MB  # (at 99 the week still counted)


def test_bytes_beyond_every_bundle_are_over_and_an_add_on_starts_afresh():
    first = Slice("first", 0, 1000, 3 * MB)
    addon = Slice("addon", 500, 2000, 2 * MB, order=1)
    # 4 MB before the add-on (1 MB over: an exempt device), then 1 MB after it.
    result = drain([first, addon], [(0, 0), (500, 4 * MB), (600, 5 * MB)])
    assert result.used == [3 * MB, 1 * MB] and result.over == 1 * MB


def test_a_future_bundle_is_not_drained_before_it_starts():
    now_bundle = Slice("a", 0, 1000, MB)
    later = Slice("b", 500, 1000, MB, order=1)
    result = drain([now_bundle, later], [(0, 0), (100, 2 * MB)])
    assert result.used == [MB, 0] and result.over == MB
    assert bundles.state(later, 0, 100) == FUTURE


def test_a_count_that_goes_down_gives_back_to_the_slice_drained_last():
    a, b = Slice("a", 0, 100, 2 * MB), Slice("b", 0, 200, 5 * MB, order=1)
    result = drain([a, b], [(0, 0), (50, 4 * MB), (60, 3 * MB)])
    assert result.used == [2 * MB, 1 * MB]


def test_ties_drain_in_start_then_file_order():
    a, b = Slice("a", 10, 100, MB, order=1), Slice("b", 0, 100, MB, order=2)
    assert drain([a, b], [(10, 0), (20, MB)]).used == [0, MB]


def test_a_day_pack_and_a_bundle_over_days_the_day_pack_lapses_at_midnight():
    zone = BERLIN
    pack = Bundle("d", "d", 2, daily=3 * MB, start=datetime(2026, 3, 28, 9))
    month = Bundle("m", "m", 30, quota=6 * MB, start=datetime(2026, 3, 28, 9))
    slices = bundles.bundle_slices(pack, 0, zone) + bundles.bundle_slices(month, 0, zone, order=1)
    midnight = local(zone, 2026, 3, 29)
    points = [(slices[0].start, 0), (midnight, 1 * MB), (midnight + 10 * HOUR, 1 * MB + 5 * MB)]
    result = drain(slices, points)
    # day 1: 1 MB of the pack's 3 (2 lapse); day 2: the pack's 3, then 2 from the month
    assert result.used == [1 * MB, 3 * MB, 2 * MB]
    accounts = bundles.account("d", slices[:2], result.used[:2], midnight + 10 * HOUR)
    assert (accounts.quota, accounts.used, accounts.left, accounts.state) == (3 * MB, 3 * MB, 0, EXHAUSTED)
    assert accounts.total_used == 4 * MB and accounts.slice_end == local(zone, 2026, 3, 30)
    month_account = bundles.account("m", slices[2:], result.used[2:], midnight + 10 * HOUR)
    assert (month_account.left, month_account.state) == (4 * MB, ACTIVE)
    assert bundles.left_now(slices, result.used, midnight + 10 * HOUR) == 4 * MB


def test_the_recurring_plan_is_a_slice_a_period():
    period = Period("daily")
    since, now = local(UTC, 2026, 5, 1, 12), local(UTC, 2026, 5, 3, 8)
    slices = bundles.plan_slices(MB, period, since, now, UTC)
    assert [s.start for s in slices] == [local(UTC, 2026, 5, d) for d in (1, 2, 3)]
    assert slices[-1].valid(now) and all(s.bundle == "plan" for s in slices)


def test_next_change_is_the_next_start_or_end():
    slices = [Slice("a", 0, 100, 1), Slice("b", 50, 300, 1)]
    assert bundles.next_change(slices, 60) == 100 and bundles.next_change(slices, 300) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 60), st.integers(1, 10 * MB)), min_size=1, max_size=5),
       st.lists(st.integers(0, 3 * MB), min_size=1, max_size=8))
def test_drained_bytes_plus_over_equal_the_count_and_no_slice_exceeds_its_quota(defs, deltas):
    slices = [Slice(str(i), s, s + length, q, i) for i, (s, length, q) in enumerate(defs)]
    times = sorted(set(bundles.boundaries(slices, 200)) | {0, 200})
    points, count = [], 0
    for t, d in zip(times, deltas * len(times)):
        points.append((t, count))
        count += d
    result = drain(slices, points)
    assert all(0 <= u <= s.quota for u, s in zip(result.used, slices))
    assert sum(result.used) + result.over == points[-1][1] - points[0][1]


def test_split_adds_up_and_follows_weights():
    parts = bundles.split(10, {"a": 1, "b": 1, "c": 1})
    assert sum(parts.values()) == 10 and sorted(parts.values()) == [3, 3, 4]
    assert bundles.split(7, {"a": 0, "b": 5}) == {"a": 0, "b": 7}
    assert bundles.split(5, {}) == {}


@settings(max_examples=300, deadline=None)
@given(st.decimals(min_value=0, max_value=100000, places=2), st.integers(1, 10**10),
       st.dictionaries(st.text(min_size=1, max_size=3), st.integers(0, 10**9), max_size=6))
def test_a_bundles_cost_split_adds_up_to_price_times_share_used_to_the_cent(price, quota, bytes_by):
    used = sum(bytes_by.values())
    quota = max(quota, used)
    amounts = bundles.cost_split(price, quota, bytes_by)
    assert sum(amounts.values(), Decimal(0)) == bundles.bundle_cost(price, quota, used)
    for k, b in bytes_by.items():
        assert abs(amounts[k] - price * b / quota) < Decimal("0.01") + Decimal("1e-9")


def test_a_bundles_cost_split_example():
    # 700 PKR for 5 GB, 2 GB used by three devices: 280.00 in all.
    amounts = bundles.cost_split(Decimal(700), 5_000_000_000, {"a": 1_000_000_000, "b": 666_666_667, "c": 333_333_333})
    assert amounts == {"a": Decimal("140.00"), "b": Decimal("93.33"), "c": Decimal("46.67")}
    assert sum(amounts.values()) == Decimal("280.00")


def test_expiry_arithmetic_in_utc_with_an_explicit_offset():
    bundle = Bundle("x", "x", 1, quota=MB, start=datetime(2026, 5, 1, 23, 0, tzinfo=timezone.utc))
    start, end = bundles.bundle_bounds(bundle, 0, BERLIN)
    assert start == datetime(2026, 5, 1, 23, 0, tzinfo=timezone.utc).timestamp() and end - start == DAY


# --- alerts of kind "bundle" ---
from routerguard.decide.alerts import BUNDLE, BundleNow, bundle_alerts  # noqa: E402


def test_a_bundle_expiring_within_a_day_with_over_a_tenth_left_is_told_once_per_end():
    now = 1000.0
    soon = BundleNow("a", "Add-on", 0, now + 5 * HOUR, 10 * MB, 2 * MB, ACTIVE)
    almost_used = BundleNow("b", "B", 0, now + 5 * HOUR, 10 * MB, MB, ACTIVE)
    later = BundleNow("c", "C", 0, now + 2 * DAY, 10 * MB, 9 * MB, ACTIVE)
    found = bundle_alerts([soon, almost_used, later], now)
    assert [(a.kind, a.scope, a.period) for a in found] == [(BUNDLE, "bundle:a:expiring", now + 5 * HOUR)]
    assert found[0].params == {"event": "expiring", "name": "Add-on", "hours": 5, "left": 2 * MB, "percent": 20}


def test_the_last_active_bundle_running_out_is_told_and_an_add_on_makes_it_new():
    now = 1000.0
    used_up = BundleNow("a", "A", 0, now + DAY, MB, 0, EXHAUSTED)
    gone = BundleNow("b", "B", 10, now - 1, MB, 0, EXPIRED)
    assert [a.scope for a in bundle_alerts([used_up, gone], now)] == ["bundle:none"]
    assert bundle_alerts([used_up, gone], now)[0].period == 10
    addon = BundleNow("c", "C", 500, now + 7 * DAY, MB, MB, ACTIVE)
    assert bundle_alerts([used_up, gone, addon], now) == []
    assert bundle_alerts([BundleNow("f", "F", now + 10, now + DAY, MB, MB, FUTURE)], now) == []
