"""dnsmasq's lease file: which MAC has which IPv4 address and hostname.

Format (dnsmasq and OpenWrt's /tmp/dhcp.leases), one lease a line:
`EXPIRY_EPOCH MAC IP HOSTNAME CLIENT_ID`, hostname `*` when the client sent
none. DHCPv6 lines (after a `duid` line) carry an IAID instead of a MAC and
are skipped: IPv6 addresses come from the neighbour table.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from routerguard.config.model import MAC_RE

NO_HOSTNAME = "*"


class Lease(NamedTuple):
    mac: str
    ip: str
    hostname: str | None
    expiry: int
    client_id: str | None = None  # DHCP option 61 as dnsmasq writes it (hex pairs), None for '*'


def parse_leases(text: str) -> list[Lease]:
    leases = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[0] == "duid":
            continue
        mac = fields[1].lower()
        if not MAC_RE.match(mac) or not (fields[0].isascii() and fields[0].isdigit()):  # '²'.isdigit()
            continue
        client_id = fields[4] if len(fields) > 4 and fields[4] != NO_HOSTNAME else None
        leases.append(Lease(mac, fields[2], None if fields[3] == NO_HOSTNAME else fields[3], int(fields[0]), client_id))
    return leases


class LeaseFile:
    """Re-reads the file only when it changed: the meter asks every reading."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: tuple[float, int] | None = None
        self._leases: list[Lease] = []

    def leases(self) -> list[Lease]:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self._stamp, self._leases = None, []
            return self._leases
        stamp = (stat.st_mtime, stat.st_size)
        if stamp != self._stamp:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                self._leases = parse_leases(f.read())
            self._stamp = stamp
        return self._leases
