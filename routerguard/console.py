"""The API's views as text for a terminal: tables that line up, sizes and times people read.

Columns are measured in terminal cells, not characters, so a name like
"张伟的手机" (two cells a character) does not push the table out of line.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Sequence

from routerguard.units import format_rate, format_size

NAME_CELLS = 24  # longer names are cut with an ellipsis
DEVICE_HEADERS = ("MAC", "NAME", "STATE", "UP", "DOWN", "TOTAL", "ALLOWANCE", "LEFT", "RATE UP/DOWN", "ONLINE")
TOP_HEADERS = ("MAC", "NAME", "UP", "DOWN", "PERIOD", "LEFT", "STATE")
NUMERIC = {"UP", "DOWN", "TOTAL", "ALLOWANCE", "LEFT", "PERIOD", "RATE UP/DOWN"}


def cells(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 0 if unicodedata.combining(ch) else 1 for ch in text)


def clip(text: str, width: int) -> str:
    if cells(text) <= width:
        return text
    while cells(text) > width - 1:
        text = text[:-1]
    return text + "…"


def table(headers: Sequence[str], rows: list[Sequence[str]]) -> str:
    """Columns two spaces apart; numbers right-aligned under their header."""
    widths = [max(cells(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = []
        for header, text, width in zip(headers, row, widths):
            pad = " " * (width - cells(text))
            parts.append(pad + text if header in NUMERIC else text + pad)
        return "  ".join(parts).rstrip()

    return "\n".join(line(row) for row in [headers, *rows])


def local_time(rfc3339: str | None) -> str:
    """An API time on this machine's clock (the router's, for the CLI run on it)."""
    if rfc3339 is None:
        return "-"
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).astimezone().strftime("%Y-%m-%d %H:%M")


def device_name(device: dict) -> str:
    return clip(device["name"] or device["hostname"] or "-", NAME_CELLS)


def state(device: dict) -> str:
    if device.get("blocked_until"):
        return f"blocked until {local_time(device['blocked_until'])}"
    return device["state"]


def rates(device: dict) -> str:
    return f"{format_rate(device['rate']['up_bps'])} / {format_rate(device['rate']['down_bps'])}"


def devices_table(devices: list[dict]) -> str:
    if not devices:
        return "no devices yet: routerguard lists a device once it is seen on the LAN or configured"
    rows = [(d["mac"], device_name(d), state(d), format_size(d["usage"]["up_bytes"]), format_size(d["usage"]["down_bytes"]),
             format_size(d["usage"]["total_bytes"]), format_size(d["allowance_bytes"]), format_size(d["remaining_bytes"]),
             rates(d), "yes" if d["online"] else "no") for d in devices]
    return table(DEVICE_HEADERS, rows)


def plan_lines(plan: dict) -> list[str]:
    if plan["quota_bytes"] is None:
        lines = [f"No data plan configured; all devices used {format_size(plan['used_bytes'])}."]
    else:
        share = plan["used_bytes"] / plan["allowance_bytes"] * 100 if plan["allowance_bytes"] else 100.0
        lines = [f"Plan {format_size(plan['quota_bytes'])} {plan['period']}, action {plan['action']}: "
                 f"used {format_size(plan['used_bytes'])} ({share:.0f}%), {format_size(plan['remaining_bytes'])} left",
                 f"  period {local_time(plan['period_start'])} to {local_time(plan['period_end'])}"]
        if plan["forecast_exhausted_at"]:
            lines.append(f"  at the recent rate it runs out {local_time(plan['forecast_exhausted_at'])}")
    return lines + counter_lines(plan)


def counter_lines(plan: dict) -> list[str]:
    """What else counted the plan's bytes: the carrier (a calibration) and the uplink's SNMP counters."""
    lines = []
    if plan.get("calibrated_at"):
        sign = "+" if plan["calibration_bytes"] > 0 else ""
        lines.append(f"  carrier says {format_size(plan['used_bytes'])} (calibrated {local_time(plan['calibrated_at'])}), "
                     f"we counted {format_size(plan['counted_bytes'])}, difference {sign}{format_size(plan['calibration_bytes'])}")
    if plan["wan_snmp_bytes"] is not None:
        lines.append(f"  uplink counters (SNMP): {format_size(plan['wan_snmp_bytes'])}")
    return lines


def group_summary(group: dict) -> str:
    """One line after a change to a group: its use against its allowance."""
    cap = group["cap"]
    if cap is None:
        return f"group {group['id']} ({group['name']}): {group['state']}; no cap"
    used, allowance = group["usage"]["total_bytes"], group["allowance_bytes"]
    return (f"group {group['id']} ({group['name']}): {group['state']}; used {format_size(used)} this period, "
            f"{format_size(max(0, allowance - used))} left; cap {format_size(cap['bytes'])} {cap['period']} ({cap['action']}), "
            f"allowance {format_size(allowance)}")


def status(plan: dict, devices: list[dict]) -> str:
    return "\n".join(plan_lines(plan) + ["", devices_table(devices)])


def top_frame(devices: list[dict], now: datetime) -> str:
    """Busiest first, like top: who is using the uplink right now."""
    busy = sorted(devices, key=lambda d: (-(d["rate"]["up_bps"] + d["rate"]["down_bps"]), d["mac"]))
    up = sum(d["rate"]["up_bps"] for d in devices)
    down = sum(d["rate"]["down_bps"] for d in devices)
    head = f"routerguard top - {now:%H:%M:%S}  up {format_rate(up)}  down {format_rate(down)}  (Ctrl-C quits)"
    rows = [(d["mac"], device_name(d), format_rate(d["rate"]["up_bps"]), format_rate(d["rate"]["down_bps"]),
             format_size(d["usage"]["total_bytes"]), format_size(d["remaining_bytes"]), state(d)) for d in busy]
    return head + "\n\n" + table(TOP_HEADERS, rows)


def summary(device: dict) -> str:
    """One line after a change: what the device's situation is now."""
    cap = device["cap"]
    limit = (f"cap {format_size(cap['bytes'])} {cap['period']} ({cap['action']}), allowance {format_size(device['allowance_bytes'])}"
             if cap else "no cap of its own")
    who = device["mac"] + (f" {device_name(device)}" if device["name"] or device["hostname"] else "")
    return (f"{who}: {state(device)}; used {format_size(device['usage']['total_bytes'])} this period, "
            f"{format_size(device['remaining_bytes'])} left; {limit}")


