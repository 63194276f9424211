"""Who is who on the LAN: MAC addresses, their IP addresses and hostnames.

Addresses change (DHCP renewals, IPv6 privacy addresses every few hours), so
the directory is rebuilt from the neighbour table and the lease file, and
remembers the last MAC seen for an address until another one claims it: a
flow that outlives its neighbour entry is still charged to its device. A
device that has held no address and moved no byte for FORGET_SECONDS is
forgotten with its addresses: phones pick a new random MAC per network, so
a router sees hundreds pass by a day, and each would otherwise be kept (and
listed) for ever. Its usage stays in the ledger.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from routerguard.read.leases import Lease
from routerguard.read.neighbours import Neighbour

ONLINE_SECONDS = 120  # a device counts as online this long after its last traffic or neighbour entry
FORGET_SECONDS = 86400  # a device with no address in use is forgotten this long after its last traffic


@dataclass
class DeviceInfo:
    mac: str
    ips: set[str] = field(default_factory=set)
    hostname: str | None = None
    last_seen: float = 0.0
    client_id: str | None = None  # what it gave DHCP as its client id (option 61)


class Directory:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_ip: dict[str, str] = {}
        self._current: dict[str, str] = {}  # ip -> MAC, as the latest refresh found them
        self._devices: dict[str, DeviceInfo] = {}

    def refresh(self, neighbours: list[Neighbour], leases: list[Lease], lan_ifindex: int | None, now: float) -> None:
        """Learn from one neighbour dump (LAN interface only) and the current leases."""
        with self._lock:
            self._current = {}
            for lease in leases:
                info = self._info(lease.mac)
                info.hostname = lease.hostname or info.hostname
                info.client_id = lease.client_id or info.client_id
                self._claim(lease.ip, lease.mac)
            for n in neighbours:
                if lan_ifindex is None or n.ifindex == lan_ifindex:
                    self._claim(n.ip, n.mac)
                    self._info(n.mac).last_seen = max(self._info(n.mac).last_seen, now)
            self._forget(now - FORGET_SECONDS)

    def _forget(self, before: float) -> None:
        """With the lock held: the devices gone since `before`, holding no address now."""
        holding = set(self._current.values())
        for mac in [mac for mac, info in self._devices.items() if info.last_seen < before and mac not in holding]:
            for ip in self._devices.pop(mac).ips:
                if self._by_ip.get(ip) == mac:
                    del self._by_ip[ip]

    def _info(self, mac: str) -> DeviceInfo:
        info = self._devices.get(mac)
        if info is None:
            info = self._devices[mac] = DeviceInfo(mac)
        return info

    def _claim(self, ip: str, mac: str) -> None:
        self._current[ip] = mac
        previous = self._by_ip.get(ip)
        if previous == mac:
            return
        if previous is not None:
            self._devices[previous].ips.discard(ip)
        self._by_ip[ip] = mac
        self._info(mac).ips.add(ip)

    def mac_of(self, ip: str) -> str | None:
        return self._by_ip.get(ip)

    def current(self) -> dict[str, str]:
        """ip -> MAC of the addresses in use now (the latest leases and neighbour entries): the kernel's
        address maps (enforce/ruleset.py) are kept to these, not to every address a device ever had."""
        with self._lock:
            return dict(self._current)

    def seen(self, mac: str, now: float) -> None:
        """Traffic from `mac` was just counted."""
        with self._lock:
            self._info(mac).last_seen = now

    def info(self, mac: str) -> DeviceInfo | None:
        with self._lock:
            info = self._devices.get(mac)
            return DeviceInfo(info.mac, set(info.ips), info.hostname, info.last_seen, info.client_id) if info else None

    def macs(self) -> list[str]:
        with self._lock:
            return list(self._devices)

    def online(self, mac: str, now: float) -> bool:
        info = self._devices.get(mac)
        return bool(info) and now - info.last_seen < ONLINE_SECONDS
