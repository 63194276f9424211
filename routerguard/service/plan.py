"""The plan and the groups: their views and commands, and the uplinks the plan's bytes leave by."""

from __future__ import annotations

from typing import Any

from routerguard.account.ledger import ROUTER
from routerguard.config.file import device_section, group_section, write_cap
from routerguard.config.caps import Cap
from routerguard.config.model import ID_RE, parse_mac
from routerguard.config import uci
from routerguard.decide import periods
from routerguard.decide.limits import Snapshot, members
from routerguard.units import rfc3339
from routerguard.service.common import Area, Invalid, MAX_NAME, NotFound, cap_view, check_name, parse_cap, uplink_view


class Plan(Area):
    """The plan's and the groups' views and commands."""

    def plan(self) -> dict:
        core, snap = self.core, self.snapshot()
        plan = core.config.plan
        limit = snap.plan()
        used = sum(sum(snap.usage(mac, limit.start if limit else None)) for mac in core.ledger.macs())
        rate = sum(sum(core.rates.rate(mac)) for mac in core.ledger.macs()) / 8
        wan_total = core.health.wan_total
        offload = core.health.offload
        return self.with_bundles({  # type: ignore[attr-defined]  # service/bundles.py: the plan's bundles
            "quota_bytes": plan.quota if plan else None,
            **self.calibration_view(limit.start if limit else None, used),  # used_bytes: the count, calibrated
            "allowance_bytes": limit.allowance if limit else None,
            "remaining_bytes": limit.remaining if limit else None,
            "period": plan.period.kind if plan else None,
            "period_start": rfc3339(limit.start if limit else None),
            "period_end": rfc3339(limit.end if limit else None),
            "action": plan.action if plan else None,
            "wan_snmp_bytes": wan_total,
            "gap_bytes": wan_total - used if wan_total is not None else None,  # against what was metered
            "router_bytes": sum(snap.usage(ROUTER, limit.start if limit else None)),
            "forecast_exhausted_at": rfc3339(periods.forecast_exhausted_at(limit.allowance, limit.used, rate, snap.now, end=limit.end))
            if limit else None,
            "rate_bps": int(rate * 8),
            "cap": cap_view(Cap(plan.quota, plan.period, plan.action, plan.throttle_kbit), limit) if plan else None,
            "uplink": uplink_view(core.config, core.uplinks.in_use()),
            "flow_offloading": {"found": list(offload.found), "hardware": offload.hardware} if offload.on else None,
        }, snap)

    def groups(self) -> list[dict]:
        snap = self.snapshot()
        return [self._group_view(gid, snap) for gid in sorted(self.core.config.groups)]

    def group(self, gid: str) -> dict:
        if gid not in self.core.config.groups:
            raise NotFound("no group {gid!r}", "no_group", gid=gid)
        return self._group_view(gid, self.snapshot())

    def _group_view(self, gid: str, snap: Snapshot) -> dict:
        group = self.core.config.groups[gid]
        limit = snap.group(gid)
        return {
            "id": gid,
            "name": group.name,
            "members": members(self.core.config, gid),
            "cap": cap_view(group.cap, limit),
            "usage": {"total_bytes": limit.used if limit else None},
            "allowance_bytes": limit.allowance if limit else None,
            "state": snap.group_state(gid),
        }


    def put_group(self, gid: str, body: Any) -> dict:
        if not ID_RE.match(gid):
            raise Invalid("a group id is 1-32 letters, digits, '_' or '-'", "bad_group_id")
        if not isinstance(body, dict):
            raise Invalid("the body must be a JSON object")
        unknown = set(body) - {"name", "cap", "members"}
        if unknown:
            raise Invalid(f"unknown field(s) {', '.join(sorted(unknown))}; valid: cap, members, name")
        name = body.get("name", gid)
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise Invalid("name must be a non-empty string of at most {most} characters", "bad_name", most=MAX_NAME)
        name = check_name(name)
        cap = parse_cap(body.get("cap"))
        new_members = body.get("members")
        if new_members is not None:
            if not isinstance(new_members, list) or not all(isinstance(m, str) for m in new_members):
                raise Invalid("members must be a list of MAC addresses")
            try:
                new_members = sorted({parse_mac(m) for m in new_members})
            except ValueError as e:
                raise Invalid("{field}: {reason}", "field_reason", field="members", reason=e) from None

        def change(package: uci.Package) -> None:
            section = group_section(package, gid) or package.add("group")
            section.set("id", gid)
            section.set("name", name.strip())
            write_cap(section, cap)
            if new_members is None:
                return
            for device in package.find("device"):
                if device.get("group") == gid and (device.get("mac") or "").lower() not in new_members:
                    device.delete("group")
            for mac in new_members:
                device_section(package, mac).set("group", gid)

        self.core.config_file.edit(change)
        self.core.on_change()
        return self.group(gid)

    def set_plan(self, body: Any) -> dict:
        """Set the plan from a cap-shaped body ({"bytes", "period", "action", ...}), or remove it with null."""
        cap = parse_cap(body, "plan")

        def change(package: uci.Package) -> None:
            section = next(iter(package.find("plan")), None)
            if cap is None:
                if section is not None:
                    package.remove(section)
                return
            write_cap(section or package.add("plan", "plan"), cap, size_option="quota")

        self.core.config_file.edit(change)
        self.core.on_change()
        return self.plan()

    def delete_group(self, gid: str) -> None:
        if gid not in self.core.config.groups:
            raise NotFound("no group {gid!r}", "no_group", gid=gid)

        def change(package: uci.Package) -> None:
            for device in package.find("device"):
                if device.get("group") == gid:
                    device.delete("group")
            section = group_section(package, gid)
            if section is not None:
                package.remove(section)

        self.core.config_file.edit(change)
        self.core.on_change()