# --- the plan as eSIM bundles (`routerguard plan`) ---
BUNDLE_HEADERS = ("ID", "NAME", "STATE", "USED", "LEFT", "QUOTA", "START", "END", "PRICE")
COST_HEADERS = ("DEVICE", "GROUP", "BYTES", "AMOUNT")


def bundles_table(plan: dict) -> str:
    bundles = plan.get("bundles") or []
    if not bundles:
        return "no bundles: add one with `routerguard plan add SIZE --days N`"
    rows = []
    for b in bundles:
        quota = format_size(b["quota_bytes"]) + (" a day" if b.get("daily_bytes") else "")
        price = f"{b['price']:g} {b['currency']}" if b.get("price") is not None else "-"
        rows.append((b["id"], clip(b["name"], NAME_CELLS), b["state"], format_size(b["used_bytes"]),
                     format_size(b["left_bytes"]), quota, local_time(b["start"]), local_time(b["end"]), price))
    lines = [table(BUNDLE_HEADERS, rows), "",
             f"{format_size(plan['remaining_bytes'])} left in all"]
    if plan.get("forecast_exhausted_at"):
        lines.append(f"at the recent rate the bundles run out {local_time(plan['forecast_exhausted_at'])}")
    if plan.get("expires_unused_bytes"):
        lines.append(f"at that rate {format_size(plan['expires_unused_bytes'])} will expire unused")
    return "\n".join(lines)


def bundle_line(bundle: dict) -> str:
    return (f"bundle {bundle['id']} ({bundle['name']}): {format_size(bundle['left_bytes'])} left of "
            f"{format_size(bundle['quota_bytes'])}, {bundle['state']}, until {local_time(bundle['end'])}")


def costs_table(costs: list[dict]) -> str:
    if not costs:
        return "no costs: no bundle with a price has been used"
    rows = [(r["mac"] or "router", r["group"] or "-", format_size(r["bytes"]), f"{r['amount']:.2f} {r['currency']}")
            for r in costs]
    return table(COST_HEADERS, rows)


def costs_csv(costs: list[dict]) -> str:
    lines = ["mac,group,bytes,amount,currency"]
    for r in costs:
        lines.append(f"{r['mac'] or ''},{r['group'] or ''},{r['bytes']},{r['amount']:.2f},{r['currency']}")
    return "\n".join(lines)
