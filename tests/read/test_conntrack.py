"""The ctnetlink reader against the kernel, in network namespaces made per test.

The test process stays in the root namespace. Code that must run inside a
namespace is a function of this file, run as ``ip netns exec NS python3
tests/read/test_conntrack.py FUNCTION ARGS...``, which prints its result as JSON.
Traffic flows between a client and a router namespace over a veth with
offloads off, so conntrack counts every packet as the wire carries it.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, NamedTuple, Tuple, cast

import pytest

from routerguard.account.flows import FlowTracker
from routerguard.read import conntrack
from routerguard.read.conntrack import DestroyEvents, EventsLost, Flow, address_text, dump_flows
from routerguard.read.netlink import NLMSG_DONE, NLMSG_ERROR, request

ROUTER_V4, CLIENT_V4 = "192.168.77.1", "192.168.77.2"
ROUTER_V6, CLIENT_V6 = "fd00:77::1", "fd00:77::2"
ECHO_PORT = 7007
PAYLOAD = 300
UDP_V4_OVERHEAD, UDP_V6_OVERHEAD = 20 + 8, 40 + 8
NS_SYSCTLS = {
    "net.netfilter.nf_conntrack_acct": "1",
    "net.netfilter.nf_conntrack_events": "1",
    "net.netfilter.nf_conntrack_timestamp": "1",
}
# Makes the namespace track both families, as routerguard's own table does.
NFT_RULES = """
table inet rgtest {
    chain pre {
        type filter hook prerouting priority 0; policy accept;
        ct state new counter
    }
}
"""
WAIT_SECONDS = 10.0

_names = itertools.count()


def unique_name(role: str) -> str:
    return f"rgct{os.getpid()}-{next(_names)}{role}"


def run(*args: str, stdin: str = "") -> str:
    done = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def in_ns(ns: str, *args: str, stdin: str = "") -> str:
    return run("ip", "netns", "exec", ns, *args, stdin=stdin)


def child(ns: str, function: str, *args: object) -> object:
    """Run one of this file's functions inside ``ns`` and return its JSON result."""
    return json.loads(in_ns(ns, sys.executable, os.path.abspath(__file__), function, *map(str, args)))


class Lab(NamedTuple):
    router: str
    client: str


@contextmanager
def namespaces() -> Iterator[Callable[[str], str]]:
    """Makes namespaces on demand and deletes every one on the way out, failed or not."""
    made: List[str] = []

    def make(role: str) -> str:
        made.append(unique_name(role))
        run("ip", "netns", "add", made[-1])
        return made[-1]

    try:
        yield make
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)


def track_flows(ns: str) -> None:
    for key, value in NS_SYSCTLS.items():
        in_ns(ns, "sysctl", "-qw", f"{key}={value}")
    in_ns(ns, "nft", "-f", "-", stdin=NFT_RULES)


@pytest.fixture
def router() -> Iterator[str]:
    """A lone namespace that tracks flows, for tables built with `conntrack -I`."""
    with namespaces() as make:
        ns = make("r")
        track_flows(ns)
        yield ns


