"""The kernel's neighbour table and the router's own addresses, over rtnetlink.

A few dozen lines of our own instead of pyroute2 (about 33 MB of RSS on a
128 MB router) for two dumps the meter needs: which MAC has which address
(IPv4 ARP and IPv6 ND, privacy addresses included), and which addresses are
the router's own (its traffic is its own line, not a device's).
"""

from __future__ import annotations

import socket
import struct
from typing import Iterator, NamedTuple

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


class Neighbour(NamedTuple):
    ip: str
    mac: str
    ifindex: int


def _dump(msg_type: int, reply_type: int, payload: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(data, payload offset, message end) of each reply message of one rtnetlink dump."""
    with netlink.open_socket(NETLINK_ROUTE) as sock:
        sock.send(netlink.request(msg_type, netlink.NLM_F_REQUEST | netlink.NLM_F_DUMP, 1, payload))
        while True:
            data = netlink.receive(sock)
            offset = 0
            while offset + netlink.NLMSG_HEADER.size <= len(data):
                length, kind, _, _, _ = netlink.NLMSG_HEADER.unpack_from(data, offset)
                if kind == netlink.NLMSG_DONE:
                    return
                if kind == netlink.NLMSG_ERROR:
                    netlink.raise_error(data, offset)
                elif kind == reply_type:
                    yield data, offset + netlink.NLMSG_HEADER.size, offset + length
                offset += netlink.align(length)


def _ip(family: int, data: bytes, start: int, end: int) -> str:
    return socket.inet_ntop(family, data[start:end])


def neighbours() -> list[Neighbour]:
    """Every resolved IPv4/IPv6 neighbour with a MAC address."""
    found = []
    for data, start, end in _dump(RTM_GETNEIGH, RTM_NEWNEIGH, NDMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
        family, ifindex, state, _, _ = NDMSG.unpack_from(data, start)
        if state & (NUD_INCOMPLETE | NUD_FAILED | NUD_NOARP) or family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = mac = None
        for kind, a, b in netlink.attributes(data, start + NDMSG.size, end):
            if kind == NDA_DST:
                ip = _ip(family, data, a, b)
            elif kind == NDA_LLADDR and b - a == ETHER_LEN:
                mac = data[a:b].hex(":")
        if ip and mac:
            found.append(Neighbour(ip, mac, ifindex))
    return found


def local_addresses() -> set[str]:
    """The router's own addresses, on every interface."""
    found = set()
    for data, start, end in _dump(RTM_GETADDR, RTM_NEWADDR, IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
        family = data[start]
        for kind, a, b in netlink.attributes(data, start + IFADDRMSG.size, end):
            if kind in (IFA_ADDRESS, IFA_LOCAL):
                found.add(_ip(family, data, a, b))
    return found
