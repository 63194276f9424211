"""Real packets through the testbed's router, so its conntrack flows count bytes both ways.

`conntrack -I` makes flows whose byte counters stay 0, which the flow
tracker keeps for less than a flow that carries traffic (a non-zero count is
an int object of its own, a zero is shared). This sends, for each flow, one
UDP datagram from a device on the LAN (raw frames into the LAN bridge, with
the device's MAC and address) and one answer from the internet (raw frames
into the uplink, to the router's MAC): the kernel routes them, conntrack
makes and counts the flow in both directions, and the nftables table counts
them as on a router. Frames the router sends on are addressed to a MAC
nobody has, so the far ends drop them before their IP stack sees them.

The datagrams carry no UDP checksum (0); the namespace's conntrack is told
not to verify checksums (`nf_conntrack_checksum=0`), which IPv6 needs.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from typing import Callable, Iterable

ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
UDP = 17
TTL = 64
GATEWAY4, GATEWAY6 = "198.18.0.1", "fe80::1"  # the uplink's next hop, a permanent neighbour
NOWHERE_MAC = "02:ff:ff:ff:ff:01"  # the next hop's MAC: no interface has it
INTERNET4 = ipaddress.ip_network("198.19.0.0/16")  # beyond the next hop
INTERNET6 = ipaddress.ip_network("fd00:198::/32")
PAYLOAD = 1000  # bytes of UDP payload a datagram carries
SYSCTLS = {"net.ipv4.ip_forward": 1, "net.ipv6.conf.all.forwarding": 1, "net.netfilter.nf_conntrack_checksum": 0,
           "net.netfilter.nf_conntrack_udp_timeout": 3600, "net.netfilter.nf_conntrack_udp_timeout_stream": 3600}
# A namespace tracks connections only once a rule asks for them (the daemon's table does, but it starts later).
TRACKING = "table inet bench_tracking {\n chain forward { type filter hook forward priority 0; ct state new accept; }\n}\n"
LAN_HOST, LAN_PORT = "lan-host", "lan-port"  # a veth: LAN_PORT on the bridge, frames sent into LAN_HOST


def ip_commands(lan_if: str, wan_if: str) -> list[str]:
    """`ip -batch` lines: the LAN veth on the bridge and the uplink's routes to the internet."""
    return [f"link add {LAN_HOST} type veth peer name {LAN_PORT}", f"link set {LAN_PORT} master {lan_if}",
            f"link set {LAN_PORT} up", f"link set {LAN_HOST} up",
            f"neigh add {GATEWAY4} lladdr {NOWHERE_MAC} dev {wan_if} nud permanent",
            f"route add {INTERNET4} via {GATEWAY4} dev {wan_if}",
            f"neigh add {GATEWAY6} lladdr {NOWHERE_MAC} dev {wan_if} nud permanent",
            f"route add {INTERNET6} via {GATEWAY6} dev {wan_if}"]


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _datagram(src: str, dst: str, sport: int, dport: int, payload: bytes) -> tuple[int, bytes]:
    """(ethertype, IP packet) of one UDP datagram."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    if ":" in src:
        head = struct.pack("!IHBB", 6 << 28, len(udp), UDP, TTL)
        return ETH_IPV6, head + socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) + udp
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, TTL, UDP, 0,
                       socket.inet_aton(src), socket.inet_aton(dst))
    head = head[:10] + struct.pack("!H", _checksum(head)) + head[12:]
    return ETH_IPV4, head + udp


class Flow:
    """One device's UDP flow to an internet address, as the two frames that move it."""

    __slots__ = ("up", "down")

    def __init__(self, n: int, devices: int, mac: str, ip4: str, ip6: str, lan_mac: bytes, wan_mac: bytes) -> None:
        sport, dport = 1024 + n // devices % 60000, 443
        if n % 4 == 0:
            device, remote = ip6, str(INTERNET6[n + 1])
        else:
            device, remote = ip4, str(INTERNET4[n % (INTERNET4.num_addresses - 2) + 1])
        kind, packet = _datagram(device, remote, sport, dport, b"u" * PAYLOAD)
        self.up = lan_mac + _mac(mac) + struct.pack("!H", kind) + packet
        kind, packet = _datagram(remote, device, dport, sport, b"d" * PAYLOAD)
        self.down = wan_mac + _mac(NOWHERE_MAC) + struct.pack("!H", kind) + packet


class Traffic:
    """Frames for `count` flows of `devices` devices (`device(n)`: mac, IPv4, IPv6), sent on packet sockets."""

    def __init__(self, count: int, devices: int, device: Callable[[int], tuple[str, str, str]], lan_mac: str,
                 wan_mac: str, lan_socket: socket.socket, wan_socket: socket.socket) -> None:
        self.flows = [Flow(n, devices, *device(n % devices), _mac(lan_mac), _mac(wan_mac)) for n in range(count)]
        self.lan, self.wan = lan_socket, wan_socket

    def both_ways(self) -> None:
        """A datagram each way on every flow: makes the flows, then moves them."""
        self._send(self.lan, (f.up for f in self.flows))
        self._send(self.wan, (f.down for f in self.flows))

    def upstream(self, every: int = 1) -> None:
        """One datagram up on every `every`th flow."""
        self._send(self.lan, (f.up for f in self.flows[::every]))

    def close(self) -> None:
        self.lan.close()
        self.wan.close()

    @staticmethod
    def _send(sock: socket.socket, frames: Iterable[bytes]) -> None:
        for frame in frames:
            while True:
                try:
                    sock.send(frame)
                    break
                except BlockingIOError:  # the veth's queue is full: the softirq drains it
                    continue


def packet_socket(ifname: str, make: Callable[[int, int], socket.socket] = socket.socket) -> socket.socket:
    """A raw packet socket sending on `ifname` (`make` may make it in another namespace)."""
    sock = make(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((ifname, 0))
    return sock
