"""When to warn: plain functions of limits, recent bytes and the ledger's hourly history.

Three kinds:
- "threshold": a cap or the plan reached one of `config notify`'s
  percentages, or 100. Each level once per period per scope; when several
  are passed at once (the guard was off), only the highest is told.
- "unusual_rate": a device moved, in the last few minutes, far more than its
  own usual hourly rate (the 90th percentile of its hours, idle ones
  included, over the last week).
- "unusual_hour": a device busy at an hour of the day it has been idle at
  on every day of the last week: the 3 a.m. backup nobody asked for.
Both of the latter need a burst worth telling (MIN_BURST_BYTES) and enough
history to know the device; each is told at most once per COOLDOWN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from routerguard.decide.periods import DAY, HOUR
from routerguard.decide.policy import Limit, crossed_thresholds
from routerguard.units import format_size

THRESHOLD, UNUSUAL_RATE, UNUSUAL_HOUR = "threshold", "unusual_rate", "unusual_hour"
RECENT_WINDOW = 600.0  # seconds of traffic a burst is judged on
MIN_BURST_BYTES = 10_000_000  # in RECENT_WINDOW: less is never worth a message
RATE_FACTOR = 10  # "far more than usual"
USUAL_PERCENTILE = 0.9
LOOKBACK = 7 * DAY
MIN_HISTORY = DAY  # a device younger than this has no "usual" yet
IDLE_BYTES = 1_000_000  # an hour with less than this is an idle hour
MIN_IDLE_DAYS = 3
COOLDOWN = 6 * HOUR  # one unusual-use alert per device and kind at most this often


@dataclass(frozen=True)
class Alert:
    kind: str
    mac: str | None  # None for the plan and for groups
    message: str
    scope: str  # with period and level, what makes an alert "already sent"
    period: float
    level: int = 0
    details: dict = field(default_factory=dict)  # more for the webhook: percent, bytes
    params: dict = field(default_factory=dict)  # what the page needs to say it in the reader's language


def threshold_alert(scope: str, what: str, limit: Limit, thresholds: tuple[int, ...], sent: set[int],
                    mac: str | None = None, subject: dict | None = None) -> tuple[Alert | None, list[int]]:
    """The alert for the highest newly reached level of `limit`, and every level to mark as sent.

    `what` names the scope in the message ("the plan", "Zhang phone's daily cap");
    `subject` says the same for translation ({"subject": "device", "name": "Zhang phone"}).
    """
    reached = crossed_thresholds(limit, thresholds)
    if not set(reached) - sent:
        return None, []
    level = max(reached)
    used = f"{format_size(limit.used)} of {format_size(limit.allowance)}"
    if level >= 100:
        message = f"{what} is used up ({used}); action: {limit.action}."
    else:
        message = f"{what} is {level}% used ({used})."
    details = {"scope": scope, "level": level, "used_bytes": limit.used, "allowance_bytes": limit.allowance}
    params = {**(subject or {}), "level": level, "used": limit.used, "allowance": limit.allowance}
    return Alert(THRESHOLD, mac, message, scope, limit.start or 0.0, level, details, params), reached


def usual_hourly(active_hours: list[int], hours_known: int) -> int:
    """The USUAL_PERCENTILE of a device's hourly bytes, counting its idle hours (absent from `active_hours`) as 0."""
    hours_known = max(hours_known, len(active_hours))
    if not hours_known:
        return 0
    rank = int(USUAL_PERCENTILE * (hours_known - 1))  # position in all hours sorted ascending
    zeros = hours_known - len(active_hours)
    return 0 if rank < zeros else sorted(active_hours)[rank - zeros]


def unusual_rate(recent: int, usual: int) -> bool:
    """`recent` bytes in RECENT_WINDOW against the usual bytes an hour."""
    per_hour = recent * HOUR / RECENT_WINDOW
    return recent >= MIN_BURST_BYTES and per_hour > RATE_FACTOR * usual


