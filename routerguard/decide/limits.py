"""Every limit in force at one moment, and what it decides: the one place limits are computed.

A scope (a device's own cap, or the default cap standing in for it; a
group's shared cap; the plan) has used, this period, what its devices moved
since the period began minus the usage at a manual reset, against an
allowance of its cap plus this period's top-ups; an expired eSIM plan has
nothing left. The kernel's quotas (enforce/), the alerts (leakguard.py) and
the page (service.py) all read one Snapshot, so they never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from routerguard.account.adjustments import Adjustments
from routerguard.account.ledger import ROUTER, Ledger
from routerguard.config.model import Cap, Config, Period
from routerguard.decide import periods
from routerguard.decide.policy import DEFAULT_WARN_PERCENT, OK, Decision, Limit, decide


def warn_percent(config: Config) -> float:
    """The usage (percent of a limit) from which a device or group is "warned": the lowest alert threshold."""
    return min(config.notify.thresholds, default=DEFAULT_WARN_PERCENT)


def starts_in_force(config: Config, now: float, zone: periods.Zone) -> set[float | None]:
    """The starts of the periods of the plan and of every cap at `now`: the usage windows the limits count
    (None: a period that never ends). The ledger keeps sums at hand for these only."""
    caps = [config.plan, config.default_cap, *(g.cap for g in config.groups.values()),
            *(d.cap for d in config.devices.values())]
    return {periods.period_bounds(cap.period, now, zone)[0] for cap in caps if cap is not None}


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
                 now: float) -> None:
        self.config, self.ledger, self.adjustments, self.zone, self.now = config, ledger, adjustments, zone, now
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

    def _limit(self, scope: str, key: str, cap: Cap, macs: list[str]) -> Limit:
        start, end = self.bounds(cap.period)
        used_up = used_down = 0
        for mac in macs:
            up, down = self.usage(mac, start)
            used_up, used_down = used_up + up, used_down + down
        up, down = self._after_reset(key, start, used_up, used_down)
        used = up + down
        allowance = cap.bytes + self.adjustments.topups(key, start)
        if cap.period.kind == "days" and end is not None and self.now >= end:
            used = max(used, allowance)  # an expired eSIM plan has nothing left
        return Limit(scope, allowance, used, cap.action, cap.throttle_kbit, start, end)

    def _after_reset(self, key: str, start: float | None, up: int, down: int) -> tuple[int, int]:
        off_up, off_down = self.adjustments.reset_offset(key, start)
        return max(0, up - off_up), max(0, down - off_down)

    def plan(self) -> Limit | None:
        plan = self.config.plan
        if plan is None:
            return None
        if "plan" not in self._scopes:
            cap = Cap(plan.quota, plan.period, plan.action, plan.throttle_kbit)
            self._scopes["plan"] = self._limit("plan", scope_key("plan"), cap, self.ledger.macs())
        return self._scopes["plan"]

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