@pytest.fixture
def lab() -> Iterator[Lab]:
    """A router namespace that tracks flows and a client wired to it by a veth."""
    with namespaces() as make:
        router, client = make("r"), make("c")
        track_flows(router)
        run("ip", "link", "add", "rgct0", "netns", router, "type", "veth", "peer", "name", "rgct1", "netns", client)
        for ns, dev, v4, v6 in ((router, "rgct0", ROUTER_V4, ROUTER_V6), (client, "rgct1", CLIENT_V4, CLIENT_V6)):
            in_ns(ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off")
            in_ns(ns, "ip", "link", "set", dev, "gso_max_segs", "1", "up")
            in_ns(ns, "ip", "addr", "add", f"{v4}/24", "dev", dev)
            in_ns(ns, "ip", "-6", "addr", "add", f"{v6}/64", "dev", dev, "nodad")
        yield Lab(router, client)


# ---- what the tests compare: conntrack's own listing ----


def listed(ns: str) -> Dict[int, dict]:
    """`conntrack -L -o extended,id`, by conntrack id, in the decoder's terms."""
    flows = {}
    for line in in_ns(ns, "conntrack", "-L", "-o", "extended,id").splitlines():
        fields = line.split()
        values: Dict[str, List[str]] = {}
        for token in fields:
            if "=" in token:
                key, _, value = token.partition("=")
                values.setdefault(key, []).append(value)
        ct_id = int(values["id"][-1])  # ICMP flows carry an earlier id= of their own
        flows[ct_id] = {
            "family": socket.AF_INET if fields[0] == "ipv4" else socket.AF_INET6,
            "proto": int(fields[3]),
            "src": values["src"][0],
            "dst": values["dst"][0],
            "sport": int(values["sport"][0]) if "sport" in values else 0,
            "dport": int(values["dport"][0]) if "dport" in values else 0,
            "reply_src": values["src"][1],
            "reply_dst": values["dst"][1],
            "mark": int(values.get("mark", ["0"])[0]),
            "orig_packets": int(values["packets"][0]),
            "orig_bytes": int(values["bytes"][0]),
            "reply_packets": int(values["packets"][1]),
            "reply_bytes": int(values["bytes"][1]),
        }
    return flows


def settled(ns: str) -> Dict[int, dict]:
    """The listing once two in a row agree: the last packets of a test have landed."""
    previous, current = None, listed(ns)
    deadline = time.monotonic() + WAIT_SECONDS
    while current != previous and time.monotonic() < deadline:
        previous, current = current, listed(ns)
    return current


def decoded(ns: str) -> Dict[int, dict]:
    flows = child(ns, "dump_json")
    assert isinstance(flows, list)
    by_id = {flow.pop("id"): flow for flow in flows}
    assert len(by_id) == len(flows), "one dump listed a flow twice"
    return by_id


def comparable(flows: Dict[int, dict]) -> Dict[int, dict]:
    keys = (
        "family proto src dst sport dport reply_src reply_dst mark "
        "orig_packets orig_bytes reply_packets reply_bytes"
    ).split()
    return {ct_id: {key: flow[key] for key in keys} for ct_id, flow in flows.items()}


def insert_flows(ns: str, count: int) -> None:
    """A mixed table, IPv4 and IPv6, TCP, UDP and ICMP, some marked."""
    lines = []
    for n in range(count):
        addresses = (
            f"-s fd00:1::{n % 200 + 2:x} -d fd00:2::{n // 200 + 1:x}"
            if n % 3 == 0
            else f"-s 192.168.9.{n % 200 + 2} -d 198.18.1.{n // 200 + 1}"
        )
        if n % 5 == 4:
            icmp, echo_request = ("icmp", 8) if n % 3 else ("icmpv6", 128)
            proto = f"-p {icmp} --{icmp}-type {echo_request} --{icmp}-code 0 --{icmp}-id {n}"
        elif n % 2:
            proto = f"-p tcp --state ESTABLISHED --sport {10000 + n} --dport 443"
        else:
            proto = f"-p udp --sport {10000 + n} --dport 53"
        mark = f" --mark {n % 4}" if n % 4 else ""
        lines.append(f"-I {addresses} {proto}{mark} -t 600\n")
    with tempfile.NamedTemporaryFile("w", suffix=".ct") as batch:
        batch.write("".join(lines))
        batch.flush()
        in_ns(ns, "conntrack", "-R", batch.name)


def send_udp(lab: Lab, sport: int, count: int) -> None:
    """``count`` datagrams from the client each way, to the router's echo, v4 and v6."""
    child(lab.client, "udp_client", sport, count)


# ---- the decoder on crafted messages ----

NLA_F_NESTED = 0x8000
CTA_USE = 11


def attribute(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + bytes(-length % 4)


def nested(kind: int, *children: bytes) -> bytes:
    return attribute(kind | NLA_F_NESTED, b"".join(children))


def udp_flow(ct_id: int, *extra: bytes) -> bytes:
    """A DESTROY-sized ctnetlink message: an IPv4 UDP tuple, an id, and ``extra``."""
    orig = nested(
        conntrack.CTA_TUPLE_ORIG,
        nested(
            conntrack.CTA_TUPLE_IP,
            attribute(conntrack.CTA_IP_V4_SRC, socket.inet_pton(socket.AF_INET, CLIENT_V4)),
            attribute(conntrack.CTA_IP_V4_DST, socket.inet_pton(socket.AF_INET, ROUTER_V4)),
        ),
        nested(
            conntrack.CTA_TUPLE_PROTO,
            attribute(conntrack.CTA_PROTO_NUM, bytes([socket.IPPROTO_UDP])),
            attribute(conntrack.CTA_PROTO_SRC_PORT, struct.pack(">H", 40000)),
            attribute(conntrack.CTA_PROTO_DST_PORT, struct.pack(">H", 53)),
        ),
    )
    body = conntrack.NFGENMSG.pack(socket.AF_INET, 0, 0) + orig + attribute(conntrack.CTA_ID, struct.pack(">I", ct_id))
    return request(conntrack.CT_NEW, 0, 0, body + b"".join(extra))


def done(error: int = 0) -> bytes:
    return request(NLMSG_DONE, 0, 0, struct.pack("=i", -error))


def decode(data: bytes) -> Tuple[List[Flow], bool]:
    flows: List[Flow] = []
    finished = conntrack._decode(data, conntrack.CT_NEW, flows)
    return flows, finished


def test_messages_of_one_length_but_another_layout_are_walked_afresh() -> None:
    marked = udp_flow(1, attribute(conntrack.CTA_MARK, struct.pack(">I", 7)))
    used = udp_flow(2, attribute(CTA_USE, struct.pack(">I", 99)))
    assert len(marked) == len(used)
    flows, finished = decode(marked + used + marked + done())
    assert finished
    assert [(flow.id, flow.mark) for flow in flows] == [(1, 7), (2, 0), (1, 7)]
    assert flows[0].sport == 40000 and address_text(flows[0].src) == CLIENT_V4


def test_a_dump_that_failed_midway_raises_instead_of_looking_complete() -> None:
    with pytest.raises(OSError) as failure:
        decode(udp_flow(1) + done(errno.EINTR))
    assert failure.value.errno == errno.EINTR


def test_a_netlink_error_is_raised_with_its_errno() -> None:
    error = request(NLMSG_ERROR, 0, 0, struct.pack("=i", -errno.EPERM) + bytes(16))
    with pytest.raises(PermissionError):
        decode(error)


def test_an_attribute_overrunning_its_message_is_refused() -> None:
    broken = bytearray(udp_flow(3, attribute(CTA_USE, struct.pack(">IIII", 1, 2, 3, 4))))
    struct.pack_into("=H", broken, len(broken) - 20, 200)  # CTA_USE claims 200 bytes
    with pytest.raises(ValueError):
        decode(bytes(broken))


def test_messages_of_other_types_are_skipped() -> None:
    other = bytearray(udp_flow(4))
    struct.pack_into("=H", other, 4, conntrack.CT_DELETE)
    flows, finished = decode(bytes(other) + udp_flow(5))
    assert [flow.id for flow in flows] == [5] and not finished


# ---- tests against the kernel ----


@pytest.mark.lab
def test_dump_matches_conntrack_listing_for_a_mixed_table(router: str) -> None:
    insert_flows(router, 1000)  # several datagrams of dump, both families
    expected = listed(router)
    assert len(expected) == 1000
    assert comparable(decoded(router)) == expected


@pytest.mark.lab
def test_dump_counts_real_traffic_like_conntrack(lab: Lab) -> None:
    with echo_server(lab.router):
        send_udp(lab, 40001, 5)
        child(lab.client, "tcp_client", 3)
    expected = settled(lab.router)
    got = decoded(lab.router)
    assert comparable(got) == expected
    udp = {flow["src"]: flow for flow in got.values() if flow["proto"] == socket.IPPROTO_UDP}
    assert udp[CLIENT_V4]["orig_bytes"] == udp[CLIENT_V4]["reply_bytes"] == 5 * (UDP_V4_OVERHEAD + PAYLOAD)
    assert udp[CLIENT_V6]["orig_bytes"] == udp[CLIENT_V6]["reply_bytes"] == 5 * (UDP_V6_OVERHEAD + PAYLOAD)
    tcp = [flow for flow in got.values() if flow["proto"] == socket.IPPROTO_TCP]
    assert len(tcp) == 2 and all(flow["orig_bytes"] > 3 * PAYLOAD for flow in tcp)


@pytest.mark.lab
def test_start_timestamp_is_read_when_the_kernel_keeps_it(router: str) -> None:
    insert_flows(router, 3)
    in_ns(router, "sysctl", "-qw", "net.netfilter.nf_conntrack_timestamp=0")
    untimed = "-I -s 192.168.9.250 -d 198.18.1.1 -p udp --sport 1 --dport 2 -t 60"
    in_ns(router, "conntrack", *untimed.split())
    starts = {flow["src"]: flow["start"] for flow in decoded(router).values()}
    assert starts.pop("192.168.9.250") == 0
    assert all(start > 0 for start in starts.values())


@pytest.mark.lab
def test_destroy_event_carries_the_final_counters(lab: Lab) -> None:
    with echo_server(lab.router):
        send_udp(lab, 40001, 4)
    before = {flow["src"]: flow for flow in listed(lab.router).values() if flow["proto"] == socket.IPPROTO_UDP}
    events = child(lab.router, "destroy_and_read", "-p", "udp")
    assert isinstance(events, list)
    ended = {flow["src"]: flow for flow in events}
    for src in (CLIENT_V4, CLIENT_V6):
        assert ended[src]["orig_bytes"] == before[src]["orig_bytes"] > 0
        assert ended[src]["reply_bytes"] == before[src]["reply_bytes"] > 0
        assert ended[src]["dport"] == ECHO_PORT


@pytest.mark.lab
def test_events_lost_to_a_full_buffer_are_reported(router: str) -> None:
    insert_flows(router, 1500)
    result = child(router, "overflow", 0)
    assert isinstance(result, dict)
    assert result["lost_reported"] >= 1
    assert 0 < result["received"] < 1500


@pytest.mark.lab
def test_reliable_events_arrive_despite_a_full_buffer(router: str) -> None:
    insert_flows(router, 1500)
    result = child(router, "overflow", 1)
    assert isinstance(result, dict)
    assert result["lost_reported"] >= 1
    assert result["received"] == result["distinct"] == 1500


@pytest.mark.lab
def test_tracker_counts_real_traffic_exactly_once(lab: Lab) -> None:
    """Dumps, a flow ended after a dump, one born and ended between dumps."""
    with echo_server(lab.router):
        totals = child(lab.router, "track", lab.client)
    assert isinstance(totals, dict)
    sent = 3 + 4 + 5  # datagrams each way, per family: see track()
    assert totals[CLIENT_V4] == [sent * (UDP_V4_OVERHEAD + PAYLOAD)] * 2
    assert totals[CLIENT_V6] == [sent * (UDP_V6_OVERHEAD + PAYLOAD)] * 2


# ---- inside the namespaces ----


class echo_server:
    """A UDP and TCP echo on the router, both families, ready when entered."""

    def __init__(self, ns: str) -> None:
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__), "echo"],
            stdout=subprocess.PIPE,
            text=True,
        )

    def __enter__(self) -> "echo_server":
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.kill()
        self.process.wait()