def unusual_hour(recent: int, same_hour: list[int], days_known: int) -> bool:
    """Busy now, though idle at this hour on each of the `days_known` days (`same_hour`: their bytes, idle ones absent)."""
    return recent >= MIN_BURST_BYTES and days_known >= MIN_IDLE_DAYS and all(b < IDLE_BYTES for b in same_hour)


def unusual_use(mac: str, who: str, recent: int, history: list[tuple[int, int]], now: float,
                first_seen: float, hour_of_day: Callable[[float], int]) -> list[Alert]:
    """Unusual-use alerts for one device.

    `history`: (hour start, bytes) of its hours with traffic in the LOOKBACK
    before the current hour; `first_seen`: its first traffic (bounds what is
    known of it); `hour_of_day`: epoch → local hour 0-23.
    """
    if recent < MIN_BURST_BYTES:
        return []
    known_since = max(first_seen, now - LOOKBACK)
    if now - known_since < MIN_HISTORY:
        return []
    alerts = []
    period = now - now % COOLDOWN
    usual = usual_hourly([b for _, b in history], int((now - known_since) // HOUR))
    burst = f"{who} moved {format_size(recent)} in the last {int(RECENT_WINDOW // 60)} minutes"
    details = {"recent_bytes": recent, "usual_hourly_bytes": usual}
    params = {"name": who, "recent": recent, "minutes": int(RECENT_WINDOW // 60), "usual": usual, "factor": RATE_FACTOR}
    if unusual_rate(recent, usual):
        alerts.append(Alert(UNUSUAL_RATE, mac, f"{burst}, over {RATE_FACTOR} times its usual rate ({format_size(usual)} an hour).",
                            f"{UNUSUAL_RATE}:{mac}", period, 0, details, params))
    hour = hour_of_day(now)
    same_hour = [b for t, b in history if hour_of_day(t) == hour]
    if unusual_hour(recent, same_hour, int((now - known_since) // DAY)):
        alerts.append(Alert(UNUSUAL_HOUR, mac, f"{burst} at {hour:02d}:00, an hour it is normally idle.",
                            f"{UNUSUAL_HOUR}:{mac}", period, 0, details, {**params, "hour": hour}))
    return alerts


# --- the plan as eSIM bundles (kind "bundle") ---
BUNDLE = "bundle"
EXPIRY_NOTICE = DAY  # a bundle about to lapse is told this long before its end
EXPIRY_LEFT_SHARE = 0.10  # ... when more than this share of it is still left (use it or lose it)


@dataclass(frozen=True)
class BundleNow:
    """What bundle_alerts needs of one bundle: decide/bundles.py's Account and the bundle's name."""

    id: str
    name: str
    start: float
    end: float | None
    quota: int
    left: int
    state: str


def bundle_alerts(bundles: list[BundleNow], now: float) -> list[Alert]:
    """A bundle that expires within EXPIRY_NOTICE with more than EXPIRY_LEFT_SHARE left (once per bundle and
    end), and the last active bundle running out (once per set of bundles begun: an add-on makes it new)."""
    found = []
    for b in bundles:
        if b.state == "active" and b.end is not None and 0 < b.end - now <= EXPIRY_NOTICE \
                and b.left > EXPIRY_LEFT_SHARE * b.quota:
            hours = max(1, round((b.end - now) / HOUR))
            found.append(Alert(BUNDLE, None, f"Bundle {b.name} expires in {hours} h with {format_size(b.left)} left "
                                             f"({round(100 * b.left / b.quota)}%): use it or lose it.",
                               f"bundle:{b.id}:expiring", b.end, 0, {"bundle": b.id, "left_bytes": b.left, "end": b.end},
                               {"event": "expiring", "name": b.name, "hours": hours, "left": b.left,
                                "percent": round(100 * b.left / b.quota)}))
    begun = [b for b in bundles if b.state != "future"]
    if begun and not any(b.state == "active" for b in bundles):
        latest = max(begun, key=lambda b: b.start)
        found.append(Alert(BUNDLE, None, "The last active bundle ran out: the plan has nothing left until a bundle "
                                         "is added.", "bundle:none", latest.start, 0, {"bundle": latest.id},
                           {"event": "ran_out", "name": latest.name}))
    return found
