"""Which uplinks cost: the one rule the kernel's rules, the data saver and the page all follow.

`wan_if` names the metered uplinks; a `config uplink` section says of one
interface whether it is metered. An interface nobody described is assumed to
cost: charging free traffic is the cheaper mistake.
"""

from __future__ import annotations

from routerguard.config.model import Config


def is_metered(config: Config, ifname: str) -> bool:
    """Metered unless a `config uplink` says `metered '0'`."""
    return next((u.metered for u in config.uplinks if u.ifname == ifname), True)


def metered_uplinks(config: Config) -> tuple[str, ...]:
    """The interfaces traffic is charged on: wan_if and the described uplinks, those that are metered."""
    return tuple(name for name in config.uplink_names if is_metered(config, name))


# --- free uplinks first: health, the probes' schedule, the choice ------------------------
#
# An unmetered uplink "works" when its link is up and its probe (read/probe.py)
# got the 204 it expects; a captive portal's redirect or login page is no internet.
# Hysteresis: FAIL_COUNT failures in a row to call a working uplink down (a second
# probe follows a failure after RETRY_AFTER s, so a dead uplink is left within about
# HEALTHY_INTERVAL + RETRY_AFTER s plus the probe's timeout), OK_COUNT successes to
# call it up again. A link that goes down is down at once, without a probe.
#
# The probes' schedule keeps them few: every probe needs a token from a bucket of
# BUCKET probes that refills one every REFILL s, so at most BUCKET + 86400/REFILL
# probes leave in any day (docs/uplinks.md has the bytes), however the uplink behaves.
# Tokens are spent where they matter: every HEALTHY_INTERVAL s while the uplink carries
# traffic, every FAILING_INTERVAL s while it is down (to come back quickly), and every
# IDLE_INTERVAL s while it works and nothing crosses it; at once when it carries traffic
# out but nothing comes back (a dead uplink under load: `stalled`).

STALL_SECONDS = 1.5  # sending without receiving anything this long, while in use: probe now
FAIL_COUNT = 2
OK_COUNT = 2
RETRY_AFTER = 0.5
HEALTHY_INTERVAL = 8.0
FAILING_INTERVAL = 5.0
IDLE_INTERVAL = 300.0
BUCKET = 120
REFILL = 75.0
DAY_SECONDS = 86400
MAX_PROBES_A_DAY = BUCKET + int(DAY_SECONDS // REFILL)  # 1272


class Health:
    """One unmetered uplink's health: its link, its probes' results with hysteresis, and when to probe next."""

    def __init__(self, now: float) -> None:
        self.link = False
        self.internet: bool | None = None  # None until a probe answered (or the link is down)
        self.verdict = ""  # the last probe's: "ok", "captive", "down", "" before any
        self._streak = 0  # results in a row that disagree with `internet`
        self._tokens = float(BUCKET)
        self._refilled = now
        self._last: float | None = None  # when the last probe was sent; None: probe at once
        self.probes = 0

    def on_link(self, up: bool, now: float) -> bool:
        """A reading of the link; True when the health changed (a link down is no internet, at once)."""
        changed = False
        if not up and self.link:
            changed = self.internet is True
            self.internet, self._streak = None, 0
        elif up and not self.link:
            self._last = None  # a new link: probe it now
        self.link = up
        return changed

    def interval(self, busy: bool) -> float:
        """Seconds between the last probe and the next: `busy` when traffic crosses the uplink now."""
        if self._streak and self.internet:
            return RETRY_AFTER  # a failure of a working uplink: confirm it quickly
        if not self.internet or self._streak:
            return FAILING_INTERVAL
        return HEALTHY_INTERVAL if busy else IDLE_INTERVAL

    def due(self, now: float, busy: bool = False, stalled: bool = False) -> bool:
        """Whether a probe should leave now (spending a token when it does).

        `stalled`: the uplink sends but has received nothing for a while (STALL_SECONDS), the mark of a dead
        uplink under traffic: probe at once rather than at the next interval.
        """
        self._refill(now)
        if not self.link or self._tokens < 1:
            return False
        interval = min(self.interval(busy), RETRY_AFTER) if stalled and self.internet else self.interval(busy)
        if self._last is not None and now < self._last + interval:
            return False
        self._tokens -= 1
        self.probes += 1
        self._last = now
        return True

    def on_probe(self, verdict: str, stalled: bool = False) -> bool:
        """A probe's result ("ok", "captive", "down"); True when `internet` changed.

        `stalled`: the probe was sent because traffic out got no answer; a failure then is the second sign,
        and the uplink is down at once.
        """
        if not verdict:  # no probe could leave (its host has no address now): no news of the uplink
            return False
        self.verdict = verdict
        ok = verdict == "ok"
        if stalled and not ok and self.internet:
            self._streak = FAIL_COUNT - 1
        if self.internet is None:  # the first answer decides, as nothing was relied on yet
            self.internet, self._streak = ok, 0
            return True
        if ok == self.internet:
            self._streak = 0
            return False
        self._streak += 1
        if self._streak >= (OK_COUNT if ok else FAIL_COUNT):
            self.internet, self._streak = ok, 0
            return True
        return False

    def _refill(self, now: float) -> None:
        self._tokens = min(BUCKET, self._tokens + max(0.0, now - self._refilled) / REFILL)
        self._refilled = now


def choose(config: Config, working: dict[str, bool]) -> str | None:
    """The unmetered uplink traffic should leave by: the first described one that works, or None (the main routes).

    `working`: each unmetered uplink's link and probe verdict together.
    """
    if not config.main.prefer_unmetered:
        return None
    return next((u.ifname for u in config.uplinks if not u.metered and working.get(u.ifname)), None)


def no_metered_access(config: Config) -> tuple[str, ...]:
    """The devices that never go over a metered uplink: `metered_access '0'` on the device or on its group."""
    found = []
    for mac, device in config.devices.items():
        group = config.groups.get(device.group) if device.group else None
        allowed = device.metered_access if device.metered_access is not None else (group.metered_access if group else True)
        if not allowed:
            found.append(mac)
    return tuple(sorted(found))
