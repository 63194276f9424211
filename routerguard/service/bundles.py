"""The plan as eSIM bundles: their views, adding and removing one, and the bill split by usage."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from routerguard.account.ledger import ROUTER
from routerguard.config import uci
from routerguard.config.bundles import PLAN_ID, Bundle, read_bundle
from routerguard.config.file import format_size_option
from routerguard.decide import bundles, periods
from routerguard.decide.limits import BundlePlan, Snapshot
from routerguard.units import rfc3339
from routerguard.service.common import Area, Invalid, NotFound, parse_time

API_FIELDS = {"quota_bytes": "quota", "daily_bytes": "daily", "days": "days", "name": "name", "start": "start",
              "price": "price", "currency": "currency", "id": "id"}
COST_COLUMNS = ("mac", "group", "bytes", "amount", "currency")


def bundle_section(package: uci.Package, bid: str) -> uci.Section | None:
    return next((s for s in package.find("bundle") if s.get("id") == bid), None)


class Bundles(Area):
    """Bundles in the plan's view, their commands, and the costs."""

    def bundles(self, snap: Snapshot | None = None) -> list[dict]:
        """Every bundle, oldest first (then in the file's order); the recurring plan among them."""
        snap = snap or self.snapshot()
        if not self.core.config.bundles:
            return []
        plan = snap.bundle_plan()
        rate = self._plan_rate()
        _, unused = bundles.forecast(plan.slices, plan.drain.used, snap.now, rate)
        views = [self._bundle_view(account, plan, unused, snap) for account in plan.accounts]
        return sorted(views, key=lambda v: (v["start"] is None, v["_start"]))  # type: ignore[no-any-return]

    def _plan_rate(self) -> float:
        core = self.core
        return sum(sum(core.rates.rate(mac)) for mac in core.ledger.macs()) / 8

    def _bundle_view(self, account: bundles.Account, plan: BundlePlan, unused: list[int], snap: Snapshot) -> dict:
        config = self.core.config
        bundle = next((b for b in config.bundles if b.id == account.id), None)
        name = bundle.name if bundle else "plan"
        daily = bundle.daily if bundle else None
        start = account.start if account.start is not None and account.start > -1e18 else None
        return {
            "id": account.id,
            "name": name,
            "quota_bytes": account.quota,
            "used_bytes": account.used,
            "left_bytes": account.left,
            "start": rfc3339(start),
            "end": rfc3339(account.end),
            "state": account.state,
            "price": float(bundle.price) if bundle and bundle.price is not None else None,
            "currency": bundle.currency if bundle else None,
            "daily_bytes": daily,
            "days": bundle.days if bundle else None,
            "total_bytes": bundle.total if bundle else None,
            "total_used_bytes": account.total_used,
            "lapses_at": rfc3339(account.slice_end),
            "expires_unused_bytes": sum(u for s, u in zip(plan.slices, unused) if s.bundle == account.id),
            "recurring": bundle is None,
            "_start": start if start is not None else -1.0,
        }

    def with_bundles(self, view: dict, snap: Snapshot) -> dict:
        """The plan's view with its bundles; with bundles, its figures are theirs (sums over active bundles)."""
        if not self.core.config.bundles:
            view["bundles"] = []
            return view
        shown = self.bundles(snap)
        for v in shown:
            del v["_start"]
        plan = snap.bundle_plan()
        active = [v for v in shown if v["state"] == bundles.ACTIVE]
        exhausted_at, _ = bundles.forecast(plan.slices, plan.drain.used, snap.now, self._plan_rate())
        view.update({
            "bundles": shown,
            "quota_bytes": sum(v["quota_bytes"] for v in active),
            "used_bytes": sum(v["used_bytes"] for v in active),
            "remaining_bytes": plan.limit.remaining,  # what the bundles have left, plus the plan's top-ups
            "allowance_bytes": sum(v["quota_bytes"] for v in active) + plan.limit.allowance - plan.count - plan.left,
            "period": "bundles",
            "period_start": rfc3339(plan.origin),
            "period_end": rfc3339(plan.limit.end),
            "action": plan.limit.action,
            "forecast_exhausted_at": rfc3339(exhausted_at),
            "expires_unused_bytes": sum(v["expires_unused_bytes"] for v in shown),
        })
        return view

    def add_bundle(self, body: Any) -> dict:
        """Add a bundle from {"quota_bytes" | "daily_bytes", "days", "name"?, "start"?, "price"?, "currency"?}."""
        if not isinstance(body, dict):
            raise Invalid("the body must be a JSON object like {\"quota_bytes\": 5000000000, \"days\": 7}")
        unknown = set(body) - set(API_FIELDS)
        if unknown:
            raise Invalid(f"unknown field(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(API_FIELDS))}")
        for size in ("quota_bytes", "daily_bytes", "days"):
            if size in body and body[size] is None:
                raise Invalid("{field}: {reason}", "field_reason", field=size, reason="null is not a whole number")
        values = {API_FIELDS[k]: v for k, v in body.items() if v is not None}  # null optional fields: not given
        if "start" in values:
            values["start"] = self._start_text(values["start"])

        def fail(option: str, reason: ValueError) -> None:
            field = next(k for k, v in API_FIELDS.items() if v == option)
            raise Invalid("{field}: {reason}", "field_reason", field=field, reason=reason)

        existing = {b.id for b in self.core.config.bundles}
        now = self.core.now()
        if "start" not in values:  # when it was added, to the second, on the router's wall clock
            values["start"] = self.core.zone.to_local(now).replace(tzinfo=None).isoformat(timespec="seconds")
        bundle = read_bundle(values, fail, lambda option: next(k for k, v in API_FIELDS.items() if v == option),
                             text=False)
        assert bundle is not None  # read_bundle raised through fail() otherwise
        if "id" in values and bundle.id in existing:
            raise Invalid("{field}: {reason}", "field_reason", field="id", reason=f"a bundle {bundle.id!r} exists already")
        bid = bundle.id if "id" in values else _new_id(bundle, existing, now)

        def change(package: uci.Package) -> None:
            section = package.add("bundle")
            section.set("id", bid)
            section.set("name", bundle.name if "name" in values else _default_name(bundle))
            if bundle.quota is not None:
                section.set("quota", format_size_option(bundle.quota))
            else:
                section.set("daily", format_size_option(bundle.daily or 0))
            section.set("days", str(bundle.days))
            section.set("start", values["start"])
            if bundle.price is not None:
                section.set("price", str(bundle.price))
                section.set("currency", bundle.currency or "")

        self.core.config_file.edit(change)
        self.core.on_change()  # a plan cut because it ran out is let back on before the answer
        return self.bundle(bid)

    def _start_text(self, value: Any) -> str:
        """The API's start: local wall-clock time as the file keeps it ('2026-11-20T09:00'), or RFC 3339 with an offset."""
        if not isinstance(value, str):
            raise Invalid("{field}: {reason}", "field_reason", field="start",
                          reason=f"{value!r} is not a date and time like 2026-11-20T09:00")
        text = value.strip()
        if re.search(r"(Z|[+-]\d\d:?\d\d)$", text):
            epoch = parse_time(text, "start")
            return self.core.zone.to_local(epoch).replace(tzinfo=None).isoformat(timespec="seconds")
        return text

    def bundle(self, bid: str) -> dict:
        view = next((v for v in self.bundles() if v["id"] == bid), None)
        if view is None:
            raise NotFound("no bundle {bid!r}", "no_bundle", bid=bid)
        del view["_start"]
        return view

    def remove_bundle(self, bid: str) -> None:
        if bid not in {b.id for b in self.core.config.bundles}:
            raise NotFound("no bundle {bid!r}", "no_bundle", bid=bid)

        def change(package: uci.Package) -> None:
            section = bundle_section(package, bid)
            if section is not None:
                package.remove(section)

        self.core.config_file.edit(change)
        self.core.on_change()

    # --- the bill ---------------------------------------------------------------------

    def costs(self, since: Any = None, until: Any = None) -> list[dict]:
        """The bill split by usage: per device (mac None: the router) and currency, biggest first.

        A device's bytes from a bundle are the bundle's bytes of each segment
        between two boundaries, shared by what each device moved in the
        segment's hours (decide/bundles.py device_split); its amount is
        bundles.cost_split of the bundle's price over those bytes: the rows of
        a bundle add up to its price × the share used, to the cent. `from`
        and `to` pick whole hour buckets.
        """
        start = parse_time(since, "from") if since is not None else None
        end = parse_time(until, "to") if until is not None else None
        if start is not None and end is not None and end < start:
            raise Invalid("{field}: {reason}", "field_reason", field="to", reason=f"{until} is before from ({since})")
        snap = self.snapshot()
        config = self.core.config
        if not config.bundles:
            return []
        plan = snap.bundle_plan()
        zone = self.core.zone
        low = periods.bucket_start(start, zone) if start is not None else None
        high = periods.bucket_start(end, zone) if end is not None else None
        hourly: dict[int, dict[str, int]] = {}
        for hour, mac, up, down in self.core.ledger.series(None, plan.origin, snap.now + 1, lambda h: h):
            hourly.setdefault(hour, {})[mac or ROUTER] = up + down
        priced = {b.id: b for b in config.bundles if b.price is not None and b.currency}
        drawn: dict[str, dict[tuple[str, bool], int]] = {bid: {} for bid in priced}
        for segment in plan.drain.segments:
            first = periods.bucket_start(segment.start, zone)
            hours = [h for h in hourly if first <= h and (h < segment.end or segment.end >= snap.now)] \
                or [h for h in hourly if h == first]  # the hours the segment overlaps; the last runs to now
            weights: dict[tuple[str, bool], int] = {}
            for h in hours:
                inside = (low is None or h >= low) and (high is None or h < high)
                for mac, n in hourly[h].items():
                    weights[(mac, inside)] = weights.get((mac, inside), 0) + n
            for index, taken in segment.taken.items():
                bid = plan.slices[index].bundle
                if bid not in priced or not weights:
                    continue
                for key, n in bundles.split(taken, weights).items():
                    drawn[bid][key] = drawn[bid].get(key, 0) + n
        rows: dict[tuple[str, str], list] = {}
        for bid, by_key in drawn.items():
            bundle = priced[bid]
            inside = {mac: n for (mac, ok), n in by_key.items() if ok and n}
            for mac, amount in bundles.cost_split(bundle.price, bundle.total, inside).items():  # type: ignore[arg-type]
                row = rows.setdefault((mac, bundle.currency or ""), [0, Decimal(0)])
                row[0] += inside[mac]
                row[1] += amount
        found = []
        for (mac, currency), (nbytes, amount) in rows.items():
            device = config.devices.get(mac)
            found.append({"mac": None if mac == ROUTER else mac, "group": device.group if device else None,
                          "bytes": nbytes, "amount": float(amount), "currency": currency})
        return sorted(found, key=lambda r: (-r["amount"], -r["bytes"], r["currency"], r["mac"] or ""))

    def costs_csv(self, since: Any = None, until: Any = None) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COST_COLUMNS)
        for row in self.costs(since, until):
            writer.writerow(["" if row[c] is None else (f"{row[c]:.2f}" if c == "amount" else row[c]) for c in COST_COLUMNS])
        return out.getvalue()


def _default_name(bundle: Bundle) -> str:
    size = format_size_option(bundle.quota if bundle.quota is not None else bundle.daily or 0)
    return f"{size} / {bundle.days} d" if bundle.quota is not None else f"{size} a day × {bundle.days}"


def _new_id(bundle: Bundle, existing: set[str], now: float) -> str:
    stamp = datetime.fromtimestamp(now).strftime("%m%d%H%M")
    base = f"b{stamp}"
    bid, n = base, 1
    while bid in existing or bid == PLAN_ID:
        n += 1
        bid = f"{base}-{n}"
    return bid
