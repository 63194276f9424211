"""The addresses the page listens on when the config names an interface (`listen_interface`), not addresses.

A travel router's LAN is renumbered to dodge a hotel's subnet; an address
written into the config at install would then name nothing and the page could
not bind. So, as OpenWrt's nlbwmon does, the config may name the logical
interface ('lan') and its addresses are looked up when the daemon starts and on
every reload: from netifd (`ubus call network.interface.lan status`) on
OpenWrt, else (no ubus, or the name is a Linux device such as 'br-lan') from
the kernel: the device's own addresses over rtnetlink. IPv6 link-local
addresses are left out (a browser cannot use them without a zone index).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import shutil
import socket
import subprocess

from routerguard.read import neighbours

log = logging.getLogger("routerguard")

UBUS_TIMEOUT = 5.0


def _usable(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not (ip.is_link_local or ip.is_unspecified or ip.is_multicast)


def addresses_from_netifd(status: dict) -> list[str]:
    """The addresses in netifd's `network.interface.NAME status` answer: IPv4, IPv6 and the local address of
    each delegated IPv6 prefix assigned to it, in that order."""
    found = [a.get("address", "") for a in status.get("ipv4-address", [])]
    found += [a.get("address", "") for a in status.get("ipv6-address", [])]
    found += [(p.get("local-address") or {}).get("address", "") for p in status.get("ipv6-prefix-assignment", [])]
    return list(dict.fromkeys(a for a in found if _usable(a)))


def _ubus_status(interface: str) -> dict | None:
    ubus = shutil.which("ubus")
    if not ubus:
        return None
    try:
        result = subprocess.run([ubus, "call", f"network.interface.{interface}", "status"], capture_output=True,
                                text=True, timeout=UBUS_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None  # not a netifd interface (e.g. a device name): the kernel's addresses then
    try:
        status = json.loads(result.stdout)
    except ValueError:
        return None
    return status if isinstance(status, dict) else None


def device_addresses(device: str) -> list[str]:
    """The addresses on the Linux device `device` (none when it does not exist)."""
    try:
        index = socket.if_nametoindex(device)
    except OSError:
        return []
    return sorted((a for a in neighbours.addresses_of(index) if _usable(a)), key=lambda a: (":" in a, a))


def interface_addresses(interface: str) -> list[str]:
    """The usable addresses of a netifd interface ('lan') or, failing that, of a Linux device ('br-lan')."""
    status = _ubus_status(interface)
    if status is not None:
        found = addresses_from_netifd(status)
        if found or status.get("up"):
            return found
        device = status.get("l3_device") or status.get("device")
        if device:
            return device_addresses(device)
        return []
    return device_addresses(interface)
