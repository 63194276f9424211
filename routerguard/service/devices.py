"""A device's view and the commands on one device: change, block, top up, reset."""

from __future__ import annotations

from typing import Any

from routerguard.config.file import device_section, write_cap
from routerguard.config.model import parse_mac
from routerguard.config import uci
from routerguard.decide.limits import Snapshot, scope_key
from routerguard.decide.policy import Limit
from routerguard.reasons import tag
from routerguard.units import rfc3339
from routerguard.service.common import (Area, Invalid, MAX_BLOCK_SECONDS, MAX_NAME, MAX_TOPUP, NotFound, cap_view, check_name,
                                        is_int, parse_cap, parse_time)


class Devices(Area):
    """Views of devices and the commands on one."""

    def devices(self) -> list[dict]:
        snap = self.snapshot()
        return [self._device_view(mac, snap) for mac in self.known_macs()]

    def device(self, mac: str) -> dict:
        mac = self._known(mac)
        return self._device_view(mac, self.snapshot())

    def _known(self, mac: str) -> str:
        try:
            mac = parse_mac(mac)
        except ValueError as e:
            raise tag(NotFound(str(e)), "not_a_mac", text=mac) from None
        if mac not in self.known_macs() and self.core.ledger.hours(mac) is None:  # gone, but its history stays
            raise NotFound("no device {mac}: it has not been seen on the LAN nor configured", "no_device", mac=mac)
        return mac

    def _device_view(self, mac: str, snap: Snapshot) -> dict:
        core = self.core
        configured = core.config.devices.get(mac)
        info = core.directory.info(mac)
        limits = snap.device(mac)
        own = limits.own
        up, down = snap.window_usage(mac)
        life_up, life_down = snap.usage(mac, None)
        rate_up, rate_down = core.rates.rate(mac)
        cap = configured.cap if configured and configured.cap else None
        until = snap.blocks.get(mac, 0)
        return {
            "mac": mac,
            "name": self.name_of(mac),
            "hostname": info.hostname if info else None,
            "ips": sorted(info.ips) if info else [],
            "group": configured.group if configured else None,
            "online": core.directory.online(mac, snap.now),
            "usage": {"up_bytes": up, "down_bytes": down, "total_bytes": up + down},
            "lifetime_bytes": life_up + life_down,
            "rate": {"up_bps": rate_up, "down_bps": rate_down},
            "cap": cap_view(cap, own if own and own.scope == "device" else None),
            "default_cap": cap_view(core.config.default_cap, own) if own and own.scope == "default" else None,
            "allowance_bytes": own.allowance if own else None,
            "remaining_bytes": min((limit.remaining for limit in limits.limits), default=None),
            "state": limits.decision.state,
            "exempt": bool(configured and configured.exempt),
            "blocked": mac in snap.blocks,
            "blocked_until": rfc3339(until) if until else None,
            "block": list(configured.block) if configured else [],
            "told_metered": mac in core.told_metered,
            "approved": snap.approved(mac),
            "throttled_until": rfc3339(snap.held[mac][0]) if mac in snap.held else None,
            **self._metered_access_view(mac),
            "limits": [self._limit_view(limit) for limit in limits.limits],
        }

    def name_of(self, mac: str) -> str | None:
        return self.core.name_of(mac)

    @staticmethod
    def _limit_view(limit: Limit) -> dict:
        return {"scope": limit.scope, "allowance_bytes": limit.allowance, "used_bytes": limit.used,
                "remaining_bytes": limit.remaining, "action": limit.action,
                "period_start": rfc3339(limit.start), "period_end": rfc3339(limit.end)}

    def device_for_address(self, ip: str) -> dict | None:
        mac = self.core.directory.mac_of(ip)
        return self._device_view(mac, self.snapshot()) if mac else None


    def patch_device(self, mac: str, changes: Any) -> dict:
        mac = self._known(mac)
        if not isinstance(changes, dict):
            raise Invalid("the body must be a JSON object")
        allowed = {"name", "group", "exempt", "cap", "blocked", "blocked_until", "blocked_for", "block", "approved", "throttled",
                   "metered_access"}
        unknown = set(changes) - allowed
        if unknown:
            raise Invalid(f"unknown field(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(allowed))}")
        config = self.core.config
        edits = []
        if "name" in changes:
            name = changes["name"]
            if name is not None:
                if not isinstance(name, str) or len(name) > MAX_NAME or not name.strip():
                    raise Invalid("name must be a non-empty string of at most {most} characters, or null", "bad_name", most=MAX_NAME)
                name = check_name(name)
            edits.append(lambda s: s.set("name", name) if name else s.delete("name"))
        if "group" in changes:
            gid = changes["group"]
            if gid is not None and (not isinstance(gid, str) or gid not in config.groups):
                raise Invalid("group {gid!r} does not exist; groups: {groups}", "no_such_group", gid=gid,
                              groups=", ".join(config.groups) or "none")
            edits.append(lambda s: s.set("group", gid) if gid else s.delete("group"))
        if "exempt" in changes:
            if not isinstance(changes["exempt"], bool):
                raise Invalid("exempt must be true or false")
            exempt = changes["exempt"]
            edits.append(lambda s: s.set("exempt", "1") if exempt else s.delete("exempt"))
        if "metered_access" in changes:
            edits.append(self._parse_metered_access(mac, changes["metered_access"]))
        if "cap" in changes:
            cap = parse_cap(changes["cap"])
            edits.append(lambda s: write_cap(s, cap))
        if "block" in changes:
            categories = self._category_ids(changes["block"], "block")
            edits.append(lambda s: s.set_list("block", categories))
        if "approved" in changes:
            if not isinstance(changes["approved"], bool):
                raise Invalid("approved must be true or false", "bad_approved")
            approved = changes["approved"]  # a configured device is approved unless it says otherwise
            edits.append(lambda s: s.delete("approved") if approved else s.set("approved", "0"))
        if "throttled" in changes and changes["throttled"] is not False:
            raise Invalid("throttled can only be set to false (lifts a throttle held after unusual use)", "bad_throttled")
        block_until = self._parse_block(changes)
        if edits:
            def change(package: uci.Package) -> None:
                section = device_section(package, mac)
                for edit in edits:
                    edit(section)
            self.core.config_file.edit(change)
        if block_until is not False:
            self._apply_block(mac, changes.get("blocked", True), block_until)
        if "throttled" in changes:
            self.core.adjustments.release_throttle(mac)
        self.core.on_change()
        return self.device(mac)

    def _parse_block(self, changes: dict) -> float | None | bool:
        """The block's end (None: indefinite), or False when the request does not touch blocking."""
        if not {"blocked", "blocked_until", "blocked_for"} & set(changes):
            return False
        blocked = changes.get("blocked", True)
        if not isinstance(blocked, bool):
            raise Invalid("blocked must be true or false")
        until, seconds = changes.get("blocked_until"), changes.get("blocked_for")
        if until is not None and seconds is not None:
            raise Invalid("give blocked_until or blocked_for, not both")
        if seconds is not None:
            # The daemon's own time: a client whose clock is wrong (a router's, before NTP) still pauses for an hour.
            if not is_int(seconds) or not 0 < seconds <= MAX_BLOCK_SECONDS:
                raise Invalid(f"blocked_for must be a whole number of seconds from 1 to {MAX_BLOCK_SECONDS}")
            return self.core.now() + seconds
        if until is None:
            return None
        moment = parse_time(until, "blocked_until")
        if moment <= self.core.now():
            raise Invalid("blocked_until must be in the future")
        return moment

    def _apply_block(self, mac: str, blocked: bool, until: float | None) -> None:
        if blocked:
            self.core.adjustments.block(mac, until)
        else:
            self.core.adjustments.unblock(mac)

    def topup(self, mac: str, body: Any) -> dict:
        mac = self._known(mac)
        nbytes = body.get("bytes") if isinstance(body, dict) else None
        if not is_int(nbytes) or not 0 < nbytes <= MAX_TOPUP:
            raise Invalid("bytes must be a whole number from 1 to {most}", "bad_topup", most=MAX_TOPUP)
        own = self.snapshot().device(mac).own
        if own is None:
            raise Invalid("{mac} has no cap of its own to top up; set a cap first (or top up its group)", "topup_without_cap",
                          mac=mac)
        self.core.adjustments.topup(scope_key("device", mac), own.start, nbytes, self.core.now())
        self.core.on_change()
        return self.device(mac)

    def reset(self, mac: str) -> dict:
        mac = self._known(mac)
        own = self.snapshot().device(mac).own
        start = own.start if own else None
        up, down = self.core.ledger.usage(mac, start)
        self.core.adjustments.reset(scope_key("device", mac), start, up, down, self.core.now())
        self.core.on_change()
        return self.device(mac)

