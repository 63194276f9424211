"""The kernel's neighbour table and the router's own addresses, over rtnetlink.

A few dozen lines of our own instead of pyroute2 (about 33 MB of RSS on a
128 MB router) for two dumps the meter needs: which MAC has which address
(IPv4 ARP and IPv6 ND, privacy addresses included), and which addresses are
the router's own (its traffic is its own line, not a device's).
"""

from __future__ import annotations

import socket
import struct
from typing import Iterator, NamedTuple, Tuple

from routerguard.read import netlink

NETLINK_ROUTE = 0
RTM_GETNEIGH = 30
RTM_NEWNEIGH = 28
RTM_GETADDR = 22
RTM_NEWADDR = 20
NDA_DST = 1
NDA_LLADDR = 2
IFA_ADDRESS = 1
IFA_LOCAL = 2
NUD_INCOMPLETE = 0x01
NUD_FAILED = 0x20
NUD_NOARP = 0x40
NDMSG = struct.Struct("=BxxxiHBB")  # family, ifindex, state, flags, type
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, ifindex
ETHER_LEN = 6
Message = Tuple[bytes, int, int]  # datagram, payload offset, message end


class Neighbour(NamedTuple):
    ip: str
    mac: str
    ifindex: int


def _dump(msg_type: int, reply_type: int, payload: bytes) -> Iterator[Message]:
    """Each reply message of one rtnetlink dump."""
    with netlink.open_socket(NETLINK_ROUTE) as sock:
        sock.send(netlink.request(msg_type, netlink.NLM_F_REQUEST | netlink.NLM_F_DUMP, 1, payload))
        while True:
            found: list[Message] = []
            done = replies(netlink.receive(sock), reply_type, found)
            yield from found
            if done:
                return


def replies(data: bytes, reply_type: int, found: list[Message]) -> bool:
    """Append the reply messages of one datagram to ``found``; True once the dump is done.

    ValueError for a malformed datagram, OSError for an error the kernel reports.
    """
    for kind, offset, length in netlink.messages(data):
        if kind == netlink.NLMSG_DONE:
            return True
        if kind == reply_type:
            found.append((data, offset + netlink.NLMSG_HEADER.size, offset + length))
    return False


def _header(layout: struct.Struct, start: int, end: int) -> None:
    if end - start < layout.size:
        raise ValueError(f"rtnetlink message of {end - start} bytes, shorter than its {layout.size}-byte header")


def _ip(family: int, data: bytes, start: int, end: int) -> str:
    return socket.inet_ntop(family, data[start:end])


def parse_neighbour(data: bytes, start: int, end: int) -> Neighbour | None:
    """The neighbour a RTM_NEWNEIGH message describes; None when unresolved or without a MAC.

    ValueError for a malformed message (the meter's reading fails, the daemon goes on).
    """
    _header(NDMSG, start, end)
    family, ifindex, state, _, _ = NDMSG.unpack_from(data, start)
    if state & (NUD_INCOMPLETE | NUD_FAILED | NUD_NOARP) or family not in (socket.AF_INET, socket.AF_INET6):
        return None
    ip = mac = None
    for kind, a, b in netlink.attributes(data, start + NDMSG.size, end):
        if kind == NDA_DST:
            ip = _ip(family, data, a, b)
        elif kind == NDA_LLADDR and b - a == ETHER_LEN:
            mac = data[a:b].hex(":")
    return Neighbour(ip, mac, ifindex) if ip and mac else None


def parse_addresses(data: bytes, start: int, end: int) -> set[str]:
    """The addresses a RTM_NEWADDR message gives; ValueError when malformed."""
    _header(IFADDRMSG, start, end)
    family = data[start]
    return {_ip(family, data, a, b) for kind, a, b in netlink.attributes(data, start + IFADDRMSG.size, end)
            if kind in (IFA_ADDRESS, IFA_LOCAL)}


def neighbours() -> list[Neighbour]:
    """Every resolved IPv4/IPv6 neighbour with a MAC address."""
    request = NDMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    found = (parse_neighbour(*message) for message in _dump(RTM_GETNEIGH, RTM_NEWNEIGH, request))
    return [neighbour for neighbour in found if neighbour]


def addresses_of(ifindex: int) -> set[str]:
    """The addresses on one interface (by index)."""
    found: set[str] = set()
    for data, start, end in _dump(RTM_GETADDR, RTM_NEWADDR, IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
        if end - start >= IFADDRMSG.size and IFADDRMSG.unpack_from(data, start)[4] == ifindex:
            found |= parse_addresses(data, start, end)
    return found


def local_addresses() -> set[str]:
    """The router's own addresses, on every interface."""
    found: set[str] = set()
    for message in _dump(RTM_GETADDR, RTM_NEWADDR, IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
        found |= parse_addresses(*message)
    return found
