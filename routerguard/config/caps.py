"""What a cap may be: one set of rules for the UCI file and for the API's JSON.

A cap reaches the daemon two ways, as UCI text a person typed (`option cap
'5GB'`) and as JSON a page or script sent (`{"bytes": 5000000000}`); both must
accept and refuse the same caps, or a cap set from the page could make the
file unreadable at the next start. So each field's range, the periods and
actions, and the rules between fields live here once. Each reader only says
how its values look (text with units, or JSON numbers) and how it names a
field in a problem (file:line and option, or `cap.bytes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Mapping

from routerguard import units
from routerguard.reasons import Refusal

PERIODS = ("daily", "weekly", "monthly", "days", "none")
ACTIONS = ("block", "throttle", "notify")
MAX_BYTES = 10**15  # 1000 TB: anything larger is a typo (a petabyte is no data plan)
MAX_THROTTLE_KBIT = 10**7  # 10 Gbit/s: faster than any uplink this runs on, so a typo
MAX_DAYS = 3660  # ten years of an eSIM plan
FIELDS = ("bytes", "period", "action", "throttle_kbit", "reset_day", "reset_hour", "start", "days")
REPORTED = object()  # a value its reader could not read and has reported already: given, checked no further

Fail = Callable[[str, ValueError], None]  # (field, what is wrong and what would be valid)


@dataclass(frozen=True)
class Period:
    """When an allowance starts afresh.

    `reset_day` is the day of the month (monthly, clamped to the month's
    length) or of the week (weekly, 1 = Monday); `start` and `days` describe
    an eSIM-style plan valid N days from its activation.
    """

    kind: str = "none"
    reset_day: int = 1
    reset_hour: int = 0
    start: datetime | None = None
    days: int | None = None


@dataclass(frozen=True)
class Cap:
    bytes: int
    period: Period
    action: str = "block"
    throttle_kbit: int | None = None


def is_whole(value: object) -> bool:
    """A JSON whole number (true and false are ints to Python, not to a user)."""
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Whole:
    """A whole number in low..high; text may carry units when `parse_text` reads them."""

    low: int
    high: int
    unit: str = ""
    parse_text: Callable[[str], int] | None = None

    @property
    def expected(self) -> str:
        return f"{self.low}..{self.high}" + (f" {self.unit}" if self.unit else "")

    def read(self, value: object, text: bool) -> int:
        if text and self.parse_text:
            number = self.parse_text(str(value))  # its ValueError says which units are valid
        elif text and str(value).strip().lstrip("-").isdigit():
            number = int(str(value))
        elif not text and is_whole(value):
            number = value  # type: ignore[assignment]
        else:
            raise Refusal("{value!r} is not a whole number; expected {expected}", "not_whole", value=value,
                          expected=self.expected, low=self.low, high=self.high)
        if not self.low <= number <= self.high:
            raise Refusal("{value} is out of range; expected {expected}", "out_of_range", value=value,
                          expected=self.expected, low=self.low, high=self.high)
        return number


@dataclass(frozen=True)
class Choice:
    choices: tuple[str, ...]

    @property
    def expected(self) -> str:
        return f"one of: {', '.join(self.choices)}"

    def read(self, value: object, text: bool) -> str:
        if value not in self.choices:
            raise Refusal("{value!r} is not {expected}", "not_a_choice", value=value, expected=self.expected,
                          choices=self.choices)
        return value  # type: ignore[return-value]


class Moment:
    """A local date and time, as the start of a days period (ISO 8601 text in both readers)."""

    expected = "a date and time like 2026-11-20T09:00"

    def read(self, value: object, text: bool) -> datetime:
        try:
            return datetime.fromisoformat(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise Refusal("{value!r} is not {expected}", "not_a_moment", value=value, expected=self.expected) from None


BYTES = Whole(0, MAX_BYTES, "bytes (1000TB)", units.parse_size)
THROTTLE_KBIT = Whole(1, MAX_THROTTLE_KBIT, "kbit/s (10gbit)", units.parse_rate_kbit)
RESET_HOUR = Whole(0, 23)
DAYS = Whole(1, MAX_DAYS, "days")
RULES: dict[str, Whole | Choice | Moment] = {
    "bytes": BYTES, "period": Choice(PERIODS), "action": Choice(ACTIONS), "throttle_kbit": THROTTLE_KBIT,
    "reset_hour": RESET_HOUR, "start": Moment(), "days": DAYS,
}


def reset_day(kind: str) -> Whole:
    """The day a period starts on: of the week (1 = Monday) for weekly, else of the month."""
    return Whole(1, 7 if kind == "weekly" else 31)


def read_cap(values: Mapping[str, object], fail: Fail, refer: Callable[[str], str], *, text: bool,
             bytes_required: bool = True, default_period: str = "none") -> Cap | None:
    """The cap `values` describe (keyed by FIELDS), or None; `fail` hears every problem.

    `text` says the values are UCI text (sizes and rates with units) rather
    than JSON numbers; `refer` names a field inside a message in the reader's
    words. Every field is checked even after a problem, so a reader that
    collects problems lists them all; `fail` may raise instead. One check is
    skipped when an earlier problem makes it meaningless: "action throttle
    needs a rate" when the rate is given but unreadable. reset_day's range
    follows the period (1..7 weekly, else 1..31); when the period itself is
    wrong, the reader's default period's range applies.
    Without `bytes` there is no cap, but its other fields are still checked.
    """
    wrong: list[str] = []

    def report(field: str, reason: ValueError) -> None:
        wrong.append(field)
        fail(field, reason)

    def read(field: str, rule: Whole | Choice | Moment, default: object = None) -> object:
        if field not in values:
            return default
        value = values[field]
        if value is REPORTED:
            wrong.append(field)
            return default
        try:
            return rule.read(value, text)
        except ValueError as e:
            report(field, e)
            return default

    def required(field: str, why: str) -> None:
        if field not in values:
            report(field, Refusal("missing; required{why}: expected {expected}", "missing_with_days" if why else "missing",
                                  why=why, expected=RULES[field].expected))

    nbytes = read("bytes", BYTES)
    if bytes_required:
        required("bytes", "")
    kind = read("period", RULES["period"], default_period)
    action = read("action", RULES["action"], "block")
    throttle = read("throttle_kbit", THROTTLE_KBIT)
    if action == "throttle" and "throttle_kbit" not in values:
        report("action", Refusal("'throttle' needs {rate} too: the rate to slow to, e.g. 256 kbit/s", "throttle_needs_rate",
                                 rate=refer("throttle_kbit")))
    day = read("reset_day", reset_day(kind), 1)  # type: ignore[arg-type]
    hour = read("reset_hour", RESET_HOUR, 0)
    start = read("start", RULES["start"])  # checked whenever given, used by a days period only
    days = read("days", DAYS)
    if kind == "days":
        required("start", " with period 'days'")
        required("days", " with period 'days'")
    else:
        start = days = None
    if nbytes is None or wrong:
        return None
    return Cap(nbytes, Period(kind, day, hour, start, days), action, throttle)  # type: ignore[arg-type]
