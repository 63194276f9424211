"""Every limit in force at one moment, and what it decides: the one place limits are computed.

A scope (a device's own cap, or the default cap standing in for it; a
group's shared cap; the plan) has used, this period, what its devices moved
since the period began minus the usage at a manual reset, plus the offset a
calibration to the carrier's figure set (decide/calibration.py; the plan
only, in practice), against an allowance of its cap plus this period's
top-ups; an expired eSIM plan has nothing left. The kernel's quotas
(enforce/), the alerts (leakguard.py) and the page (service.py) all read one
Snapshot, so they never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from routerguard.account.adjustments import Adjustments
from routerguard.account.bundle_marks import BundleMarks
from routerguard.account.ledger import ROUTER, Ledger
from routerguard.config.model import Cap, Config, Period
from routerguard.decide import bundles, calibration, periods
from routerguard.decide.policy import DEFAULT_WARN_PERCENT, OK, Decision, Limit, decide


def warn_percent(config: Config) -> float:
    """The usage (percent of a limit) from which a device or group is "warned": the lowest alert threshold."""
    return min(config.notify.thresholds, default=DEFAULT_WARN_PERCENT)


def starts_in_force(config: Config, now: float, zone: periods.Zone,
                    first_seen: Mapping[str, float] | None = None) -> set[float | None]:
    """The starts of the periods of the plan and of every cap at `now`: the usage windows the limits count
    (None: a period that never ends). The ledger keeps sums at hand for these only. With bundles, the hour
    buckets of their boundaries that have passed too (`first_seen`: the start of a bundle given none)."""
    caps = [config.plan, config.default_cap, *(g.cap for g in config.groups.values()),
            *(d.cap for d in config.devices.values())]
    starts: set[float | None] = {periods.period_bounds(cap.period, now, zone)[0] for cap in caps if cap is not None}
    if config.bundles:  # the plan's count since the first bundle began, and in this hour (limits' bundle plan)
        passed = bundles.boundaries(plan_slices(config, zone, now, first_seen or {}), now)
        if passed:
            starts |= {periods.bucket_start(passed[0], zone), periods.bucket_start(now, zone)}
    return starts


def plan_slices(config: Config, zone: periods.Zone, now: float, first_seen: Mapping[str, float]) -> list[bundles.Slice]:
    """The plan's slices when it is made of bundles: each `config bundle`'s, then the recurring `config plan`'s
    (one a period, from the period in force when the first bundle began)."""
    found = [s for order, b in enumerate(config.bundles)
             for s in bundles.bundle_slices(b, first_seen.get(b.id, now), zone, order)]
    if config.plan is not None:
        since = min((s.start for s in found), default=now)
        found += bundles.plan_slices(config.plan.quota, config.plan.period, since, now, zone, order=len(config.bundles))
    return found


def members(config: Config, gid: str) -> list[str]:
    return sorted(mac for mac, device in config.devices.items() if device.group == gid)


def scope_key(scope: str, name: str | None = None) -> str:
    """The key top-ups and resets are kept under: 'plan', 'group:ID', 'device:MAC'."""
    return scope if name is None else f"{scope}:{name}"


@dataclass(frozen=True)
class DeviceLimits:
    own: Limit | None  # the device's own cap, or the default cap standing in for it
    limits: list[Limit]
    decision: Decision


class Snapshot:
    """Usage and limits of every scope at one moment, each computed once."""

    def __init__(self, config: Config, ledger: Ledger, adjustments: Adjustments, zone: periods.Zone,
                 now: float, marks: BundleMarks | None = None) -> None:
        self.config, self.ledger, self.adjustments, self.zone, self.now = config, ledger, adjustments, zone, now
        self.marks = marks  # where bundle boundaries fell inside their hour (account/bundle_marks.py)
        self._bundle_plan: BundlePlan | None = None
        self._scopes: dict[str, Limit] = {}
        self._devices: dict[str, DeviceLimits] = {}
        self.blocks = adjustments.blocks(now)
        self.held = adjustments.throttles(now)  # mac -> (until, kbit): throttles held for a while
        self.warn_percent = warn_percent(config)
        self._bounds: dict[Period, tuple[float | None, float | None]] = {}

    def bounds(self, period: Period) -> tuple[float | None, float | None]:
        """A period's (start, end) now, worked out once per snapshot however many devices share it."""
        if period not in self._bounds:
            self._bounds[period] = periods.period_bounds(period, self.now, self.zone)
        return self._bounds[period]

    def usage(self, mac: str, start: float | None) -> tuple[int, int]:
        """(up, down) a MAC moved since `start` (None: ever)."""
        return self.ledger.usage(mac, start)

    def _counted(self, key: str, start: float | None, macs: list[str]) -> int:
        """What the scope's devices moved since `start`, after a manual reset: its count before calibration."""
        used_up = used_down = 0
        for mac in macs:
            up, down = self.usage(mac, start)
            used_up, used_down = used_up + up, used_down + down
        up, down = self._after_reset(key, start, used_up, used_down)
        return up + down

    def _limit(self, scope: str, key: str, cap: Cap, macs: list[str]) -> Limit:
        start, end = self.bounds(cap.period)
        used = calibration.count(self._counted(key, start, macs), self.adjustments.calibration_offset(key, start))
        allowance = cap.bytes + self.adjustments.topups(key, start)
        if cap.period.kind == "days" and end is not None and self.now >= end:
            used = max(used, allowance)  # an expired eSIM plan has nothing left
        return Limit(scope, allowance, used, cap.action, cap.throttle_kbit, start, end)

    def _after_reset(self, key: str, start: float | None, up: int, down: int) -> tuple[int, int]:
        off_up, off_down = self.adjustments.reset_offset(key, start)
        return max(0, up - off_up), max(0, down - off_down)

    def plan(self) -> Limit | None:
        plan = self.config.plan
        if self.config.bundles:
            return self.bundle_plan().limit
        if plan is None:
            return None
        if "plan" not in self._scopes:
            cap = Cap(plan.quota, plan.period, plan.action, plan.throttle_kbit)
            self._scopes["plan"] = self._limit("plan", scope_key("plan"), cap, self.ledger.macs())
        return self._scopes["plan"]

    def plan_counted(self) -> int | None:
        """The plan's count before calibration (what routerguard metered in its window); None without a plan."""
        limit = self.plan()
        return None if limit is None else self._counted(scope_key("plan"), limit.start, self.ledger.macs())

    def bundle_plan(self) -> BundlePlan:
        """The plan made of bundles (only with `config bundle` sections): see the end of this module."""
        if self._bundle_plan is None:
            self._bundle_plan = _plan_limit_of_bundles(self)
        return self._bundle_plan

    def plan_count(self, start: float) -> int:
        """The plan's count since `start` (an hour bucket's start): usage of every device and the router, after
        a reset of the plan, before calibration (which _plan_limit_of_bundles adds to the count now)."""
        up = down = 0
        for mac in self.ledger.macs():
            u, d = self.usage(mac, start)
            up, down = up + u, down + d
        up, down = self._after_reset(scope_key("plan"), start, up, down)
        return up + down

    def hours_count(self, since: float, until: float) -> int:
        """The plan's bytes in the hour buckets from `since` up to `until` (one query)."""
        return sum(up + down for _, _, up, down in self.ledger.series(None, since, until, lambda h: 0, by_device=False))

    def bucket_count(self, bucket: float) -> int:
        """The plan's bytes in one hour bucket (one query: a boundary's mark when first worked out late)."""
        return sum(up + down for _, _, up, down in self.ledger.series(None, bucket, bucket + 1, lambda h: h,
                                                                     by_device=False))
    def newcomers(self) -> Limit | None:
        """The one allowance every MAC with no `config device` section shares (`option newcomer_cap`), on top of
        each one's default cap: random MACs cannot multiply it. Its period and action are the default cap's."""
        default, pool = self.config.default_cap, self.config.newcomer_cap
        if default is None or pool is None:
            return None
        key = scope_key("newcomers")
        if key not in self._scopes:
            macs = [mac for mac in self.ledger.macs() if mac not in self.config.devices and mac != ROUTER]
            cap = Cap(pool, default.period, default.action, default.throttle_kbit)
            self._scopes[key] = self._limit("newcomers", key, cap, macs)
        return self._scopes[key]

    def approved(self, mac: str) -> bool:
        """Whether a device may reach the internet at all: under `new_devices 'approve'`, once the admin said so."""
        if self.config.main.new_devices != "approve":
            return True
        device = self.config.devices.get(mac)
        return bool(device and device.approved)

    def group(self, gid: str) -> Limit | None:
        group = self.config.groups.get(gid)
        if group is None or group.cap is None:
            return None
        key = scope_key("group", gid)
        if key not in self._scopes:
            self._scopes[key] = self._limit("group", key, group.cap, members(self.config, gid))
        return self._scopes[key]

    def group_state(self, gid: str) -> str:
        """A group's state by the same rule as a device's: warned from the same level, then its cap's action."""
        limit = self.group(gid)
        return decide([limit], warn_percent=self.warn_percent).state if limit else OK

    def device(self, mac: str) -> DeviceLimits:
        if mac not in self._devices:
            self._devices[mac] = self._device(mac)
        return self._devices[mac]

    def _device(self, mac: str) -> DeviceLimits:
        config = self.config
        device = config.devices.get(mac)
        group_limit = self.group(device.group) if device and device.group else None
        own = None
        if device and device.cap:
            own = self._limit("device", scope_key("device", mac), device.cap, [mac])
        elif group_limit is None and config.default_cap and mac != ROUTER:
            own = self._limit("default", scope_key("device", mac), config.default_cap, [mac])
        pool = self.newcomers() if device is None and mac != ROUTER else None
        limits = [limit for limit in (own, pool, group_limit, self.plan()) if limit is not None]
        decision = decide(limits, exempt=bool(device and device.exempt), blocked=mac in self.blocks or not self.approved(mac),
                          held_kbit=self.held[mac][1] if mac in self.held else None,
                          warn_percent=self.warn_percent)
        return DeviceLimits(own, limits, decision)

    def window(self, mac: str) -> Limit | None:
        """The limit whose period a device's usage (and what ate it) is shown for: its own cap's, else the plan's."""
        return self.device(mac).own or self.plan()

    def window_usage(self, mac: str) -> tuple[int, int]:
        """(up, down) of a device in its window, after a reset of its own cap: what its page shows as used."""
        own, window = self.device(mac).own, self.window(mac)
        up, down = self.usage(mac, window.start if window else None)
        return self._after_reset(scope_key("device", mac), own.start, up, down) if own else (up, down)


