"""The lean netlink decoders against pyroute2's, on the same real bytes.

routerguard reads conntrack and the neighbour table with decoders of its own
(routerguard/read/conntrack.py, neighbours.py): importing pyroute2 costs
some 24 MiB of RSS on a router with 128 MB. pyroute2 is still the reference
for what the kernel's messages mean, so here real traffic in the lab's router
(IPv4 with NAT and IPv6; TCP, UDP and ICMP; ct marks; live counters) is
dumped once, the raw datagrams kept, and both decoders must read the same
flows, neighbours and addresses from them, field by field.
"""

from __future__ import annotations

import json
import socket
import sys
from typing import Any, Iterable

import pytest
from pyroute2.netlink.marshal import Marshal
from pyroute2.netlink.nfnetlink.nfctsocket import nfct_msg
from pyroute2.netlink.rtnl import ndmsg as nd
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

from routerguard_lab import plan
from routerguard_lab.topology import Lab
from routerguard.read import conntrack

pytestmark = pytest.mark.lab

# Marks the router's forward hook gives each protocol's new flows (an ICMP error is related: it
# would mark the flow it reports on again); the TCP one has its top bit set, which a signed
# reading would turn negative.
MARKS = {socket.IPPROTO_TCP: 0x80000001, socket.IPPROTO_UDP: 0xDEADBEEF, socket.IPPROTO_ICMP: 7,
         socket.IPPROTO_ICMPV6: 9}
MARK_RULESET = f"""table inet refmark {{
    chain forward {{
        type filter hook forward priority filter - 1; policy accept;
        ct state new meta l4proto tcp ct mark set {MARKS[socket.IPPROTO_TCP]:#x}
        ct state new meta l4proto udp ct mark set {MARKS[socket.IPPROTO_UDP]:#x}
        ct state new meta l4proto icmp ct mark set {MARKS[socket.IPPROTO_ICMP]}
        ct state new meta l4proto ipv6-icmp ct mark set {MARKS[socket.IPPROTO_ICMPV6]}
    }}
}}
"""
# Neighbours the router is given by hand: one the lean reader keeps, one it drops (NOARP).
PERMANENT = ("192.168.8.240", "02:00:00:00:0a:01")
NOARP = ("fd00:8::240", "02:00:00:00:0a:02")
ABSENT = "192.168.8.241"  # nobody answers: INCOMPLETE, then FAILED

# One echo request each way; the kernel fills in the ICMPv6 checksum itself.
PING = """
import socket, struct, sys
def checksum(data):
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF
body = b"routerguard" * 5 + b"x"
for family, proto, kind, reply, dst in ((socket.AF_INET, socket.IPPROTO_ICMP, 8, 0, sys.argv[1]),
                                        (socket.AF_INET6, socket.IPPROTO_ICMPV6, 128, 129, sys.argv[2])):
    with socket.socket(family, socket.SOCK_RAW, proto) as s:
        s.settimeout(5)
        request = struct.pack("!BBHHH", kind, 0, 0, 0x4242, 1) + body
        if family == socket.AF_INET:
            request = request[:2] + struct.pack("!H", checksum(request)) + request[4:]
        s.sendto(request, (dst, 0))
        while True:
            data = s.recv(4096)
            icmp = data[20:] if family == socket.AF_INET else data
            if icmp[0] == reply:
                break
"""

# A UDP datagram over IPv6 to a port nobody listens on: orig counters only.
UDP6 = """
import socket, sys
with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
    s.sendto(b"u" * 321, (sys.argv[1], 9))
"""

# Runs in the router: routerguard's own readers, each datagram they receive recorded.
CAPTURE = """
import json, select, subprocess
from routerguard.read import conntrack, neighbours, netlink

recorded = []
def recording(receive):
    def wrapper(sock):
        data = receive(sock)
        recorded.append(data.hex())
        return data
    return wrapper

def flow(f):
    return {**f._asdict(), **{k: conntrack.address_text(getattr(f, k)) for k in conntrack.ADDRESS_FIELDS},
            "orig_tuple": f.orig_tuple.hex()}

def taken(read):
    recorded.clear()
    result = read()
    return result, list(recorded)

conntrack.receive = recording(conntrack.receive)
netlink.receive = recording(netlink.receive)
QUIET = 2.0
out = {}
flows, out["dump"] = taken(lambda: [flow(f) for f in conntrack.dump_flows()])
out["flows"] = flows
out["neighbours"], out["neigh_dump"] = taken(lambda: [n._asdict() for n in neighbours.neighbours()])
addresses, out["addr_dump"] = taken(neighbours.local_addresses)
out["addresses"] = sorted(addresses)
with conntrack.DestroyEvents() as events:
    subprocess.run(["conntrack", "-F"], check=True, capture_output=True)
    datagrams, lost = [], False
    while select.select([events], [], [], QUIET)[0]:  # until the kernel has been quiet for a while
        got, dropped = events.receive()
        datagrams += got
        lost = lost or dropped
out["events"] = [d.hex() for d in datagrams]
out["ended"] = [flow(f) for f in conntrack.decode_events(datagrams)]
out["lost"] = lost
print(json.dumps(out))
"""


