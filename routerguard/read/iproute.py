"""An interface's addresses and the gateways of its default routes, read with iproute2's `ip -j`.

The plain-routing side of "free uplinks first" needs, for an unmetered uplink,
the address a probe leaves from and the gateway traffic goes to. Both are what
netifd (or dhclient, or the lab) configured in the main table; routerguard
only reads them. `ip` runs in the caller's network namespace; the parsing is
pure (`addresses_of`, `gateways_of`) and tested on recorded output.
"""

from __future__ import annotations

import json
import socket
import subprocess

IP = "ip"
TIMEOUT = 5


def _ip_json(*args: str) -> list:
    try:
        out = subprocess.run([IP, "-j", *args], capture_output=True, text=True, timeout=TIMEOUT, check=False).stdout
        return json.loads(out or "[]")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return []


def addresses_of(entries: list, ifname: str) -> dict[int, str]:
    """family -> the interface's first global address of that family (`ip -j addr show` output)."""
    found: dict[int, str] = {}
    for link in entries:
        if link.get("ifname") != ifname:
            continue
        for addr in link.get("addr_info", []):
            family = {"inet": socket.AF_INET, "inet6": socket.AF_INET6}.get(addr.get("family"))
            if family and addr.get("scope") == "global" and not addr.get("tentative") and family not in found:
                found[family] = addr["local"]
    return found


def gateways_of(routes: list, ifname: str) -> str | None:
    """The gateway of the lowest-metric default route out of `ifname` (`ip -j route show default` output);
    "" for a default route with no gateway (a point-to-point link), None when there is none."""
    best: tuple[int, str] | None = None
    for route in routes:
        if route.get("dst") != "default" or route.get("dev") != ifname or route.get("type", "unicast") != "unicast":
            continue
        metric = int(route.get("metric", 0))
        if best is None or metric < best[0]:
            best = (metric, route.get("gateway", ""))
    return best[1] if best else None


def interface_addresses(ifname: str) -> dict[int, str]:
    return addresses_of(_ip_json("addr", "show", "dev", ifname), ifname)


def gateway(ifname: str, family: int) -> str | None:
    """The default gateway out of `ifname` in the main table ("" with none needed; None with no default route)."""
    flag = "-4" if family == socket.AF_INET else "-6"
    return gateways_of(_ip_json(flag, "route", "show", "default", "table", "main"), ifname)
