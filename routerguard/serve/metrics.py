"""`GET /metrics`: the API's figures in the Prometheus text format (0.0.4), for a fleet on one dashboard.

Rendered from the same Service views the API returns, so a scrape never
disagrees with the page. Written by hand rather than with prometheus_client:
the format is a few lines, and the router package stays without another
dependency (tests parse the output with prometheus_client's own parser).
Byte counts are written as integers, exact beyond 2**53 where a float would
round.

Every per-device sample carries `mac` (the identity) and `name` (what
people recognise on a dashboard); a figure the API reports as null has no
sample, as Prometheus expects for "not applicable".
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Callable, Iterator

from routerguard import __version__
from routerguard.decide.policy import GROUP_STATES, STATES as DEVICE_STATES
from routerguard.service import Service, parse_time

Figure = Callable[[dict], Any]
Labels = dict[str, str]
Family = tuple[str, str, str, list[tuple[Labels, Any]]]  # name, type, help, samples

def _epoch(key: str) -> Figure:
    """The view's RFC 3339 time at `key` as a Unix time, Prometheus' way of giving a moment."""
    def figure(view: dict) -> float | None:
        return None if view[key] is None else parse_time(view[key], key)

    return figure


# (name, help, figure of a DEVICE view); period figures drop at each new period, so they are gauges
DEVICE_GAUGES: list[tuple[str, str, Figure]] = [
    ("routerguard_device_up_bytes", "Bytes from the device towards the internet in its current period.",
     lambda d: d["usage"]["up_bytes"]),
    ("routerguard_device_down_bytes", "Bytes from the internet to the device in its current period.",
     lambda d: d["usage"]["down_bytes"]),
    ("routerguard_device_period_bytes", "Up plus down bytes of the device's current period: what counts against a cap.",
     lambda d: d["usage"]["total_bytes"]),
    ("routerguard_device_up_rate_bits_per_second", "Recent rate from the device towards the internet.",
     lambda d: d["rate"]["up_bps"]),
    ("routerguard_device_down_rate_bits_per_second", "Recent rate from the internet to the device.",
     lambda d: d["rate"]["down_bps"]),
    ("routerguard_device_cap_bytes", "The device's own cap per period.",
     lambda d: d["cap"] and d["cap"]["bytes"]),
    ("routerguard_device_allowance_bytes", "The device's cap plus this period's top-ups.", itemgetter("allowance_bytes")),
    ("routerguard_device_remaining_bytes", "The least left of any limit on the device (its cap, its group's, the plan).",
     itemgetter("remaining_bytes")),
    ("routerguard_device_online", "1 when the device is on the LAN now.", lambda d: int(d["online"])),
    ("routerguard_device_blocked", "1 when the device is blocked by hand (whatever its cap).", lambda d: int(d["blocked"])),
]

PLAN_GAUGES: list[tuple[str, str, Figure]] = [
    ("routerguard_plan_quota_bytes", "The data plan's quota per period.", itemgetter("quota_bytes")),
    ("routerguard_plan_allowance_bytes", "The plan's quota plus this period's top-ups.", itemgetter("allowance_bytes")),
    ("routerguard_plan_used_bytes", "The plan's count this period: what every device and the router itself moved, plus "
     "the calibration to the carrier's figure.", itemgetter("used_bytes")),
    ("routerguard_plan_counted_bytes", "Bytes of every device and the router itself in the plan's current period, as "
     "metered (before calibration).", itemgetter("counted_bytes")),
    ("routerguard_plan_calibration_bytes", "What the carrier said minus what was metered, at the latest calibration this "
     "period (0: none).", itemgetter("calibration_bytes")),
    ("routerguard_plan_remaining_bytes", "What is left of the plan this period.", itemgetter("remaining_bytes")),
    ("routerguard_plan_router_bytes", "The router's own traffic in the plan's current period.", itemgetter("router_bytes")),
    ("routerguard_wan_snmp_bytes", "The uplink's in plus out octets over SNMP since the period began.",
     itemgetter("wan_snmp_bytes")),
    ("routerguard_plan_period_start_timestamp_seconds", "When the plan's current period began.", _epoch("period_start")),
    ("routerguard_plan_period_end_timestamp_seconds", "When the plan's current period ends.", _epoch("period_end")),
    ("routerguard_plan_forecast_exhausted_timestamp_seconds", "When the plan runs out at the recent rate.",
     _epoch("forecast_exhausted_at")),
]

GROUP_GAUGES: list[tuple[str, str, Figure]] = [
    ("routerguard_group_used_bytes", "Bytes of the group's members in its current period.", lambda g: g["usage"]["total_bytes"]),
    ("routerguard_group_allowance_bytes", "The group's cap plus this period's top-ups.", itemgetter("allowance_bytes")),
    ("routerguard_group_members", "Devices in the group.", lambda g: len(g["members"])),
]




def _escape(text: str, quote: bool) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return text.replace('"', '\\"') if quote else text


def _lines(family: Family) -> Iterator[str]:
    name, kind, help_text, samples = family
    yield f"# HELP {name} {_escape(help_text, quote=False)}"
    yield f"# TYPE {name} {kind}"
    for labels, value in samples:
        pairs = ",".join(f'{key}="{_escape(text, quote=True)}"' for key, text in labels.items())
        yield f"{name}{{{pairs}}} {value!r}" if pairs else f"{name} {value!r}"


def _gauges(table: list[tuple[str, str, Figure]], rows: list[tuple[Labels, dict]]) -> Iterator[Family]:
    for name, help_text, figure in table:
        yield name, "gauge", help_text, [(labels, value) for labels, row in rows if (value := figure(row)) is not None]


def _states(name: str, help_text: str, states: tuple[str, ...], rows: list[tuple[Labels, dict]]) -> Family:
    """One sample per possible state, 1 for the current one: `sum by (state)` counts devices per state."""
    return name, "gauge", help_text, [({**labels, "state": state}, int(row["state"] == state))
                                      for labels, row in rows for state in states]


def families(service: Service) -> Iterator[Family]:
    devices = [({"mac": d["mac"], "name": d["name"] or ""}, d) for d in service.devices()]
    groups = [({"group": g["id"], "name": g["name"]}, g) for g in service.groups()]
    health = service.health()
    yield "routerguard_build_info", "gauge", "The routerguard version serving these figures.", [({"version": __version__}, 1)]
    yield "routerguard_device_info", "gauge", "A device's hostname and group, to join on mac.", [
        ({**labels, "hostname": d["hostname"] or "", "group": d["group"] or ""}, 1) for labels, d in devices]
    yield from _gauges(DEVICE_GAUGES, devices)
    yield "routerguard_device_lifetime_bytes_total", "counter", "Up plus down bytes since the device was first seen.", [
        (labels, d["lifetime_bytes"]) for labels, d in devices]
    yield _states("routerguard_device_state", "What routerguard does to the device now.", DEVICE_STATES, devices)
    yield from _gauges(PLAN_GAUGES, [({}, service.plan())])
    yield from _gauges(GROUP_GAUGES, groups)
    yield _states("routerguard_group_state", "The state of the group's shared cap.", GROUP_STATES, groups)
    yield "routerguard_meter_readings_total", "counter", "Meter readings since the daemon started.", [({}, health["readings"])]
    if health.get("events_lost") is not None:
        yield "routerguard_meter_events_lost_total", "counter", \
            "Times the kernel dropped conntrack events and the meter resynchronised.", [({}, health["events_lost"])]
    yield "routerguard_config_error", "gauge", "1 when the last config reload was refused (see /healthz).", [
        ({}, int(health["config_error"] is not None))]


def render_metrics(service: Service) -> str:
    """The exposition text of one scrape."""
    return "".join(line + "\n" for family in families(service) for line in _lines(family))