class CtnetlinkMarshal(Marshal):
    """pyroute2's parser for the two conntrack message types routerguard reads."""

    msg_map = {conntrack.CT_NEW: nfct_msg, conntrack.CT_DELETE: nfct_msg}


def parsed(marshal: Marshal, datagrams: Iterable[str], kind: int) -> list[Any]:
    messages = [m for data in datagrams for m in marshal.parse(bytes.fromhex(data))]
    assert all(m["header"]["error"] is None for m in messages), [m["header"]["error"] for m in messages]
    return [m for m in messages if m["header"]["type"] == kind]


def reference_flow(msg: nfct_msg) -> dict[str, Any]:
    """A conntrack message as pyroute2 reads it, in the lean Flow's terms (absent counters and marks: 0)."""
    def tuple_of(name: str) -> tuple[Any, Any]:
        nested = msg.get_attr(name)
        ip = nested.get_attr("CTA_TUPLE_IP")
        src = ip.get_attr("CTA_IP_V4_SRC") or ip.get_attr("CTA_IP_V6_SRC")
        dst = ip.get_attr("CTA_IP_V4_DST") or ip.get_attr("CTA_IP_V6_DST")
        return (src, dst), nested.get_attr("CTA_TUPLE_PROTO")

    def counters(name: str) -> tuple[int, int]:
        nested = msg.get_attr(name)
        if nested is None:
            return 0, 0
        return nested.get_attr("CTA_COUNTERS_PACKETS"), nested.get_attr("CTA_COUNTERS_BYTES")

    (src, dst), proto = tuple_of("CTA_TUPLE_ORIG")
    (reply_src, reply_dst), _ = tuple_of("CTA_TUPLE_REPLY")
    orig_packets, orig_bytes = counters("CTA_COUNTERS_ORIG")
    reply_packets, reply_bytes = counters("CTA_COUNTERS_REPLY")
    timestamp = msg.get_attr("CTA_TIMESTAMP")
    return {
        "id": msg.get_attr("CTA_ID"), "family": msg["nfgen_family"], "proto": proto.get_attr("CTA_PROTO_NUM"),
        "src": src, "dst": dst,
        "sport": proto.get_attr("CTA_PROTO_SRC_PORT") or 0, "dport": proto.get_attr("CTA_PROTO_DST_PORT") or 0,
        "reply_src": reply_src, "reply_dst": reply_dst,
        "mark": msg.get_attr("CTA_MARK") or 0, "status": msg.get_attr("CTA_STATUS"),
        "orig_packets": orig_packets, "orig_bytes": orig_bytes,
        "reply_packets": reply_packets, "reply_bytes": reply_bytes,
        "start": timestamp.get_attr("CTA_TIMESTAMP_START") if timestamp else 0,
    }


def lean_flow(flow: dict[str, Any]) -> dict[str, Any]:
    """The lean decoder's Flow minus its raw tuple, which pyroute2 has no field for."""
    return {k: v for k, v in flow.items() if k != "orig_tuple"}


@pytest.fixture(scope="module")
def capture() -> dict[str, Any]:
    """Real traffic through a lab router, then its tables as routerguard's readers received them."""
    with Lab(clients=2) as lab:
        router = lab.router
        router.ns.sysctl({"net.netfilter.nf_conntrack_timestamp": 1})
        router.exec(["nft", "-f", "-"], input=MARK_RULESET)
        one, two = lab.clients
        one.download(200_000, host="dl.example.test")  # DNS over UDP to the router, then TCP through NAT
        one.download(150_000, v6=True)
        two.upload(100_000)
        two.exec([sys.executable, "-c", PING, plan.INTERNET4, plan.INTERNET6])
        two.exec([sys.executable, "-c", UDP6, plan.INTERNET6])
        router.ns.ip("neigh", "replace", PERMANENT[0], "lladdr", PERMANENT[1], "nud", "permanent", "dev", plan.LAN_IF)
        router.ns.ip("-6", "neigh", "replace", NOARP[0], "lladdr", NOARP[1], "nud", "noarp", "dev", plan.LAN_IF)
        router.exec([sys.executable, "-c", f"import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
                                          f".sendto(b'x', ({ABSENT!r}, 9))"])
        result = router.exec([sys.executable, "-c", CAPTURE])
        return json.loads(result.stdout)


