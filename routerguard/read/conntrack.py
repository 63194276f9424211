"""Conntrack flows and their byte counters, read straight from ctnetlink.

The meter reads every flow every few seconds, so this is the hot path. Each
message is walked properly (TLV by TLV) only the first time a message *shape*
is met: the walk compiles a ``struct`` format covering the whole message plus
the list of every attribute header it passed. Later messages of the same
length are unpacked in one C call and accepted only if every one of those
headers is identical, which proves the walk would have found the same
attributes at the same offsets; otherwise the message is walked afresh. So the
result is that of a full walk, at the cost of a few C calls per flow.

Counters are read live and never zeroed (``IPCTNL_MSG_CT_GET_CTRZERO`` would
steal bytes from other readers such as nlbwmon): turning readings into
deltas is ``routerguard.account.flows``' job.

Sockets open in the network namespace of the calling thread.
"""

from __future__ import annotations

import errno
import socket
import struct
from operator import itemgetter
from typing import Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple, Union

from routerguard.read.netlink import (
    NETLINK_ADD_MEMBERSHIP,
    NETLINK_BROADCAST_ERROR,
    NETLINK_NETFILTER,
    NLA_HEADER,
    NLM_F_DUMP,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    NLMSG_HEADER,
    SO_RCVBUFFORCE,
    SOL_NETLINK,
    align,
    attributes,
    check_status,
    open_socket,
    receive,
    request,
)

# What this reader needs the kernel to keep, set per network namespace: byte
# counters; DESTROY events for every flow (the default 2 skips flows born while no
# listener was subscribed); start times, which tell a reborn flow from its predecessor.
SYSCTL_DIR = "/proc/sys/net/netfilter"
SYSCTLS = {"nf_conntrack_acct": "1", "nf_conntrack_events": "1", "nf_conntrack_timestamp": "1"}

NFNL_SUBSYS_CTNETLINK = 1
IPCTNL_MSG_CT_NEW = 0
IPCTNL_MSG_CT_GET = 1
IPCTNL_MSG_CT_DELETE = 2
NFNLGRP_CONNTRACK_DESTROY = 3
CT_NEW = NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW  # what a dump answers with
CT_GET = NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_GET
CT_DELETE = NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_DELETE  # a DESTROY event

NFGENMSG = struct.Struct("=BBH")  # family, version, resource id
NFGEN_OFFSET = NLMSG_HEADER.size
ATTRS_OFFSET = NFGEN_OFFSET + NFGENMSG.size
DUMP_ALL_FAMILIES = NFGENMSG.pack(socket.AF_UNSPEC, 0, 0)

CTA_TUPLE_ORIG = 1
CTA_TUPLE_REPLY = 2
CTA_STATUS = 3
CTA_MARK = 8
CTA_MARK_MASK = 21  # with CTA_MARK in a dump request: only flows whose mark, masked, equals it
CTA_COUNTERS_ORIG = 9
CTA_COUNTERS_REPLY = 10
CTA_ID = 12
CTA_TIMESTAMP = 20
CTA_TUPLE_IP = 1
CTA_TUPLE_PROTO = 2
CTA_IP_V4_SRC = 1
CTA_IP_V4_DST = 2
CTA_IP_V6_SRC = 3
CTA_IP_V6_DST = 4
CTA_PROTO_NUM = 1
CTA_PROTO_SRC_PORT = 2
CTA_PROTO_DST_PORT = 3
CTA_COUNTERS_PACKETS = 1
CTA_COUNTERS_BYTES = 2
CTA_TIMESTAMP_START = 1

# A socket receive buffer for bursts of DESTROY events. The kernel charges
# twice the size asked for and about 1.3 KiB per queued event (measured), so
# this holds some 6,000 flows ending between two reads; the memory is only
# used while events wait. SO_RCVBUFFORCE (root) is not capped by rmem_max.
EVENT_BUFFER = 4 * 1024 * 1024
READ_LIMIT = 65536  # datagrams per read(), so an event storm cannot pin the loop
SHAPE_LIMIT = 512  # message shapes remembered; a real table has a few dozen


