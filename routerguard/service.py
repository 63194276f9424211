"""The narrow interface the page, the API and the CLI use: views and commands.

Views are plain dicts in the API's shapes (../shared/interface.md: DEVICE,
plan, groups). Commands validate everything before changing anything, so a
bad request changes nothing: `Invalid` (HTTP 422) names the field and what
would be valid, `NotFound` (404) the missing thing.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, time, timedelta
from typing import Any, Callable, Iterable, Iterator

from routerguard.account import destinations
from routerguard.account.ledger import ROUTER
from routerguard.attribute.categories import Catalog, catalog
from routerguard.attribute.names import describe
from routerguard.config.categories import domain_problem, shipped_ids
from routerguard.config.file import device_section, group_section, write_cap
from routerguard.config.caps import FIELDS, MAX_BYTES, Cap, is_whole, read_cap
from routerguard.config.model import ID_RE, MAX_THRESHOLDS, NOTIFY_OPTIONS, Config, Notify, parse_mac
from routerguard.config import uci
from routerguard.core import Core
from routerguard.decide import periods
from routerguard.decide.limits import Snapshot, members, scope_key
from routerguard.decide.policy import Limit
from routerguard.decide.uplinks import is_metered
from routerguard.notify import SECRET_OPTIONS, TEST_ALERT, Render, deliveries, mask, send_test
from routerguard.read.uplink import default_interface
from routerguard.reasons import Reason, Refusal, tag
from routerguard.units import rfc3339

MAX_NAME = 64
MAX_DOMAINS = 256  # per category of one's own; the shipped lists have up to 32
MAX_TOPUP = MAX_BYTES  # a top-up is held to a cap's largest size
MAX_BLOCK_SECONDS = 366 * periods.DAY  # a timed block longer than a year is a typo: block without an end instead
HISTORY_SPAN = {"hour": 2 * periods.DAY, "day": 30 * periods.DAY}  # what a chart shows when asked for no range
MAX_HISTORY_POINTS = 4000  # keeps one request from walking years of hours
ALERTS_SHOWN = 200
EXPORT_COLUMNS = ("time", "mac", "up_bytes", "down_bytes")
EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
EXPORT_PIECE_HOURS = 26  # longer than any local day, so each piece ends on a later step's start


class Invalid(Refusal):
    """A request value out of range (HTTP 422)."""


class NotFound(Reason, LookupError):
    """No such device or group (HTTP 404)."""


class Conflict(ValueError):
    """A request the current state forbids, e.g. removing a shipped category (HTTP 409)."""


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


_is_int = is_whole  # the API's other whole numbers are read the way a cap's are


def _csv_rows(pieces: Iterable[list[dict]]) -> Iterator[str]:
    """A header line, then a piece at a time."""
    out = io.StringIO()
    writer = csv.DictWriter(out, EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for rows in pieces:
        writer.writerows(rows)
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


def _json_rows(pieces: Iterable[list[dict]]) -> Iterator[str]:
    """{"rows": [...]}, a piece at a time."""
    yield '{"rows": ['
    separator = ""
    for rows in pieces:
        if rows:
            yield separator + ", ".join(map(json.dumps, rows))
            separator = ", "
    yield "]}"


def _bytes(up: int, down: int) -> dict:
    return {"up_bytes": up, "down_bytes": down, "total_bytes": up + down}


class Service:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.secrets = core.secrets  # the page's logins and the API's tokens

    # --- views ---------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        return self.core.snapshot()

    def known_macs(self) -> list[str]:
        return self.core.known_macs()

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

    def plan(self) -> dict:
        core, snap = self.core, self.snapshot()
        plan = core.config.plan
        limit = snap.plan()
        used = sum(sum(snap.usage(mac, limit.start if limit else None)) for mac in core.ledger.macs())
        rate = sum(sum(core.rates.rate(mac)) for mac in core.ledger.macs()) / 8
        wan_total = core.health.wan_total
        return {
            "quota_bytes": plan.quota if plan else None,
            "used_bytes": used,
            "allowance_bytes": limit.allowance if limit else None,
            "remaining_bytes": limit.remaining if limit else None,
            "period": plan.period.kind if plan else None,
            "period_start": rfc3339(limit.start if limit else None),
            "period_end": rfc3339(limit.end if limit else None),
            "action": plan.action if plan else None,
            "wan_snmp_bytes": wan_total,
            "gap_bytes": wan_total - used if wan_total is not None else None,
            "router_bytes": sum(snap.usage(ROUTER, limit.start if limit else None)),
            "forecast_exhausted_at": rfc3339(periods.forecast_exhausted_at(limit.allowance, limit.used, rate, snap.now, end=limit.end))
            if limit else None,
            "rate_bps": int(rate * 8),
            "cap": cap_view(Cap(plan.quota, plan.period, plan.action, plan.throttle_kbit), limit) if plan else None,
            "uplink": uplink_view(core.config, default_interface()),
        }

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

    def health(self) -> dict:
        health = self.core.health
        return {"ok": True, "readings": health.readings, "config_error": health.config_error,
                "events_lost": health.events_lost, "unattributed_bytes": health.unattributed_bytes}

    def history(self, mac: str | None, step: str, since: Any = None, until: Any = None) -> dict:
        """Usage per local hour or day, every step present (zeros too) so a chart has no gaps."""
        if step not in HISTORY_SPAN:
            raise Invalid(f"step must be one of {', '.join(HISTORY_SPAN)}")
        if mac is not None:
            mac = self._known(mac)
        end = parse_time(until, "to") if until is not None else self.core.now()
        begin = parse_time(since, "from") if since is not None else end - HISTORY_SPAN[step]
        if begin >= end:
            raise Invalid("from must be before to")
        key = self._step_key(step)
        steps = self._steps(step, key(periods.bucket_start(begin, self.core.zone)), end)
        if len(steps) > MAX_HISTORY_POINTS:
            raise Invalid(f"that range has {len(steps)} {step}s; ask for at most {MAX_HISTORY_POINTS}")
        sums = {t: [0, 0] for t in steps}
        for t, _, up, down in self.core.ledger.series(mac, steps[0], end, key, by_device=False):
            pair = sums.setdefault(t, [0, 0])
            pair[0], pair[1] = pair[0] + up, pair[1] + down
        return {"mac": mac, "step": step, "from": rfc3339(steps[0]), "to": rfc3339(end),
                "points": [{"time": rfc3339(t), "up_bytes": up, "down_bytes": down, "total_bytes": up + down}
                           for t, (up, down) in sorted(sums.items())]}

    def _step_key(self, step: str) -> Callable[[int], int]:
        """Maps an hour bucket to the start of its step: itself, or its local midnight."""
        if step == "hour":
            return lambda hour: hour
        zone, midnights = self.core.zone, {}

        def midnight(hour: int) -> int:
            day = zone.to_local(hour).date()
            if day not in midnights:
                midnights[day] = int(zone.to_epoch(datetime.combine(day, time.min)))
            return midnights[day]

        return midnight

    def _steps(self, step: str, first: int, end: float) -> list[int]:
        zone, found, t = self.core.zone, [first], first
        while len(found) <= MAX_HISTORY_POINTS:
            if step == "hour":
                t = periods.bucket_start(t + periods.HOUR, zone)
            else:
                t = int(zone.to_epoch(datetime.combine(zone.to_local(t).date() + timedelta(days=1), time.min)))
            if t >= end:
                break
            found.append(t)
        return found

    def export(self, mac: str | None, step: str, since: Any = None, until: Any = None,
               fmt: str = "csv") -> tuple[str, Iterator[str]]:
        """(content type, text in pieces) of the stored usage per device and step, for spreadsheets and archives.

        Unlike history (a chart's evenly spaced points) only steps with traffic
        appear, one row per device, over all history unless from/to narrow it.
        The text is made a day at a time as it is sent: a month of 250
        devices by the hour, made at once, took 88 MiB.
        """
        if step not in HISTORY_SPAN:
            raise Invalid(f"step must be one of {', '.join(HISTORY_SPAN)}")
        if fmt not in EXPORT_TYPES:
            raise Invalid(f"format must be one of {', '.join(EXPORT_TYPES)}")
        if mac is not None:
            mac = self._known(mac)
        key = self._step_key(step)
        begin = key(periods.bucket_start(parse_time(since, "from"), self.core.zone)) if since is not None else 0
        end = parse_time(until, "to") if until is not None else float("inf")
        pieces = self._export_pieces(mac, key, begin, end)
        return EXPORT_TYPES[fmt], (_json_rows if fmt == "json" else _csv_rows)(pieces)

    def _export_pieces(self, mac: str | None, key: Callable[[int], int], begin: int,
                       end: float) -> Iterator[list[dict]]:
        """The export's rows, a piece of EXPORT_PIECE_HOURS at most at a time, each ending where a step begins."""
        hours = self.core.ledger.hours(mac)
        if hours is None:
            return
        start, end = max(begin, key(hours[0])), min(end, hours[1] + periods.HOUR)
        while start < end:
            upto = min(key(start + EXPORT_PIECE_HOURS * periods.HOUR), end)
            yield [dict(zip(EXPORT_COLUMNS, (rfc3339(t), row_mac, up, down)))
                   for t, row_mac, up, down in self.core.ledger.series(mac, start, upto, key)]
            start = upto

    def destinations(self, mac: str) -> list[dict]:
        """What ate the device's data this period: bytes per name it looked up, biggest first."""
        mac = self._known(mac)
        window = self.snapshot().window(mac)
        return self._named(mac, window.start if window else None)

    def _named(self, mac: str, start: float | None) -> list[dict]:
        """The device's destinations since `start`, each with its service and category."""
        found = self._catalog()
        return destinations.view(self.core.destinations.top(mac, start), lambda name: describe(name, found))

    def _catalog(self) -> Catalog:
        """The shipped category lists with the config's own."""
        return catalog(self.core.config.categories)

    # --- what ate the data: the destinations added up, for the device page, the dashboard and /me ---------

    def categories_used(self, mac: str) -> list[dict]:
        """Bytes per category in the device's window, biggest first; they add up to its destinations.

        `category` null holds what is in no list: names no list knows, addresses
        without a name (the address is the name) and the "other" row."""
        return self._category_views(self.destinations(mac))

    def services_used(self, mac: str) -> list[dict]:
        """Bytes per service in the device's window, biggest first: what a guest reads on its own page.

        A name in no list is its own row (`service` null, `name` the name)."""
        rows = destinations.summed(self.destinations(mac), lambda row: (row["service"] or row["name"], row["service"] is not None,
                                                                         row["category"]))
        return [{"name": name, "service": name if listed else None, "category": category, **_bytes(up, down)}
                for (name, listed, category), up, down in rows]

    def plan_breakdown(self) -> dict:
        """Where the plan's data went: bytes per category over every line, and every line's bytes, in the plan's window.

        Without a plan the window is all time, as `plan()` counts. A line's bytes
        its destinations do not cover (windows that began before the plan's, or
        were dropped) count to category null, so the categories add up to the
        plan's use."""
        snap = self.snapshot()
        limit = snap.plan()
        start = limit.start if limit else None
        rows: list[dict] = []
        lines = []
        for mac in self.core.ledger.macs():
            up, down = snap.usage(mac, start)
            if not up + down:
                continue
            named = self._named(mac, start)
            rest_up = up - sum(row["up_bytes"] for row in named)
            rest_down = down - sum(row["down_bytes"] for row in named)
            rows += named + [{"category": None, **_bytes(max(rest_up, 0), max(rest_down, 0))}]
            lines.append({"mac": None if mac == ROUTER else mac, "name": None if mac == ROUTER else self.name_of(mac),
                          **_bytes(up, down)})
        return {"from": rfc3339(start), "used_bytes": sum(line["total_bytes"] for line in lines),
                "categories": [view for view in self._category_views(rows) if view["total_bytes"]],
                "devices": sorted(lines, key=lambda line: line["total_bytes"], reverse=True)}

    def _category_views(self, rows: Iterable[dict]) -> list[dict]:
        found = self._catalog()
        return [{"category": cid, "name": found.get(cid).name if cid else None, **_bytes(up, down)}  # ids come from this catalog
                for cid, up, down in destinations.summed(rows, lambda row: row["category"])]

    def categories(self) -> list[dict]:
        """Each category with its domains; `origin`: shipped, changed (a shipped id the config replaces) or added."""
        shipped, own = shipped_ids(), {c.id for c in self.core.config.categories}
        return [{"id": c.id, "name": c.name, "domains": c.domains,
                 "services": [{"name": name, "domains": list(domains)} for name, domains in c.services],
                 "origin": ("changed" if c.id in own else "shipped") if c.id in shipped else "added"}
                for c in self._catalog().categories]

    def alerts(self) -> list[dict]:
        return [{"id": a.id, "time": rfc3339(a.time), "kind": a.kind, "mac": a.mac, "message": a.message, "params": a.params}
                for a in self.core.alerts.recent(ALERTS_SHOWN)]

    def local_time(self, text: str) -> datetime:
        """An RFC 3339 time from a view on the router's wall clock, for the page."""
        return self.core.zone.to_local(parse_time(text, "time"))

    def own_names(self) -> set[str]:
        """The addresses the page is served on and the names the admin gave it: part of the Host check."""
        main = self.core.config.main
        return {host for host, _ in main.listen} | set(main.server_name)

    # --- uplinks (issue 16) ----------------------------------------------------

    def uplinks(self) -> list[dict]:
        """Every uplink routerguard knows (wan_if, `config uplink`): in use, metered, link, bytes since the start.

        `internet` is None: nothing probes the uplinks yet, so whether one
        reaches the internet is not known (a link can be up behind a captive
        portal).
        """
        core = self.core
        names = core.config.uplink_names
        core.uplinks.poll(names)
        views = []
        for name in names:
            status = core.uplinks.status(name)
            views.append({"ifname": name, "metered": is_metered(core.config, name), "link": status.link,
                          "internet": None, "in_use": status.in_use, "since": rfc3339(status.since),
                          "up_bytes": status.up_bytes, "down_bytes": status.down_bytes})
        return views

    # --- commands ------------------------------------------------------------

    def patch_device(self, mac: str, changes: Any) -> dict:
        mac = self._known(mac)
        if not isinstance(changes, dict):
            raise Invalid("the body must be a JSON object")
        allowed = {"name", "group", "exempt", "cap", "blocked", "blocked_until", "blocked_for", "block"}
        unknown = set(changes) - allowed
        if unknown:
            raise Invalid(f"unknown field(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(allowed))}")
        config = self.core.config
        edits = []
        if "name" in changes:
            name = changes["name"]
            if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME or not name.strip()):
                raise Invalid("name must be a non-empty string of at most {most} characters, or null", "bad_name", most=MAX_NAME)
            edits.append(lambda s: s.set("name", name.strip()) if name else s.delete("name"))
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
        if "cap" in changes:
            cap = parse_cap(changes["cap"])
            edits.append(lambda s: write_cap(s, cap))
        if "block" in changes:
            categories = self._category_ids(changes["block"], "block")
            edits.append(lambda s: s.set_list("block", categories))
        block_until = self._parse_block(changes)
        if edits:
            def change(package: uci.Package) -> None:
                section = device_section(package, mac)
                for edit in edits:
                    edit(section)
            self.core.config_file.edit(change)
        if block_until is not False:
            self._apply_block(mac, changes.get("blocked", True), block_until)
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
            if not _is_int(seconds) or not 0 < seconds <= MAX_BLOCK_SECONDS:
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
        if not _is_int(nbytes) or not 0 < nbytes <= MAX_TOPUP:
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

    # --- notifications: where alerts go (`config notify`) ------------------------

    def notify(self) -> dict:
        """`config notify` in the API's shape: secrets masked, `channels` the ones set up."""
        notify = self.core.config.notify
        view: dict[str, Any] = {name: getattr(notify, name) for name in NOTIFY_OPTIONS}
        view.update({name: mask(view[name]) for name in SECRET_OPTIONS})
        view["thresholds"] = list(notify.thresholds)
        view["channels"] = [d.channel for d in deliveries(notify, {**TEST_ALERT, "time": None})]
        return view

    def put_notify(self, body: Any) -> dict:
        """Change the fields given (the others stay); null clears one; a secret sent back masked keeps the stored one."""
        if not isinstance(body, dict):
            raise Invalid("the body must be a JSON object")
        allowed = {"thresholds", *NOTIFY_OPTIONS}
        unknown = set(body) - allowed - {"channels"}  # `channels` is the view's own: sending the view back is fine
        if unknown:
            raise Invalid(f"unknown field(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(allowed))}")
        channels = body.get("channels", [])
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            raise Invalid("channels (the view's list of channels set up, ignored here) must be a list of strings")
        current = self.core.config.notify
        options: dict[str, str | None] = {}
        for name in NOTIFY_OPTIONS.keys() & body.keys():
            value = body[name]
            if isinstance(value, str):
                value = value.strip() or None
            if value is not None and not isinstance(value, str):
                raise Invalid(f"{name} must be a string or null")
            if value == getattr(current, name) or (name in SECRET_OPTIONS and value is not None and value == mask(getattr(current, name))):
                continue  # as it is (a secret: the masked value the view showed): the file keeps its own text
            if value is not None:
                try:
                    NOTIFY_OPTIONS[name](value)
                except ValueError as e:
                    raise Invalid(f"{name}: {e}") from None
            options[name] = value
        thresholds = self._parse_thresholds(body["thresholds"]) if "thresholds" in body else None
        if thresholds is not None and tuple(thresholds) == current.thresholds:
            thresholds = None  # the defaults stay unwritten
        def change(package: uci.Package) -> None:
            section = next(iter(package.find("notify")), None) or package.add("notify", "notify")
            for name, value in options.items():
                if value is None or value == getattr(Notify(), name):  # a default is left unwritten
                    section.delete(name)
                else:
                    section.set(name, value)
            if thresholds is not None:
                section.set_list("threshold", [str(t) for t in thresholds])

        self.core.config_file.edit(change)
        self.core.on_change()
        return self.notify()

    @staticmethod
    def _parse_thresholds(value: Any) -> list[int]:
        rule = f"thresholds must be a list of 1 to {MAX_THRESHOLDS} whole percentages from 1 to 100"
        if not isinstance(value, list) or not 0 < len(value) <= MAX_THRESHOLDS:
            raise Invalid(rule)
        if not all(_is_int(t) and 1 <= t <= 100 for t in value):
            raise Invalid(rule)
        return sorted(set(value))

    def test_notify(self, render: Render | None = None) -> list[dict]:
        """A test alert to every channel now (in the section's language, with `render`'s words); each one's outcome."""
        return [{"channel": o.channel, "ok": o.ok, "status": o.status, "error": o.error}
                for o in send_test(self.core.config.notify, rfc3339(self.core.now()), render)]
    # --- the data saver and the category lists ------------------------------------

    def saver(self) -> dict:
        """The categories blocked for everyone (`config saver`) and for each group's members (its `list block`)."""
        config = self.core.config
        return {"block": list(config.saver_block),
                "groups": {gid: list(group.block) for gid, group in sorted(config.groups.items())}}

    def set_saver(self, body: Any) -> dict:
        """Replace the everyone list and, for the groups `body["groups"]` names, theirs; one edit, in effect at once."""
        if not isinstance(body, dict) or "block" not in body:
            raise Invalid('the body must be a JSON object like {"block": ["video"]}')
        unknown = set(body) - {"block", "groups"}
        if unknown:
            raise Invalid(f"unknown field(s) {', '.join(sorted(unknown))}; valid: block, groups")
        everyone = self._category_ids(body["block"], "block")
        groups = body.get("groups", {})
        if not isinstance(groups, dict):
            raise Invalid('groups must be an object like {"kids": ["video"]}')
        lists = {}
        for gid, categories in groups.items():
            if gid not in self.core.config.groups:
                raise Invalid(f"groups: no group {gid!r}; groups: {', '.join(self.core.config.groups) or 'none'}")
            lists[gid] = self._category_ids(categories, f"groups.{gid}")

        def change(package: uci.Package) -> None:
            first, *others = package.find("saver") or [package.add("saver", "saver")]
            first.set_list("block", everyone)
            for section in others:  # several sections add up; the list now lives in the first
                section.delete("block")
            for gid, categories in lists.items():
                group_section(package, gid).set_list("block", categories)

        self.core.config_file.edit(change)
        self.core.on_change()
        return self.saver()

    def put_category(self, cid: str, body: Any) -> dict:
        """Add a category of one's own, or replace a list (a shipped one too): one `config category` section."""
        if not ID_RE.match(cid):
            raise Invalid("id: a category id is 1-32 letters, digits, '_' or '-'")
        if not isinstance(body, dict):
            raise Invalid('the body must be a JSON object like {"name": "Games", "domains": ["steamcontent.com"]}')
        unknown = set(body) - {"name", "domains"}
        if unknown:
            raise Invalid(f"unknown field(s) {', '.join(sorted(unknown))}; valid: domains, name")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise Invalid(f"name must be a non-empty string of at most {MAX_NAME} characters")
        domains = self._domains(body.get("domains"))

        def change(package: uci.Package) -> None:
            first, *others = [s for s in package.find("category") if s.get("id") == cid] or [package.add("category")]
            for section in others:
                package.remove(section)
            first.set("id", cid)
            first.set("name", name.strip())
            first.set_list("domain", domains)

        self.core.config_file.edit(change)
        self.core.on_change()
        return next(c for c in self.categories() if c["id"] == cid)

    def delete_category(self, cid: str) -> None:
        """Remove a category of one's own; the block lists naming it lose it (the config would not be valid)."""
        if cid in shipped_ids():
            raise Conflict(f"{cid!r} is a shipped category and cannot be removed; PUT its domains to change it")
        if not any(c.id == cid for c in self.core.config.categories):
            raise NotFound(f"no category {cid!r} of one's own")

        def change(package: uci.Package) -> None:
            for section in package.find("category"):
                if section.get("id") == cid:
                    package.remove(section)
            for section in package.find("saver") + package.find("group") + package.find("device"):
                if cid in section.get_list("block"):
                    section.set_list("block", [c for c in section.get_list("block") if c != cid])

        self.core.config_file.edit(change)
        self.core.on_change()

    def _category_ids(self, value: Any, field: str) -> list[str]:
        """A block list: known category ids, each once, in the order given."""
        known = [c.id for c in self._catalog().categories]
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            raise Invalid(f"{field} must be a list of category ids; categories: {', '.join(known)}")
        for category in value:
            if category not in known:
                raise Invalid(f"{field}: no category {category!r}; categories: {', '.join(known)}")
        return list(dict.fromkeys(value))

    @staticmethod
    def _domains(value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(d, str) for d in value) or not 1 <= len(value) <= MAX_DOMAINS:
            raise Invalid(f"domains must be a list of 1 to {MAX_DOMAINS} domain names")
        for domain in value:
            problem = domain_problem(domain)
            if problem:
                raise Invalid(f"domains: {problem}")
        return list(dict.fromkeys(d.lower() for d in value))
