"""DNS answers and DHCP acks as they leave the router for the LAN, from a packet socket.

Why a socket rather than dnsmasq's query log: the log needs `log-facility`,
which dnsmasq refuses twice ("illegal repeated keyword"), so a snippet of
ours that sets it breaks dnsmasq wherever the main config sets one too
(OpenWrt's `option logfacility`); and it would move every dnsmasq message
out of the system log. The socket needs no change to dnsmasq at all, sees
answers from any resolver the router runs, and also answers sent to devices
by outside resolvers that the router forwards (plain DNS on port 53).
Not seen: DNS over TCP, TLS or HTTPS; those flows keep their address as name.

A classic BPF program in the kernel passes only UDP from ports 53 and 67,
so Python sees a few packets a second however busy the LAN is.
"""

from __future__ import annotations

import ctypes
import logging
import socket
import struct
import threading
from collections import deque
from typing import NamedTuple, Union

from routerguard.read.dhcp import Ack, parse_ack
from routerguard.read.dns import Answer, parse_answer

log = logging.getLogger("routerguard.capture")

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
PACKET_OUTGOING = 4  # sll_pkttype of a packet the router sends
DNS_PORT, DHCP_SERVER_PORT = 53, 67
UDP = 17
IPV4_FRAGMENT_MASK = 0x1FFF  # fragment offset and more-fragments: only whole datagrams have a UDP header
IPV6_HEADER = 40
UDP_HEADER = 8
MAX_PACKET = 65535
MAX_QUEUED = 10000  # events not yet taken by the meter loop; the oldest go first
POLL_SECONDS = 0.5  # how soon the thread notices stop()

# Classic BPF opcodes (linux/filter.h) for the few instructions used below.
LDB, LDH, LDH_IND = 0x30, 0x28, 0x48  # ld b/h [k], ld h [x + k]
LDX_IP_HEADER_LENGTH = 0xB1  # x = 4 * ([k] & 0xf)
AND, JEQ, JSET, RET = 0x54, 0x15, 0x45, 0x06
Instruction = tuple  # (opcode, jump-if-true label, jump-if-false label, k); None: the next one


# Seen from the network header (a SOCK_DGRAM packet socket strips the link layer).
PROGRAM: list[tuple[str | None, Instruction]] = [
    (None, (LDB, None, None, 0)),
    (None, (AND, None, None, 0xF0)),
    (None, (JEQ, None, "v6", 0x40)),
    (None, (LDB, None, None, 9)),  # IPv4 protocol
    (None, (JEQ, None, "drop", UDP)),
    (None, (LDH, None, None, 6)),
    (None, (JSET, "drop", None, IPV4_FRAGMENT_MASK)),
    (None, (LDX_IP_HEADER_LENGTH, None, None, 0)),
    (None, (LDH_IND, None, None, 0)),  # UDP source port
    (None, (JEQ, "keep", None, DNS_PORT)),
    (None, (JEQ, "keep", "drop", DHCP_SERVER_PORT)),
    ("v6", (JEQ, None, "drop", 0x60)),
    (None, (LDB, None, None, 6)),  # IPv6 next header: UDP right after the fixed header
    (None, (JEQ, None, "drop", UDP)),
    (None, (LDH, None, None, IPV6_HEADER)),
    (None, (JEQ, "keep", "drop", DNS_PORT)),
    ("keep", (RET, None, None, MAX_PACKET)),
    ("drop", (RET, None, None, 0)),
]


def assemble(program: list[tuple[str | None, Instruction]]) -> bytes:
    """struct sock_filter[] with labels turned into the relative jumps BPF wants."""
    where = {label: i for i, (label, _) in enumerate(program) if label}
    out = b""
    for i, (_, (code, if_true, if_false, k)) in enumerate(program):
        jt = where[if_true] - i - 1 if if_true else 0
        jf = where[if_false] - i - 1 if if_false else 0
        out += struct.pack("HBBI", code, jt, jf, k)
    return out


class _Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class DnsSeen(NamedTuple):
    client: bytes  # packed address the answer went to
    answer: Answer


Event = Union[DnsSeen, Ack]


def parse_packet(packet: bytes) -> Event | None:
    """A DNS answer or DHCP ack from an IP packet (network header first); None for anything else."""
    version = packet[0] >> 4 if packet else 0
    if version == 4 and len(packet) >= 20:
        start = (packet[0] & 0x0F) * 4
        client = packet[16:20]
    elif version == 6 and len(packet) >= IPV6_HEADER:
        start, client = IPV6_HEADER, packet[24:40]
    else:
        return None
    if len(packet) < start + UDP_HEADER:
        return None
    source_port = struct.unpack_from("!H", packet, start)[0]
    payload = packet[start + UDP_HEADER:]
    if source_port == DHCP_SERVER_PORT:
        return parse_ack(payload)
    answer = parse_answer(payload)
    return DnsSeen(client, answer) if answer else None


def open_socket(ifname: str) -> socket.socket:
    """A packet socket on `ifname` that receives only what PROGRAM keeps.

    Opened with protocol 0 (receiving nothing), filtered, then bound: no
    unfiltered packet slips in between.
    """
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)
    try:
        code = ctypes.create_string_buffer(assemble(PROGRAM))
        fprog = _Fprog(len(PROGRAM), ctypes.addressof(code))
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(fprog))
        sock.bind((ifname, ETH_P_ALL))
        sock.settimeout(POLL_SECONDS)
    except OSError:
        sock.close()
        raise
    return sock


class LanCapture:
    """A thread reading the socket; the meter loop takes what it found with `drain`."""

    def __init__(self, ifname: str) -> None:
        self.ifname = ifname
        self._events: deque[Event] = deque(maxlen=MAX_QUEUED)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def start(self) -> bool:
        """Start capturing; False (and a warning) when the interface cannot be watched."""
        try:
            self._sock = open_socket(self.ifname)
        except OSError as e:
            log.warning("cannot watch DNS answers on %s (%s): destinations will show addresses, not names", self.ifname, e)
            return False
        self._thread = threading.Thread(target=self._run, name="routerguard-capture", daemon=True)
        self._thread.start()
        return True

    def _run(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                packet, address = self._sock.recvfrom(MAX_PACKET)
            except socket.timeout:
                continue
            except OSError as e:
                log.warning("DNS capture on %s stopped: %s", self.ifname, e)
                return
            if address[2] != PACKET_OUTGOING:
                continue
            event = parse_packet(packet)
            if event is not None:
                self._events.append(event)

    def drain(self) -> list[Event]:
        events = []
        while self._events:
            events.append(self._events.popleft())
        return events

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        if self._sock:
            self._sock.close()
