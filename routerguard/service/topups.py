"""Top-ups of a group and of the plan, and the plan's calibration to what the carrier says.

A top-up adds to a scope's allowance for its current period, as a device's
does (devices.py); a calibration sets the plan's count to the carrier's
figure from now on (decide/calibration.py). Both are kept in the
adjustments (account/adjustments.py) under the scope's key and period, so a
new period starts without them; both reach the kernel before the answer
(core.on_change).
"""

from __future__ import annotations

from typing import Any

from routerguard.account.adjustments import Calibration
from routerguard.config.caps import MAX_BYTES
from routerguard.decide import calibration
from routerguard.decide.limits import scope_key
from routerguard.units import format_size, rfc3339
from routerguard.service.common import Area, Invalid, MAX_TOPUP, NotFound, is_int

CALIBRATION_FIELDS = {"used_bytes": calibration.USED, "left_bytes": calibration.LEFT}


def topup_bytes(body: Any) -> int:
    """The bytes of a top-up body {"bytes": N}, refused (naming the field) unless 1..MAX_TOPUP."""
    nbytes = body.get("bytes") if isinstance(body, dict) else None
    if not is_int(nbytes) or not 0 < nbytes <= MAX_TOPUP:
        raise Invalid("bytes must be a whole number from 1 to {most}", "bad_topup", most=MAX_TOPUP)
    return nbytes


def calibration_said(body: Any) -> tuple[str, int]:
    """("used" or "left", bytes) from {"used_bytes": N} or {"left_bytes": N}; Invalid names the field."""
    if not isinstance(body, dict):
        raise Invalid('the body must be a JSON object: {"used_bytes": N} or {"left_bytes": N}', "calibrate_one_of")
    unknown = set(body) - set(CALIBRATION_FIELDS)
    if unknown:
        raise Invalid(f"unknown field(s) {', '.join(sorted(unknown))}; valid: used_bytes or left_bytes", "calibrate_one_of")
    given = [field for field in CALIBRATION_FIELDS if field in body]
    if len(given) != 1:
        raise Invalid("give exactly one of used_bytes or left_bytes: what the carrier's app says now", "calibrate_one_of")
    field = given[0]
    value = body[field]
    if not is_int(value) or not 0 <= value <= MAX_BYTES:
        raise Invalid("{field} must be a whole number of bytes from 0 to {most}", "bad_calibration", field=field,
                      most=MAX_BYTES)
    return CALIBRATION_FIELDS[field], value


class TopUps(Area):
    """Top-ups of groups and the plan; the plan's calibration, and what it shows."""

    def topup_group(self, gid: str, body: Any) -> dict:
        if gid not in self.core.config.groups:
            raise NotFound("no group {gid!r}", "no_group", gid=gid)
        nbytes = topup_bytes(body)
        limit = self.snapshot().group(gid)
        if limit is None:
            raise Invalid("group {gid!r} has no cap to top up; give it a cap first", "group_topup_without_cap", gid=gid)
        self.core.adjustments.topup(scope_key("group", gid), limit.start, nbytes, self.core.now())
        self.core.on_change()
        return self.group(gid)

    def topup_plan(self, body: Any) -> dict:
        nbytes = topup_bytes(body)
        limit = self.snapshot().plan()
        if limit is None:
            raise Invalid("there is no plan to top up; set the plan first", "topup_without_plan")
        self.core.adjustments.topup(scope_key("plan"), limit.start, nbytes, self.core.now())
        self.core.on_change()
        return self.plan()

    def calibrate(self, body: Any) -> dict:
        """Set the plan's count to what the carrier says it used (or has left) now."""
        said, said_bytes = calibration_said(body)
        snap = self.snapshot()
        limit = snap.plan()
        if said == calibration.LEFT:
            if limit is None:
                raise Invalid("left_bytes needs a plan to be left of; set the plan first (or give used_bytes)",
                              "calibrate_left_without_plan")
            if said_bytes > limit.allowance:
                raise Invalid("left_bytes is more than the plan's allowance ({allowance} bytes): raise the plan's quota "
                              "or top it up first", "calibrate_left_over_allowance", allowance=limit.allowance,
                              size=format_size(limit.allowance))
        start = limit.start if limit else None
        counted = snap.plan_counted() if limit else self._counted_without_plan(snap)
        offset = calibration.offset_for(counted, said, said_bytes, limit.allowance if limit else None)
        self.core.adjustments.calibrate(scope_key("plan"), start, Calibration(offset, said, said_bytes, snap.now))
        self.core.on_change()
        return self.plan()

    @staticmethod
    def _counted_without_plan(snap) -> int:
        return sum(sum(snap.usage(mac, None)) for mac in snap.ledger.macs())

    def calibration_view(self, start: float | None, counted: int) -> dict:
        """The plan view's calibration fields: its count (`used_bytes`), what was metered, the offset and when."""
        found = self.core.adjustments.calibration(scope_key("plan"), start)
        offset = found.offset if found else 0
        return {"used_bytes": calibration.count(counted, offset), "counted_bytes": counted,
                "calibration_bytes": offset, "calibrated_at": rfc3339(found.time if found else None)}
