"""The lab's address plan: names and addresses tests can rely on.

Client ``i`` (1-based) has MAC ``02:00:00:00:00:<10+i>``, gets
192.168.8.<10+i> from DHCP (a reservation, so tests and demos read the same
numbers every time) and fd00:8::<10+i> plus a privacy-like address in the
same /64. A client whose MAC changes gets a dynamic lease from the range.
"""

from __future__ import annotations

import hashlib
import ipaddress

LAN_IF = "br-lan"
WAN_IF = "wan0"
CLIENT_IF = "eth0"
INTERNET_IF = "eth0"

ROUTER_LAN4 = "192.168.8.1"
LAN4_PREFIXLEN = 24
ROUTER_LAN6 = "fd00:8::1"
LAN6_PREFIX = "fd00:8::/64"
DHCP_RANGE = ("192.168.8.100", "192.168.8.199")
DHCP_LEASE_TIME = "12h"

ROUTER_WAN4 = "198.18.0.2"
ROUTER_WAN6 = "fd00:198:18::2"
INTERNET4 = "198.18.0.1"
INTERNET6 = "fd00:198:18::1"
WAN4_PREFIXLEN = 24
WAN6_PREFIXLEN = 64

# Names the internet side's DNS answers, with their (IPv4, IPv6) addresses;
# each name's subdomains resolve to the same addresses.
INTERNET_NAMES = {
    "dl.example.test": ("198.18.0.10", "fd00:198:18::10"),
    "cdn.example.test": ("198.18.0.20", "fd00:198:18::20"),
    "googlevideo.com": ("198.18.0.30", "fd00:198:18::30"),  # in the shipped "video" category (YouTube)
}
INTERNET_ADDRS4 = (INTERNET4, *(v4 for v4, _ in INTERNET_NAMES.values()))
INTERNET_ADDRS6 = (INTERNET6, *(v6 for _, v6 in INTERNET_NAMES.values()))

HTTP_PORT = 80
PAGE_PORT = 8080  # where the demo expects the daemon's page on ROUTER_LAN4
MAX_CLIENTS = 89  # keeps 10+i a two-digit decimal that reads the same in MAC and IP


def client_mac(i: int) -> str:
    return f"02:00:00:00:00:{10 + i:02d}"


def client_ip4(i: int) -> str:
    return f"192.168.8.{10 + i}"


def client_ip6(i: int) -> str:
    return f"fd00:8::{10 + i}"


def client_ip6_privacy(i: int) -> str:
    """A random-looking interface id, stable per client (like RFC 4941 ones, minus the changing)."""
    iid = int.from_bytes(hashlib.sha256(f"privacy-{i}".encode()).digest()[:8], "big")
    net = ipaddress.IPv6Network(LAN6_PREFIX)
    return str(net[iid & ~(1 << 57)])  # clear the universal/local bit: a local id


def client_hostname(i: int) -> str:
    return f"client{i}"