# --- the plan as eSIM bundles ------------------------------------------------------
# With `config bundle` sections the plan is the sum of the bundles valid now
# (decide/bundles.py drains them); `config plan`, if any, is one more,
# recurring bundle. The plan's count is the one every plan figure uses:
# usage in the plan's scope (every device and the router) since the hour
# bucket of the first bundle's start (`origin`), after a reset of the plan.
# A calibration of the plan's count is added to the count now: the bundles
# valid now drain the difference.
#
# The kernel's plan quota keeps counting under one basis (enforce/desired.py
# names it by `start`), so the plan's Limit is in that count's terms: `used`
# is the count since `origin`, `allowance` the count plus what the valid
# bundles have left (plus plan top-ups): the kernel cuts exactly when what
# is left is gone. When a bundle expires, or a day pack's day ends, what it
# had left drops out of the allowance at the first reading after (the
# boundary's mark is that moment: usage until then drained the old set).


@dataclass(frozen=True)
class BundlePlan:
    slices: list[bundles.Slice]
    drain: bundles.Drain
    accounts: list[bundles.Account]  # one per `config bundle`, in the file's order, then the recurring plan's
    origin: float  # the hour bucket the plan's count starts at
    count: int  # the plan's count since origin, now
    left: int  # what the valid slices have left now
    points: list[tuple[float, int]]  # (boundary passed, the count then), then (now, count)
    limit: Limit


