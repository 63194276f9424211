"""Sizes, rates, durations and times: parsed and shown in one place.

Users type sizes the way carriers sell them (`20GB`, powers of 1000) or the
way operating systems show them (`512MiB`, powers of 1024); both must mean
exactly what they say, because a cap that is off by 7% is a broken promise.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from routerguard.reasons import Refusal

SIZE_UNITS: dict[str, int] = {
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "TiB": 1024**4,
}

RATE_UNITS: dict[str, int] = {
    "kbit": 1,
    "mbit": 1000,
    "gbit": 1000**2,
}

DURATION_UNITS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

_NUMBER_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def _parse(text: str, units: dict[str, int], default_unit: str, what: str) -> int:
    match = _NUMBER_UNIT.match(str(text))
    if not match:
        raise Refusal("{text!r} is not a {what}; write a number and a unit, e.g. {examples}", "not_a_quantity",
                      text=text, what=what, examples=_examples(units), sample=_examples(units).split()[0])
    number, unit = match.groups()
    by_upper = {name.upper(): factor for name, factor in units.items()}
    factor = by_upper.get((unit or default_unit).upper())
    if factor is None:
        raise Refusal("{text!r}: unknown unit {unit!r}; valid units: {valid}", "unknown_unit", text=text, unit=unit,
                      valid=list(units))
    value = float(number) * factor if "." in number else int(number) * factor
    return int(round(value))


def _examples(units: dict[str, int]) -> str:
    names = list(units)
    return " or ".join(f"5{u}" for u in names[2:4] or names[:1])


def parse_size(text: str) -> int:
    """Bytes in `text` (`5GB`, `512MiB`, `1000`); a bare number is bytes."""
    return _parse(text, SIZE_UNITS, "B", "size")


def parse_rate_kbit(text: str) -> int:
    """Kilobits per second in `text` (`256kbit`, `2mbit`); a bare number is kbit."""
    value = _parse(text, RATE_UNITS, "kbit", "rate")
    if value <= 0:
        raise Refusal("{text!r}: a rate must be above zero", "rate_zero", text=text)
    return value


def parse_duration(text: str) -> int:
    """Seconds in `text` (`90s`, `15m`, `1h`, `2d`); a bare number is seconds."""
    return _parse(text, DURATION_UNITS, "S", "duration")


def format_size(n: int | None) -> str:
    """A size as a person reads it (`1.5 GB`), in the carrier's powers of 1000."""
    if n is None:
        return "-"
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{sign}{n:.0f} {unit}" if unit == "B" else f"{sign}{n:.1f} {unit}"
        n /= 1000
    return f"{sign}{n:.2f} TB"


def format_rate(bits_per_second: float) -> str:
    """A rate as a person reads it (`3.2 Mbit/s`)."""
    for unit in ("bit/s", "kbit/s", "Mbit/s"):
        if bits_per_second < 1000:
            return f"{bits_per_second:.0f} {unit}" if unit == "bit/s" else f"{bits_per_second:.1f} {unit}"
        bits_per_second /= 1000
    return f"{bits_per_second:.1f} Gbit/s"


def rfc3339(epoch: float | None) -> str | None:
    """A moment as the API writes it: UTC, whole seconds, a trailing Z (None stays None)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