def echo() -> None:
    listeners = []
    for family, address in ((socket.AF_INET, ROUTER_V4), (socket.AF_INET6, ROUTER_V6)):
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            sock = socket.socket(family, kind)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, ECHO_PORT))
            if kind == socket.SOCK_STREAM:
                sock.listen()
            listeners.append(sock)
    print("ready", flush=True)
    streams: List[socket.socket] = []
    while True:
        readable, _, _ = select.select(listeners + streams, [], [])
        for sock in readable:
            if sock.type == socket.SOCK_DGRAM:
                data, peer = sock.recvfrom(65535)
                sock.sendto(data, peer)
            elif sock in listeners:
                streams.append(sock.accept()[0])
            else:
                data = sock.recv(65535)
                if data:
                    sock.sendall(data)
                else:
                    streams.remove(sock)
                    sock.close()


def udp_client(sport: str, count: str) -> None:
    for family, local, remote in ((socket.AF_INET, CLIENT_V4, ROUTER_V4), (socket.AF_INET6, CLIENT_V6, ROUTER_V6)):
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(WAIT_SECONDS)
            sock.bind((local, int(sport)))
            for _ in range(int(count)):
                sock.sendto(b"x" * PAYLOAD, (remote, ECHO_PORT))
                assert len(sock.recv(65535)) == PAYLOAD
    print("null")


