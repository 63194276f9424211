"""Leak guard alerts as plain decisions: thresholds once per level, unusual rates, unusual hours."""

from __future__ import annotations

from routerguard.decide import alerts
from routerguard.decide.alerts import DAY, HOUR, MIN_BURST_BYTES, threshold_alert, unusual_use, usual_hourly
from routerguard.decide.policy import Limit

PHONE = "02:00:00:00:00:0a"
NOW = 1_000 * DAY + 3 * HOUR + 1200  # 03:20 UTC
WEEK_AGO = NOW - 7 * DAY


def limit(used: int, allowance: int = 1000) -> Limit:
    return Limit("plan", allowance, used, "block", start=5 * DAY)


def utc_hour(t: float) -> int:
    return int(t % DAY // HOUR)


def test_a_threshold_alerts_once_then_the_next_one() -> None:
    alert, mark = threshold_alert("plan", "The plan", limit(810), (80, 95), set())
    assert (alert.kind, alert.level, alert.mac, alert.period, mark) == ("threshold", 80, None, 5 * DAY, [80])
    assert alert.message == "The plan is 80% used (810 B of 1.0 KB)."
    assert threshold_alert("plan", "The plan", limit(900), (80, 95), {80}) == (None, [])
    alert, mark = threshold_alert("plan", "The plan", limit(1000), (80, 95), {80})
    assert alert.level == 100 and mark == [80, 95, 100]
    assert "used up" in alert.message and "action: block" in alert.message


def test_levels_passed_together_tell_only_the_highest() -> None:
    alert, mark = threshold_alert("device:x", "Phone's daily cap", limit(960), (80, 95), set(), mac=PHONE)
    assert alert.level == 95 and mark == [80, 95] and alert.mac == PHONE


def test_below_every_threshold_nothing() -> None:
    assert threshold_alert("plan", "The plan", limit(10), (80, 95), set()) == (None, [])


def test_the_usual_rate_counts_idle_hours() -> None:
    assert usual_hourly([], 100) == 0
    assert usual_hourly([5] * 5, 100) == 0  # busy 5% of the time: its usual hour is idle
    assert usual_hourly(list(range(1, 101)), 100) == 90
    assert usual_hourly([7] * 20, 20) == 7


def quiet_history(bytes_per_hour: int = 10_000, skip_hour: int | None = None) -> list[tuple[int, int]]:
    hours = range(int(WEEK_AGO // HOUR), int(NOW // HOUR))
    return [(h * HOUR, bytes_per_hour) for h in hours if skip_hour is None or utc_hour(h * HOUR) != skip_hour]


def test_a_burst_from_a_quiet_device_is_unusual_in_rate_and_hour() -> None:
    found = unusual_use(PHONE, "Phone", 20_000_000, quiet_history(), NOW, WEEK_AGO, utc_hour)
    assert [a.kind for a in found] == ["unusual_rate", "unusual_hour"]
    assert found[0].scope == f"unusual_rate:{PHONE}" and found[0].period == NOW - NOW % alerts.COOLDOWN
    assert "20.0 MB in the last 10 minutes" in found[0].message
    assert "at 03:00" in found[1].message


def test_a_busy_device_bursting_as_usual_is_no_news() -> None:
    busy = quiet_history(bytes_per_hour=200_000_000)
    assert unusual_use(PHONE, "Phone", 20_000_000, busy, NOW, WEEK_AGO, utc_hour) == []


def test_busy_at_its_usual_hours_is_no_unusual_hour() -> None:
    history = quiet_history() + [(t, 50_000_000) for t in range(int(WEEK_AGO), int(NOW), int(DAY)) if utc_hour(t) == 3]
    kinds = [a.kind for a in unusual_use(PHONE, "Phone", 20_000_000, history, NOW, WEEK_AGO, utc_hour)]
    assert "unusual_hour" not in kinds


def test_small_bursts_and_new_devices_are_not_judged() -> None:
    assert unusual_use(PHONE, "Phone", MIN_BURST_BYTES - 1, quiet_history(), NOW, WEEK_AGO, utc_hour) == []
    assert unusual_use(PHONE, "Phone", 50_000_000, [], NOW, NOW - HOUR, utc_hour) == []
