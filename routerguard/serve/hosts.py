"""Whom a request names and who sends it: the Host check, the headers every answer carries, the client's key.

No web stack here: the server (serve/server.py) answers `/healthz` with these
before the Flask app is loaded, and serve/security.py applies them to every
request the app answers. The page is on the LAN only, but any web page a LAN
device opens can make its browser talk to the router: a DNS-rebinding page
does so under its own name, so requests must name the router itself.
Headers forbid framing (clickjacking the admin page) and everything not from
the router itself.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Callable, Iterable

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
# Domains no one can buy, so no rebinding page can be served under them: OpenWrt's dnsmasq
# answers `<hostname>.lan`. Not `.local`: mDNS names are answered by whichever LAN device
# speaks first, so a device could serve a page as `<hostname>.local` and then rebind the name
# to the router; list it as a `server_name` to use it anyway.
LOCAL_DOMAINS = ("lan",)
ADDRESS_REFRESH = 30.0  # seconds between re-reads of the local addresses for an unknown IP host
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # Nothing to other sites; our own page's form posts carry their Origin (with no-referrer they
    # would say `Origin: null`, which same_origin() cannot tell from a cross-site page's).
    "Referrer-Policy": "same-origin",
}
IPV6_PREFIX = 64  # one LAN device can take any address of its /64 (privacy addresses)


def host_of(header: str) -> str:
    """The host part of a Host header, lowercase, without port, brackets or a trailing dot."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    if header.count(":") == 1:
        header = header.partition(":")[0]
    return header.rstrip(".")


def _ip(host: str) -> str | None:
    """An IP literal in its one spelling (`::1` for `0:0::1`); None for a name."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def _canonical(host: str) -> str:
    return _ip(host) or host


class HostCheck:
    """The names and addresses the router answers to.

    `names` gives the configured ones (listen addresses and `server_name`s),
    `addresses` the machine's own; the hostname counts too, alone and under
    LOCAL_DOMAINS; an IP that is not known yet
    triggers a re-read (an address added by DHCP since), at most every
    ADDRESS_REFRESH seconds.
    """

    def __init__(self, names: Callable[[], Iterable[str]], addresses: Callable[[], Iterable[str]]) -> None:
        self._names, self._addresses = names, addresses
        self._lock = threading.Lock()
        self._known: set[str] = set()
        self._read_at = float("-inf")
        short = socket.gethostname().lower().partition(".")[0]
        self._fixed = set(LOCAL_NAMES) | {socket.gethostname().lower(), short} | {f"{short}.{d}" for d in LOCAL_DOMAINS}

    def _refresh(self) -> None:
        try:
            addresses = set(self._addresses())
        except OSError:
            addresses = set()  # no netlink (a container): the configured names still work
        self._known = {_canonical(host_of(h)) for h in set(self._names()) | addresses | self._fixed}
        self._read_at = time.monotonic()

    def allows(self, header: str | None) -> bool:
        if not header:
            return False
        host = _canonical(host_of(header))
        with self._lock:
            if not self._known:
                self._refresh()
            if host in self._known:
                return True
            if _ip(host) is None or time.monotonic() - self._read_at < ADDRESS_REFRESH:
                return False
            self._refresh()
            return host in self._known


def client_key(address: str | None, mac_of: Callable[[str], str | None] | None = None) -> str:
    """Which device a source address is, for the login slow-down and the connection limit.

    Its MAC when the neighbour table knows the address (`mac_of`), else IPv6 by its /64, IPv4 as is.
    """
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    mac = mac_of(str(ip)) if mac_of is not None else None
    if mac:
        return f"mac {mac}"
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False))
    return str(ip)