def tcp_client(count: str) -> None:
    for family, remote in ((socket.AF_INET, ROUTER_V4), (socket.AF_INET6, ROUTER_V6)):
        with socket.create_connection((remote, ECHO_PORT), timeout=WAIT_SECONDS) as sock:
            for _ in range(int(count)):
                sock.sendall(b"y" * PAYLOAD)
                received = 0
                while received < PAYLOAD:
                    received += len(sock.recv(65535))
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65535):
                pass
    print("null")


def flow_json(flow: Flow) -> dict:
    record = flow._asdict()
    for key in ("src", "dst", "reply_src", "reply_dst"):
        record[key] = address_text(record[key])
    del record["orig_tuple"]
    return record


def dump_json() -> None:
    print(json.dumps([flow_json(flow) for flow in dump_flows()]))


def wait_readable(fileno: int) -> bool:
    return bool(select.select([fileno], [], [], WAIT_SECONDS)[0])


def destroy_and_read(*conntrack_filter: str) -> None:
    with DestroyEvents() as events:
        deleted = subprocess.run(["conntrack", "-D", *conntrack_filter], capture_output=True, text=True)
        expected = int(deleted.stderr.split("flow entries")[0].split()[-1])
        flows: List[Flow] = []
        while len(flows) < expected and wait_readable(events.fileno()):
            flows += events.read()
    print(json.dumps([flow_json(flow) for flow in flows]))


