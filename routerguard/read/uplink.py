"""Which uplink the router is using now (whether it costs is decide/uplinks.py's).

The uplink in use is the interface of the main routing table's default route
with the lowest metric, read from /proc (this network namespace's view):
IPv4 first, IPv6 when there is no IPv4 default. Multi-WAN policy routing
(mwan3) can send some flows elsewhere; per-flow charging does not rely on
this answer (the kernel marks flows leaving by an unmetered uplink), only
the page's "which uplink" and the metered hint sent to devices do.
"""

from __future__ import annotations

IPV4_ROUTES = "/proc/net/route"
IPV6_ROUTES = "/proc/net/ipv6_route"
RTF_UP = 0x1
DEFAULT4 = "00000000"
DEFAULT6 = "0" * 32


def default_interface(ipv4_routes: str = IPV4_ROUTES, ipv6_routes: str = IPV6_ROUTES) -> str | None:
    return _ipv4_default(ipv4_routes) or _ipv6_default(ipv6_routes)


def _ipv4_default(path: str) -> str | None:
    """Iface Destination Gateway Flags RefCnt Use Metric Mask ... (hex, host byte order)."""
    found = []
    for fields in _rows(path)[1:]:
        if len(fields) >= 8 and fields[1] == DEFAULT4 and fields[7] == DEFAULT4 and int(fields[3], 16) & RTF_UP:
            found.append((int(fields[6]), fields[0]))
    return min(found)[1] if found else None


def _ipv6_default(path: str) -> str | None:
    """dest dest_len src src_len next_hop metric refcnt use flags device (hex)."""
    found = []
    for fields in _rows(path):
        if len(fields) >= 10 and fields[0] == DEFAULT6 and fields[1] == "00" and fields[9] != "lo" and int(fields[8], 16) & RTF_UP:
            found.append((int(fields[5], 16), fields[9]))
    return min(found)[1] if found else None


def _rows(path: str) -> list[list[str]]:
    try:
        with open(path) as f:
            return [line.split() for line in f]
    except OSError:
        return []