class Flow(NamedTuple):
    """One conntrack entry, as much of it as metering needs.

    Addresses are packed (4 or 16 bytes, as from ``socket.inet_pton``): cheap
    to read and to use as keys; ``address_text`` spells them. ``orig_tuple``
    is the raw original tuple, which names the flow uniquely while it lives
    (the 32-bit ``id`` alone collides within tables of tens of thousands).
    ``start`` (ns) tells apart two lives of one connection that the kernel
    gave the same tuple and id; it is 0 unless ``nf_conntrack_timestamp`` was
    on when the flow began. Counters are 0 when ``nf_conntrack_acct`` is off;
    for ICMP the ports are 0.
    """

    id: int
    family: int
    proto: int
    src: bytes
    dst: bytes
    sport: int
    dport: int
    reply_src: bytes
    reply_dst: bytes
    mark: int
    status: int
    orig_packets: int
    orig_bytes: int
    reply_packets: int
    reply_bytes: int
    start: int
    orig_tuple: bytes


class EventsLost(Exception):
    """The kernel dropped events (ENOBUFS): resynchronise with a dump now.

    ``flows`` holds the events that did arrive in the same read; they are as
    valid as any and must still be accounted.
    """

    def __init__(self, flows: List[Flow]) -> None:
        super().__init__("conntrack events lost (receive buffer overrun): resync with a dump")
        self.flows = flows


def address_text(packed: bytes) -> str:
    """A packed address as people write it."""
    return socket.inet_ntop(socket.AF_INET if len(packed) == 4 else socket.AF_INET6, packed)


# What the meter reads out of a message. A nested dict is descended into; a
# string names a Flow field; a (field, nested) pair keeps the raw payload as
# that field and descends too. Everything else is skipped (but its header
# still checked).
Spec = Dict[int, Union[str, "Spec", Tuple[str, "Spec"]]]


def _tuple_spec(src: str, dst: str, proto: Optional[Spec]) -> Spec:
    spec: Spec = {
        CTA_TUPLE_IP: {CTA_IP_V4_SRC: src, CTA_IP_V4_DST: dst, CTA_IP_V6_SRC: src, CTA_IP_V6_DST: dst}
    }
    if proto:
        spec[CTA_TUPLE_PROTO] = proto
    return spec


def _counter_spec(packets: str, nbytes: str) -> Spec:
    return {CTA_COUNTERS_PACKETS: packets, CTA_COUNTERS_BYTES: nbytes}


MESSAGE_SPEC: Spec = {
    CTA_TUPLE_ORIG: (
        "orig_tuple",
        _tuple_spec("src", "dst", {CTA_PROTO_NUM: "proto", CTA_PROTO_SRC_PORT: "sport", CTA_PROTO_DST_PORT: "dport"}),
    ),
    CTA_TUPLE_REPLY: _tuple_spec("reply_src", "reply_dst", None),
    CTA_STATUS: "status",
    CTA_MARK: "mark",
    CTA_ID: "id",
    CTA_COUNTERS_ORIG: _counter_spec("orig_packets", "orig_bytes"),
    CTA_COUNTERS_REPLY: _counter_spec("reply_packets", "reply_bytes"),
    CTA_TIMESTAMP: {CTA_TIMESTAMP_START: "start"},
}
ADDRESS_FIELDS = frozenset({"src", "dst", "reply_src", "reply_dst"})
ADDRESS_SIZES = (4, 16)  # IPv4, IPv6: anything else would fail later, in address_text
REQUIRED_FIELDS = ("id", "src", "orig_tuple")
INTEGER_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}
# Values appended after the unpacked ones, for fields a message lacks.
RAW_SLOT, ZERO_SLOT, EMPTY_SLOT = 0, 1, 2


class _Shape(NamedTuple):
    """One message layout, compiled: unpack, check headers, pick fields."""

    layout: struct.Struct
    headers: Callable[[tuple], object]
    expected: object
    fields: Callable[[tuple], tuple]
    raw_start: int
    raw_end: int


