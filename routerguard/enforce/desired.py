"""What the kernel should hold now: the decide step's limits as a Ruleset.

Each limit with a cutting action (block, throttle) becomes one kernel quota
object per scope: a device's own or default cap, a group's shared cap, the
plan. The object's name carries its basis, everything that makes the
kernel's count meaningful (the period's start, the latest reset, a group's
members), never the allowance:

- a top-up or a changed cap keeps the name, so the existing object only
  gets a new limit and keeps every byte it has counted;
- a new period, a reset, a calibration to the carrier's figure or a change
  of members gives a new name, so a new object starts from the usage the
  ledger holds for the new basis (with a calibration: plus its offset, which
  may cut at once or let the scope back on).

That is the invariant: a quota object's count is the scope's usage under its
basis as the ledger had it when the object was made, plus every byte the
kernel charged to it since. Nothing is forgiven by a change of allowance;
the bytes that crossed between the meter's last reading and the creation of
a new object (milliseconds at a rollover or a reset) are the only ones the
kernel misses, and the ledger still has them, so the daemon's own decision
(Guard.blocked) catches them at the next reading.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging

from routerguard.attribute.marks import Marks, MarksExhausted
from routerguard.core import Core
from routerguard.decide.limits import Snapshot, members, scope_key
from routerguard.decide.policy import BLOCKED, EXEMPT, OK, THROTTLED, Limit
from routerguard.decide.uplinks import metered_uplinks, no_metered_access
from routerguard.enforce import saver
from routerguard.enforce.ruleset import Captive, Device, Guard, Quota, Ruleset

log = logging.getLogger("routerguard.enforce")

CUTTING = ("block", "throttle")  # actions the kernel enforces; "notify" only warns
DIGEST_CHARS = 8
Named = tuple[str, Limit]  # a quota object's name and the limit it enforces


class Scopes:
    """The quota objects of one snapshot, each made once however many devices share it."""

    def __init__(self, core: Core, snap: Snapshot) -> None:
        self.core, self.snap = core, snap
        self.quotas: dict[str, Quota] = {}

    def quota(self, label: str, key: str, limit: Limit, group: str | None = None, others: tuple = ()) -> str | None:
        """The name of the quota object for `limit`, or None when its action does not cut.

        `others`: more of the basis (the newcomers' pool: the configured MACs, who are not in it)."""
        if limit.action not in CUTTING:
            return None
        basis = (limit.start, self.core.adjustments.reset_offset(key, limit.start),
                 members(self.snap.config, group) if group else None, *others)
        offset = self.core.adjustments.calibration_offset(key, limit.start)
        if offset:  # only then, so that an uncalibrated scope keeps the name (and the count) it always had
            basis += (("calibration", offset),)
        name = f"q_{label}_{hashlib.sha1(repr(basis).encode()).hexdigest()[:DIGEST_CHARS]}"
        if name not in self.quotas:
            since = f"since {int(limit.start)}" if limit.start is not None else "for ever"
            self.quotas[name] = Quota(name, limit.allowance, limit.used, f"{key} {since}")
        return name

    def newcomers(self) -> list[Named]:
        """The allowance every MAC not registered yet shares: one default cap per period."""
        cap = self.snap.config.default_cap
        if cap is None:
            return []
        start, end = self.snap.bounds(cap.period)
        limit = Limit("default", cap.bytes, 0, cap.action, cap.throttle_kbit, start, end)
        name = self.quota("newcomers", "newcomers", limit)
        found = [(name, limit)] if name else []
        pool = self.pool()
        return found + [pool] if pool else found

    def pool(self) -> Named | None:
        """The allowance all unconfigured MACs share (`newcomer_cap`), or None."""
        limit = self.snap.newcomers()
        if limit is None:
            return None
        name = self.quota("pool", scope_key("newcomers"), limit, others=(tuple(sorted(self.snap.config.devices)),))
        return (name, limit) if name else None


def guard(names: list[Named], decision_state: str, throttle_kbit: int | None) -> Guard:
    """A device's guard from its quotas (name, limit) and the daemon's decision."""
    if decision_state == EXEMPT:
        return Guard(counts=tuple(name for name, _ in names))
    return Guard(cuts=tuple(name for name, limit in names if limit.action == "block"),
                 throttles=tuple((name, limit.throttle_kbit) for name, limit in names
                                 if limit.action == "throttle" and limit.throttle_kbit),
                 blocked=decision_state == BLOCKED,
                 throttle_kbit=throttle_kbit if decision_state == THROTTLED else None)


def addresses_by_mac(current: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """Each MAC's routable LAN addresses (ip -> MAC as the directory has them now); link-local ones are never
    forwarded."""
    found: dict[str, list[str]] = {}
    for ip, mac in current.items():
        if not ipaddress.ip_address(ip).is_link_local:
            found.setdefault(mac, []).append(ip)
    return {mac: tuple(sorted(ips)) for mac, ips in found.items()}


def build(core: Core, marks: Marks, captive: Captive | None) -> Ruleset:
    """The Ruleset for every known device, from one snapshot of usage and limits.

    A device that is no longer known (it passed by) keeps its id and chain
    until the id is given back (marks.py), under the newcomers' guard: it
    has no usage in a period in force, so that is what its own limits would
    be, and the work of a reading does not grow with every MAC of the week.
    """
    snap = core.snapshot()
    config = snap.config
    scopes = Scopes(core, snap)
    plan_limit = snap.plan()
    plan = scopes.quota("plan", scope_key("plan"), plan_limit) if plan_limit else None
    plan_named = [(plan, plan_limit)] if plan and plan_limit else []
    approve = config.main.new_devices == "approve"
    newcomer = guard(scopes.newcomers() + plan_named, BLOCKED if approve else OK, None)  # under approve: held till approved
    devices = []
    addresses = addresses_by_mac(core.directory.current())
    known = set(core.known_macs())
    marks.keep(known, snap.now)
    for mac in sorted(known | set(marks.macs())):
        try:
            device_id = marks.id_for(mac, snap.now)
        except MarksExhausted as e:
            log.warning("%s", e)
            continue
        device_guard = _guard(scopes, mac, device_id, plan) if mac in known else newcomer
        devices.append(Device(mac, device_id, device_guard, addresses.get(mac, ())))
    dns_free = tuple(d.mac for d in devices if not d.guard.blocked) if approve else None
    return Ruleset(config.main.lan_if, metered_uplinks(config), tuple(scopes.quotas.values()), tuple(devices),
                   newcomer, plan, captive, saver.desired(config), dns_free, no_metered_access(config))


def _guard(scopes: Scopes, mac: str, device_id: int, plan: str | None) -> Guard:
    """A known device's guard: a quota for each of its limits that cuts, and the daemon's decision."""
    limits = scopes.snap.device(mac)
    config = scopes.snap.config
    gid = config.devices[mac].group if mac in config.devices else None
    names = []
    for limit in limits.limits:
        if limit is limits.own:
            name = scopes.quota(f"dev{device_id}", scope_key("device", mac), limit)
        elif limit.scope == "group":
            name = scopes.quota(f"grp_{gid}", scope_key("group", gid), limit, group=gid)
        elif limit.scope == "newcomers":
            pool = scopes.pool()
            name = pool[0] if pool else None
        else:
            name = plan
        if name:
            names.append((name, limit))
    decision = limits.decision
    return guard(names, decision.state, decision.throttle_kbit)
