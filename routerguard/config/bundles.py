"""What an eSIM bundle may be (`config bundle`): one set of rules for the UCI file and the API's JSON.

A bundle is data bought once: a quota valid N days from its start ("5 GB
valid 7 days"), or a day pack (`daily`: that many bytes each local day for N
days, unused bytes lapsing at midnight). It may carry what it cost, so the
bill can be split by usage. As with caps (caps.py), the file's reader and
the API's reader accept and refuse the same values; each only says how its
values look (text with units, or JSON numbers) and how a problem names the
field.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Callable, Mapping

from routerguard.config.caps import BYTES, DAYS, REPORTED, Moment
from routerguard.config.text import has_controls
from routerguard.reasons import Refusal

BUNDLE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")  # ISO 4217: PKR, EUR, CNY
MAX_PRICE = Decimal("1000000000")  # a billion of any currency is a typo, not an eSIM bundle
PRICE_PLACES = 4  # more decimals than any currency has is a typo too
OPTIONS = ("id", "name", "quota", "daily", "start", "days", "price", "currency")
PLAN_ID = "plan"  # the recurring `config plan` as a bundle; no `config bundle` may take this id

Fail = Callable[[str, ValueError], None]  # (option, what is wrong and what would be valid)


@dataclass(frozen=True)
class Bundle:
    """One bundle as configured; `start` None: since the daemon first saw it (it was added then)."""

    id: str
    name: str
    days: int
    quota: int | None = None  # bytes for the whole validity; or
    daily: int | None = None  # bytes for each local day (a day pack)
    start: datetime | None = None  # local wall-clock time (or with an explicit offset)
    price: Decimal | None = None
    currency: str | None = None

    @property
    def total(self) -> int:
        """Every byte the bundle can ever give: the quota, or a day pack's days times its daily bytes."""
        return self.quota if self.quota is not None else (self.daily or 0) * self.days


def made_up_id(label: str, values: Mapping[str, object]) -> str:
    """An id for a section that gives none: stable while the section's options are (its label and values)."""
    digest = hashlib.sha1(repr((label, sorted((k, str(v)) for k, v in values.items()))).encode()).hexdigest()
    return f"b{digest[:7]}"


def parse_price(value: object, text: bool) -> Decimal:
    """A price: a non-negative decimal (text '700' or '4.99'; JSON a number or such a string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise Refusal("{value!r} is not a price; write a number like 700 or 4.99", "not_a_price", value=value)
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise Refusal("{value!r} is not a price; write a number like 700 or 4.99", "not_a_price", value=value) from None
    if not price.is_finite() or price < 0 or price > MAX_PRICE:
        raise Refusal("{value} is out of range; expected {expected}", "out_of_range", value=value, expected=f"0..{MAX_PRICE}",
                      low=0, high=MAX_PRICE)
    if -price.as_tuple().exponent > PRICE_PLACES:  # type: ignore[operator]
        raise Refusal("{value!r} has more than {places} decimals", "too_many_decimals", value=value, places=PRICE_PLACES)
    return price


def read_bundle(values: Mapping[str, object], fail: Fail, refer: Callable[[str], str], *, text: bool,
                label: str = "") -> Bundle | None:
    """The bundle `values` describe (keyed by OPTIONS), or None; `fail` hears every problem, all of them.

    `text`: UCI text (sizes with units) rather than JSON numbers; `refer`
    names an option inside a message in the reader's words; `label` is the
    section's, for an id made up when none is given.
    """
    wrong: list[str] = []

    def report(option: str, reason: ValueError) -> None:
        wrong.append(option)
        fail(option, reason)

    def read(option: str, parse: Callable[[object], object]) -> object:
        value = values.get(option)
        if value is None:
            return None
        if value is REPORTED:
            wrong.append(option)
            return None
        try:
            return parse(value)
        except ValueError as e:
            report(option, e)
            return None

    bid = read("id", _bundle_id)
    name = read("name", _name)
    quota = read("quota", lambda v: BYTES.read(v, text))
    daily = read("daily", lambda v: BYTES.read(v, text))
    start = read("start", lambda v: Moment().read(v, text))
    days = read("days", lambda v: DAYS.read(v, text))
    price = read("price", lambda v: parse_price(v, text))
    currency = read("currency", _currency)
    if values.get("quota") is not None and values.get("daily") is not None:
        report("daily", Refusal("give {quota} or {daily}, not both: a bundle is a quota for its days or a day pack",
                                "bundle_quota_or_daily", quota=refer("quota"), daily=refer("daily")))
    elif values.get("quota") is None and values.get("daily") is None:
        report("quota", Refusal("missing; give {quota} (bytes for the whole validity) or {daily} (bytes a day)",
                                "bundle_needs_size", quota=refer("quota"), daily=refer("daily")))
    for size, option in ((quota, "quota"), (daily, "daily")):
        if size == 0:
            report(option, Refusal("{value} is out of range; expected {expected}", "out_of_range", value=0,
                                   expected="1.." + str(BYTES.high), low=1, high=BYTES.high))
    if values.get("days") is None:
        report("days", Refusal("missing; required: expected {expected}", "missing", why="", expected=DAYS.expected))
    if price is not None and currency is None and values.get("currency") is None:
        report("currency", Refusal("missing; a price needs its currency, e.g. PKR or EUR", "price_needs_currency"))
    if wrong:
        return None
    if bid is None:
        bid = made_up_id(label, {k: v for k, v in values.items() if v is not None})
    return Bundle(bid, name or bid, days, quota, daily, start, price, currency)  # type: ignore[arg-type]


def _bundle_id(value: object) -> str:
    if not isinstance(value, str) or not BUNDLE_ID_RE.match(value):
        raise Refusal("{value!r}: use 1-32 letters, digits, '_' or '-'", "bad_bundle_id", value=value)
    if value == PLAN_ID:
        raise Refusal("{value!r} is the recurring plan's id; choose another", "bad_bundle_id", value=value)
    return value


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise Refusal("name must be a non-empty string of at most {most} characters", "bad_name", most=64)
    if has_controls(value):
        raise Refusal("{field} must not contain line breaks or control characters", "name_control", field="name")
    return value.strip()


def _currency(value: object) -> str:
    if not isinstance(value, str) or not CURRENCY_RE.match(value.strip().upper()):
        raise Refusal("{value!r} is not a currency code; write three letters like PKR, EUR or CNY", "not_a_currency",
                      value=value)
    return value.strip().upper()