class _ShapeBuilder:
    """Collects a struct format while a message is walked, piece by piece in order."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.position = start
        self.format = [">"]
        self.count = 0
        self.header_slots: List[int] = []
        self.field_slots: Dict[str, int] = {}
        self.raw: Dict[str, Tuple[int, int]] = {}

    def _piece(self, offset: int, code: str, size: int) -> int:
        if offset > self.position:
            self.format.append(f"{offset - self.position}x")
        self.format.append(code)
        self.position = offset + size
        self.count += 1
        return self.count - 1

    def header(self, offset: int) -> None:
        self.header_slots.append(self._piece(offset, "I", NLA_HEADER.size))

    def value(self, field: str, start: int, end: int) -> None:
        size = end - start
        if field in ADDRESS_FIELDS and size not in ADDRESS_SIZES:
            raise ValueError(f"conntrack address of {size} bytes at byte {start}")
        code = f"{size}s" if field in ADDRESS_FIELDS else INTEGER_CODES.get(size)
        if code:
            self.field_slots[field] = self._piece(start, code, size)

    def build(self, data: bytes, end: int) -> _Shape:
        missing = [name for name in REQUIRED_FIELDS if name not in self.field_slots and name not in self.raw]
        if missing:
            raise ValueError(f"conntrack message without {', '.join(missing)}")
        if end > self.position:
            self.format.append(f"{end - self.position}x")
        layout = struct.Struct("".join(self.format))
        defaults = {field: EMPTY_SLOT if field in ADDRESS_FIELDS else ZERO_SLOT for field in Flow._fields}
        defaults["orig_tuple"] = RAW_SLOT
        slots = [self.field_slots.get(field, self.count + defaults[field]) for field in Flow._fields]
        headers = itemgetter(*self.header_slots)
        raw_start, raw_end = self.raw["orig_tuple"]
        return _Shape(
            layout,
            headers,
            headers(layout.unpack_from(data, self.start)),
            itemgetter(*slots),
            raw_start - self.start,
            raw_end - self.start,
        )


def _walk(builder: _ShapeBuilder, data: bytes, start: int, end: int, spec: Spec) -> None:
    for kind, payload, payload_end in attributes(data, start, end):
        builder.header(payload - NLA_HEADER.size)
        target = spec.get(kind)
        if isinstance(target, tuple):
            builder.raw[target[0]] = (payload, payload_end)
            target = target[1]
        if isinstance(target, dict):
            _walk(builder, data, payload, payload_end, target)
        elif target is not None:
            builder.value(target, payload, payload_end)


def _learn(data: bytes, offset: int, length: int) -> _Shape:
    """Walk one message attribute by attribute and compile its shape."""
    builder = _ShapeBuilder(offset)
    builder.value("family", offset + NFGEN_OFFSET, offset + NFGEN_OFFSET + 1)
    _walk(builder, data, offset + ATTRS_OFFSET, offset + length, MESSAGE_SPEC)
    shape = builder.build(data, offset + length)
    if sum(map(len, _shapes.values())) < SHAPE_LIMIT:
        _shapes.setdefault(length, []).append(shape)
    return shape


_shapes: Dict[int, List[_Shape]] = {}
_TYPE_AND_LENGTH = struct.Struct("=IH")
_new_flow = tuple.__new__


def _decode(data: bytes, wanted: int, flows: List[Flow]) -> bool:
    """Append the flows of one datagram to ``flows``; True once the dump is done."""
    append = flows.append
    shapes = _shapes
    unpack_type = _TYPE_AND_LENGTH.unpack_from
    offset = 0
    size = len(data)
    while offset < size:
        if size - offset < NLMSG_HEADER.size:
            raise ValueError(f"malformed netlink message at byte {offset}: {size - offset} bytes, shorter than a header")
        length, kind = unpack_type(data, offset)
        if length < NLMSG_HEADER.size or offset + length > size:
            raise ValueError(f"malformed netlink message at byte {offset}: length {length}")
        if kind == wanted:
            for shape in shapes.get(length, ()):
                values = shape.layout.unpack_from(data, offset)
                if shape.headers(values) == shape.expected:
                    break
            else:
                shape = _learn(data, offset, length)
                values = shape.layout.unpack_from(data, offset)
            raw = data[offset + shape.raw_start : offset + shape.raw_end]
            append(_new_flow(Flow, shape.fields(values + (raw, 0, b""))))
        elif kind == NLMSG_DONE:
            check_status(data, offset, length)
            return True
        elif kind == NLMSG_ERROR:
            check_status(data, offset, length)
        offset += align(length)
    return False


def dump_flows(mark: Optional[int] = None, mask: int = 0xFFFFFFFF) -> Iterator[Flow]:
    """Every flow of both families in the current namespace, with live counters; with `mark`, only the flows
    whose ct mark and `mask` equal it, filtered by the kernel (the rest are never sent, nor decoded here).

    A fresh socket per dump: an abandoned iteration leaves nothing behind.
    The kernel walks its table in batches while flows come and go, so a flow
    may be missed (it was created behind the walk) or, rarely, appear twice.
    """
    payload = DUMP_ALL_FAMILIES
    if mark is not None:
        payload += _be32_attr(CTA_MARK, mark) + _be32_attr(CTA_MARK_MASK, mask)
    with open_socket(NETLINK_NETFILTER) as sock:
        sock.send(request(CT_GET, NLM_F_REQUEST | NLM_F_DUMP, 1, payload))
        while True:
            flows: List[Flow] = []
            done = _decode(receive(sock), CT_NEW, flows)
            yield from flows
            if done:
                return


def _be32_attr(kind: int, value: int) -> bytes:
    return NLA_HEADER.pack(NLA_HEADER.size + 4, kind) + struct.pack(">I", value)


def decode_events(datagrams: Iterable[bytes]) -> Iterator[Flow]:
    """The flows of DESTROY event datagrams (``DestroyEvents.receive``), decoded one datagram at a time."""
    for data in datagrams:
        flows: List[Flow] = []
        _decode(data, CT_DELETE, flows)
        yield from flows


class DestroyEvents:
    """Final counters of flows as they end, from the conntrack DESTROY group.

    Needs ``net.netfilter.nf_conntrack_events=1`` in the namespace: with the
    default 2 only flows created while a listener existed report their end.
    With ``reliable`` the kernel keeps a flow whose DESTROY could not be
    queued (buffer full) and sends it again later, so final counters are
    never lost; the price is that ended flows wait in kernel memory while the
    reader is slow, and other listeners may see such an event twice.
    """

    def __init__(self, buffer_bytes: int = EVENT_BUFFER, reliable: bool = False) -> None:
        """``buffer_bytes`` becomes the socket buffer; the kernel's figure for
        it, twice that, is kept in ``self.buffer_bytes``."""
        self._sock = open_socket(NETLINK_NETFILTER)
        try:
            self._sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NFNLGRP_CONNTRACK_DESTROY)
            if reliable:
                self._sock.setsockopt(SOL_NETLINK, NETLINK_BROADCAST_ERROR, 1)
            self.buffer_bytes = _set_receive_buffer(self._sock, buffer_bytes)
            self._sock.setblocking(False)
        except OSError:
            self._sock.close()
            raise

    def fileno(self) -> int:
        """For select/poll: readable when events wait."""
        return self._sock.fileno()

    def read(self) -> List[Flow]:
        """Every event waiting now, without blocking.

        Raises EventsLost, carrying the events that did arrive, when the
        kernel had to drop some since the last read.
        """
        datagrams, lost = self.receive()
        flows = list(decode_events(datagrams))
        if lost:
            raise EventsLost(flows)
        return flows

    def receive(self) -> Tuple[List[bytes], bool]:
        """The datagrams waiting now, undecoded (``decode_events``), and whether the kernel dropped some since.

        Kept undecoded, a waiting event costs its message's few hundred bytes
        rather than a Flow's 550.
        """
        datagrams: List[bytes] = []
        lost = False
        for _ in range(READ_LIMIT):
            try:
                datagrams.append(receive(self._sock))
            except BlockingIOError:
                break
            except OSError as error:
                if error.errno != errno.ENOBUFS:
                    raise
                lost = True
        return datagrams, lost

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "DestroyEvents":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _set_receive_buffer(sock: socket.socket, size: int) -> int:
    """Force the buffer past rmem_max when we may (root), else take what is allowed."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
