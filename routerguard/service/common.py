"""What every area of the service shares: its refusals, the API's parsing of times and caps, limits on input."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from routerguard.config.caps import FIELDS, MAX_BYTES, Cap, is_whole, read_cap
from routerguard.config.model import Config
from routerguard.config.text import has_controls
from routerguard.core import Core
from routerguard.decide import periods
from routerguard.decide.policy import Limit
from routerguard.decide.uplinks import is_metered
from routerguard.reasons import Reason, Refusal
from routerguard.units import rfc3339

MAX_NAME = 64
MAX_TOPUP = MAX_BYTES  # a top-up is held to a cap's largest size
MAX_BLOCK_SECONDS = 366 * periods.DAY  # a timed block longer than a year is a typo: block without an end instead


class Invalid(Refusal):
    """A request value out of range (HTTP 422)."""


class NotFound(Reason, LookupError):
    """No such device or group (HTTP 404)."""


class Conflict(ValueError):
    """A request the current state forbids, e.g. removing a shipped category (HTTP 409)."""


def check_name(value: Any, field: str = "name", most: int = MAX_NAME) -> str:
    """A name given through the API or the page (a device's, a group's, a bundle's, a category's), stripped.

    Invalid when it is not a string, empty, longer than `most`, or holds a line break or a control character.
    """
    if not isinstance(value, str) or not value.strip() or len(value) > most:
        raise Invalid("{field} must be a non-empty string of at most {most} characters", "bad_name", field=field, most=most)
    if has_controls(value):
        raise Invalid("{field} must not contain line breaks or control characters", "name_control", field=field)
    return value.strip()


def parse_time(text: Any, field: str) -> float:
    if not isinstance(text, str):
        raise Invalid(f"{field} must be an RFC 3339 time string, e.g. 2026-11-25T15:00:00Z")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{field}: {text!r} is not an RFC 3339 time, e.g. 2026-11-25T15:00:00Z") from None
    if moment.tzinfo is None:
        raise Invalid(f"{field}: {text!r} needs a timezone, e.g. a trailing Z")
    return moment.timestamp()


def uplink_view(config: Config, ifname: str | None) -> dict | None:
    """The plan view's `uplink`: the interface in use and whether it is metered (None when offline)."""
    return {"ifname": ifname, "metered": is_metered(config, ifname)} if ifname else None


def cap_view(cap: Cap | None, limit: Limit | None) -> dict | None:
    if cap is None:
        return None
    view = {
        "bytes": cap.bytes,
        "period": cap.period.kind,
        "action": cap.action,
        "throttle_kbit": cap.throttle_kbit,
        "period_start": rfc3339(limit.start if limit else None),
        "period_end": rfc3339(limit.end if limit else None),
    }
    if cap.period.kind in ("monthly", "weekly"):
        view["reset_day"] = cap.period.reset_day
    if cap.period.kind == "days":
        view["start"] = cap.period.start.isoformat(timespec="minutes") if cap.period.start else None
        view["days"] = cap.period.days
    return view


def parse_cap(value: Any, field: str = "cap") -> Cap | None:
    """A cap from the API's JSON shape, by the config's rules; Invalid names the field that is wrong."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Invalid(f"{field} must be an object like {{\"bytes\": 1000000000, \"period\": \"daily\", \"action\": \"block\"}} or null")
    unknown = set(value) - set(FIELDS)
    if unknown:
        raise Invalid(f"{field}: unknown field(s) {', '.join(sorted(unknown))}")

    def fail(name: str, reason: ValueError) -> None:
        raise Invalid("{field}: {reason}", "field_reason", field=f"{field}.{name}", reason=reason)

    given = {name: v for name, v in value.items() if not (name == "throttle_kbit" and v is None)}  # null: no throttle
    return read_cap(given, fail, lambda name: f"{field}.{name}", text=False)


is_int = is_whole  # the API's other whole numbers are read the way a cap's are

def byte_counts(up: int, down: int) -> dict:
    return {"up_bytes": up, "down_bytes": down, "total_bytes": up + down}


class Area:
    """One area of the Service (devices, the plan, history, ...), all over one Core.

    `Service` joins the areas; an area may use another's lookups through self
    (`_known` of Devices, `_category_ids` of Saver, `snapshot` of Service).
    """

    core: Core