def overflow(reliable: str) -> None:
    """Delete the whole table at once into a buffer far too small for it."""
    expected = int(subprocess.run(["conntrack", "-C"], capture_output=True, text=True).stdout)
    with DestroyEvents(buffer_bytes=16384, reliable=reliable == "1") as events:
        subprocess.run(["conntrack", "-D"], capture_output=True, check=True)
        ids, lost = [], 0
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline and wait_readable(events.fileno()):
            try:
                ids += [flow.id for flow in events.read()]
            except EventsLost as error:
                ids += [flow.id for flow in error.flows]
                lost += 1
            if len(ids) >= expected or not reliable == "1" and lost:
                break
    print(json.dumps({"received": len(ids), "distinct": len(set(ids)), "lost_reported": lost}))


def track(client: str) -> None:
    """Meter three phases of traffic the way the daemon's loop does."""
    def traffic(sport: int, count: int) -> None:
        subprocess.run(
            ["ip", "netns", "exec", client, sys.executable, __file__, "udp_client", str(sport), str(count)],
            check=True,
            capture_output=True,
        )

    tracker = FlowTracker()
    with DestroyEvents() as events:
        traffic(40001, 3)
        tracker.ended(events.read())
        tracker.dump(dump_flows())
        traffic(40001, 4)  # the same flows grow after the dump...
        subprocess.run(["conntrack", "-D", "-p", "udp", "--sport", "40001"], check=True, capture_output=True)
        traffic(40002, 5)  # ...and new ones live and die between dumps
        subprocess.run(["conntrack", "-D", "-p", "udp", "--sport", "40002"], check=True, capture_output=True)
        ended: List[Flow] = []
        while len(ended) < 4 and wait_readable(events.fileno()):
            ended += events.read()
        tracker.ended(ended)
        tracker.dump(dump_flows())
    totals = {address_text(cast(Tuple[bytes, int], key)[0]): [up, down] for key, up, down in tracker.take()}
    print(json.dumps(totals))


if __name__ == "__main__":
    globals()[sys.argv[1]](*sys.argv[2:])