def _plan_limit_of_bundles(snap: Snapshot) -> BundlePlan:
    config, zone, now = snap.config, snap.zone, snap.now
    first_seen = snap.marks.first_seen([b.id for b in config.bundles], now) if snap.marks else {}
    slices = plan_slices(config, zone, now, first_seen)
    passed = bundles.boundaries(slices, now)
    origin = periods.bucket_start(passed[0] if passed else now, zone)
    # A calibration of the plan (the carrier's figure) moves the count now; the difference drains from the
    # bundles valid now. The count never runs back below a boundary already passed.
    count = calibration.count(snap.plan_count(origin), snap.adjustments.calibration_offset(scope_key("plan"), origin))
    marks = snap.marks.marks() if snap.marks else {}
    noted: dict[float, int] = {}
    points: list[tuple[float, int]] = []
    now_bucket = periods.bucket_start(now, zone)
    in_this_hour = snap.plan_count(now_bucket) if passed and passed[-1] >= now_bucket else 0
    for t in passed:
        bucket = periods.bucket_start(t, zone)
        x = marks.get(t)
        if x is None:  # first worked out now: what its bucket counted so far came before it, or, its hour
            # over (the daemon was away, or a start typed in the past), the hour's bytes pro rata of its time
            x = in_this_hour if bucket == now_bucket else \
                int(snap.bucket_count(bucket) * min(1.0, (t - bucket) / periods.HOUR))
            noted[t] = x
        if bucket == now_bucket:
            points.append((t, count - in_this_hour + x))
        else:  # an hour that is over: its count never changes, so it is worked out once (BundleMarks.closed)
            before = (snap.marks.closed(origin, bucket, lambda: snap.hours_count(origin, bucket)) if snap.marks
                      else snap.hours_count(origin, bucket))
            points.append((t, before + x))
    # Marks of one bucket noted at different times must not run backwards (a retroactive start added later).
    for i in range(len(points) - 2, -1, -1):
        if periods.bucket_start(points[i][0], zone) == periods.bucket_start(points[i + 1][0], zone):
            points[i] = (points[i][0], min(points[i][1], points[i + 1][1]))
    if noted and snap.marks:
        snap.marks.mark(noted, now)
    count = max([count] + [c for _, c in points])
    points.append((now, count))
    drained = bundles.drain(slices, points)
    left = bundles.left_now(slices, drained.used, now)
    accounts = []
    for bid in [b.id for b in config.bundles] + ([bundles.PLAN_ID] if config.plan else []):
        own = [i for i, s in enumerate(slices) if s.bundle == bid]
        accounts.append(bundles.account(bid, [slices[i] for i in own], [drained.used[i] for i in own], now))
    plan = config.plan
    valid_ends = [s.end for s in slices if s.valid(now)]
    end = None if not valid_ends or None in valid_ends else max(valid_ends)  # type: ignore[type-var]
    allowance = count + left + snap.adjustments.topups(scope_key("plan"), origin)
    limit = Limit("plan", allowance, count, plan.action if plan else "block", plan.throttle_kbit if plan else None,
                  origin, end)
    return BundlePlan(slices, drained, accounts, origin, count, left, points, limit)
