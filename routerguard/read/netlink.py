"""Netlink plumbing shared by the kernel readers: sockets, headers, attribute walks.

Kept free of any one protocol, and of pyroute2, so that a reader on the hot
path pays only for the bytes it understands. Netlink headers are in host byte
order (OpenWrt runs big-endian MIPS too), payloads of netfilter attributes in
network byte order.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from typing import Iterator, Tuple

NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NETLINK_BROADCAST_ERROR = 4
SO_RCVBUFFORCE = 33

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300

NLMSG_HEADER = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
NLA_HEADER = struct.Struct("=HH")  # length, type
NLA_TYPE_MASK = 0x3FFF  # strips the NESTED and NET_BYTEORDER flags
ERROR_CODE = struct.Struct("=i")
MAX_ERRNO = 4095  # the kernel's errno range; os.strerror fails past a C int

# The kernel puts at most one skb of about 32 KiB into each datagram of a dump,
# and events are a few hundred bytes; a bigger buffer would only cost memory.
RECV_BUFFER = 64 * 1024

Attribute = Tuple[int, int, int]  # type, payload offset, payload end


def align(length: int) -> int:
    """Netlink pads every header and attribute to 4 bytes."""
    return (length + 3) & ~3


def open_socket(protocol: int) -> socket.socket:
    """A netlink socket in the caller's current network namespace."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, protocol)
    try:
        sock.bind((0, 0))
    except OSError:
        sock.close()
        raise
    return sock


def request(msg_type: int, flags: int, seq: int, payload: bytes) -> bytes:
    """One netlink message ready to send."""
    return NLMSG_HEADER.pack(NLMSG_HEADER.size + len(payload), msg_type, flags, seq, 0) + payload


def receive(sock: socket.socket) -> bytes:
    """One datagram; a truncated one is an error, never silently half-read.

    A signal during a blocking read is retried by Python itself (PEP 475).
    """
    data, _, flags, _ = sock.recvmsg(RECV_BUFFER)
    if flags & socket.MSG_TRUNC:
        raise OSError(errno.EMSGSIZE, f"netlink datagram larger than {RECV_BUFFER} bytes")
    return data


def check_status(data: bytes, offset: int, length: int) -> None:
    """Raise the error an NLMSG_ERROR or NLMSG_DONE carries as OSError.

    Error 0 is an acknowledgement; a dump that failed midway says so in its
    DONE message, which would otherwise pass for a short, complete table.
    """
    if length < NLMSG_HEADER.size + ERROR_CODE.size:
        return
    code = -ERROR_CODE.unpack_from(data, offset + NLMSG_HEADER.size)[0]
    if code:
        raise OSError(code, os.strerror(code) if 0 < code <= MAX_ERRNO else f"netlink error {code}")


def messages(data: bytes) -> Iterator[Tuple[int, int, int]]:
    """(type, offset, length) of each message of one datagram, every length checked.

    NLMSG_ERROR and NLMSG_DONE are checked too: an error they carry is raised
    as OSError. A length that does not fit is a ValueError, never an endless
    loop on a zero length. The conntrack reader has an unrolled copy of this
    walk on its hot path.
    """
    offset, size = 0, len(data)
    while offset < size:
        if size - offset < NLMSG_HEADER.size:
            raise ValueError(f"malformed netlink message at byte {offset}: {size - offset} bytes, shorter than a header")
        length, kind = NLMSG_HEADER.unpack_from(data, offset)[:2]
        if length < NLMSG_HEADER.size or offset + length > size:
            raise ValueError(f"malformed netlink message at byte {offset}: length {length}")
        if kind in (NLMSG_ERROR, NLMSG_DONE):
            check_status(data, offset, length)
        yield kind, offset, length
        offset += align(length)


def attributes(data: bytes, start: int, end: int) -> Iterator[Attribute]:
    """Walk the attributes in data[start:end], checking every length against the bounds."""
    offset = start
    while offset + NLA_HEADER.size <= end:
        length, kind = NLA_HEADER.unpack_from(data, offset)
        if length < NLA_HEADER.size or offset + length > end:
            raise ValueError(f"malformed netlink attribute at byte {offset}: length {length}")
        yield kind & NLA_TYPE_MASK, offset + NLA_HEADER.size, offset + length
        offset += align(length)