def test_the_capture_has_every_kind_of_flow_the_meter_meets(capture: dict[str, Any]) -> None:
    kinds = {(f["family"], f["proto"]) for f in capture["flows"]}
    assert kinds >= {(socket.AF_INET, socket.IPPROTO_TCP), (socket.AF_INET, socket.IPPROTO_UDP),
                     (socket.AF_INET, socket.IPPROTO_ICMP), (socket.AF_INET6, socket.IPPROTO_TCP),
                     (socket.AF_INET6, socket.IPPROTO_UDP), (socket.AF_INET6, socket.IPPROTO_ICMPV6)}
    forwarded = [f for f in capture["flows"] if f["src"] in (plan.client_ip4(1), plan.client_ip4(2))
                 and f["dst"] in plan.INTERNET_ADDRS4]
    assert forwarded and all(f["reply_dst"] == plan.ROUTER_WAN4 for f in forwarded)  # masqueraded
    assert {f["mark"] for f in capture["flows"]} >= set(MARKS.values())
    assert all(f["orig_bytes"] > 0 for f in capture["flows"])
    assert any(f["start"] > 0 for f in capture["flows"])  # flows from before the sysctl have none
    assert any(f["reply_bytes"] > 100_000 for f in capture["flows"])
    assert len(capture["dump"]) >= 1 and len(capture["events"]) >= 1 and not capture["lost"]


def test_dumped_flows_read_the_same_as_with_pyroute2(capture: dict[str, Any]) -> None:
    reference = [reference_flow(m) for m in parsed(CtnetlinkMarshal(), capture["dump"], conntrack.CT_NEW)]
    lean = [lean_flow(f) for f in capture["flows"]]
    assert lean == reference


def test_destroy_events_read_the_same_as_with_pyroute2(capture: dict[str, Any]) -> None:
    reference = [reference_flow(m) for m in parsed(CtnetlinkMarshal(), capture["events"], conntrack.CT_DELETE)]
    lean = [lean_flow(f) for f in capture["ended"]]
    assert lean == reference
    ended = {f["id"]: f for f in lean}
    for flow in capture["flows"]:  # every dumped flow ended, with its final counters
        assert ended[flow["id"]]["orig_bytes"] >= flow["orig_bytes"]
        assert ended[flow["id"]]["reply_bytes"] >= flow["reply_bytes"]


def test_neighbours_read_the_same_as_with_pyroute2(capture: dict[str, Any]) -> None:
    messages = parsed(MarshalRtnl(), capture["neigh_dump"], 28)  # RTM_NEWNEIGH
    unresolved = nd.NUD_INCOMPLETE | nd.NUD_FAILED | nd.NUD_NOARP
    reference = [{"ip": m.get_attr("NDA_DST"), "mac": m.get_attr("NDA_LLADDR"), "ifindex": m["ifindex"]}
                 for m in messages
                 if m["family"] in (socket.AF_INET, socket.AF_INET6) and not m["state"] & unresolved
                 and m.get_attr("NDA_DST") and m.get_attr("NDA_LLADDR")]
    assert capture["neighbours"] == reference
    found = {(n["ip"], n["mac"]) for n in capture["neighbours"]}
    assert PERMANENT in found and NOARP not in found
    assert {(plan.client_ip4(1), plan.client_mac(1)), (plan.client_ip6(2), plan.client_mac(2))} <= found
    states = {m.get_attr("NDA_DST"): m["state"] for m in messages}
    assert states[ABSENT] & (nd.NUD_INCOMPLETE | nd.NUD_FAILED)  # in the dump, left out by both


def test_local_addresses_read_the_same_as_with_pyroute2(capture: dict[str, Any]) -> None:
    messages = parsed(MarshalRtnl(), capture["addr_dump"], 20)  # RTM_NEWADDR
    reference = {m.get_attr(name) for m in messages for name in ("IFA_ADDRESS", "IFA_LOCAL")} - {None}
    assert capture["addresses"] == sorted(reference)
    assert {plan.ROUTER_LAN4, plan.ROUTER_LAN6, plan.ROUTER_WAN4, plan.ROUTER_WAN6} <= reference
