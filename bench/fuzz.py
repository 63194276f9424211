"""Coverage-guided fuzzing (atheris, i.e. libFuzzer) of the parsers fed from outside the daemon.

    python3 bench/fuzz.py TARGET [--seconds S | --runs N] [--corpus DIR] [--seed N]

Needs the `fuzz` extra (`pip install '.[fuzz]'`), and root for the seeds of
conntrack, neighbours, leases and packets (namespaces, the lab).

Each target feeds the fuzzer's bytes to one parser and checks its contract:
bad input gives the parser's documented error or is skipped, never another
exception; a hang (over --timeout seconds for one input) or memory past
--rss-limit-mb is a failure too. libFuzzer writes a failing input to
crash-*/timeout-*/oom-* in the current directory; it becomes a plain test in
tests/read/test_fuzz.py.

The fuzzer starts from real inputs, written to DIR/seeds the first time:

- conntrack: a ctnetlink dump and DESTROY events from a namespace (routerguard_lab.samples)
- neighbours: RTM_NEWNEIGH and RTM_NEWADDR dumps from a namespace
- uci: the shipped OpenWrt config and tests/data/interface_example.uci
- leases: the lab's dnsmasq lease file
- packets: DNS answers and DHCP acks leaving the lab router for its LAN

The first byte of a conntrack or neighbours input picks the message type the
decoder wants (so that the fuzzer can reach both), the rest is the datagram.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
from typing import Callable, Dict, List, NamedTuple

import atheris

with atheris.instrument_imports(include=["routerguard"]):
    from routerguard.config import uci
    from routerguard.config.model import MAC_RE, ConfigError, build
    from routerguard.read import capture, conntrack, neighbours
    from routerguard.read.dhcp import Ack
    from routerguard.read.leases import parse_leases

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UCI_SEEDS = [os.path.join(ROOT, "openwrt", "files", "routerguard.config"),
             os.path.join(ROOT, "tests", "data", "interface_example.uci")]
CONFIG_PATH = "/etc/config/routerguard"  # what problems name; the file is never read
ADDRESS_SIZES = (0, 4, 16)  # absent, IPv4, IPv6
U64_MAX = 2**64 - 1
CAPTURE_SECONDS = 6.0


# ---- contracts: one input each ----

def _check_flow(flow: conntrack.Flow) -> None:
    for name in ("src", "dst", "reply_src", "reply_dst"):
        assert len(getattr(flow, name)) in ADDRESS_SIZES, flow
    assert all(0 <= value <= U64_MAX for value in flow if isinstance(value, int)), flow


class ConntrackTarget:
    """conntrack._decode: flows, ValueError or OSError; and the layout cache never poisoned."""

    def __init__(self, seeds: List[bytes]) -> None:
        self.reference = seeds[0][1:]  # a real dump's datagram: what a hostile message must not change
        self.expected = self._decode(self.reference, conntrack.CT_NEW)

    @staticmethod
    def _decode(data: bytes, wanted: int) -> List[conntrack.Flow]:
        flows: List[conntrack.Flow] = []
        conntrack._decode(data, wanted, flows)
        return flows

    def __call__(self, data: bytes) -> None:
        if not data:
            return
        wanted = conntrack.CT_DELETE if data[0] & 1 else conntrack.CT_NEW
        flows: List[conntrack.Flow] = []
        try:
            conntrack._decode(data[1:], wanted, flows)
        except (ValueError, OSError):
            pass
        for flow in flows:
            _check_flow(flow)
        assert self._decode(self.reference, conntrack.CT_NEW) == self.expected, "a hostile message changed a real one"


def neighbours_target(data: bytes) -> None:
    """neighbours.replies and the message parsers: results, ValueError or OSError."""
    if not data:
        return
    neigh = bool(data[0] & 1)
    found: List[neighbours.Message] = []
    try:
        neighbours.replies(data[1:], neighbours.RTM_NEWNEIGH if neigh else neighbours.RTM_NEWADDR, found)
    except (ValueError, OSError):
        pass
    for message in found:
        try:
            if neigh:
                neighbour = neighbours.parse_neighbour(*message)
                assert neighbour is None or MAC_RE.match(neighbour.mac), neighbour
            else:
                for ip in neighbours.parse_addresses(*message):
                    socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)
        except ValueError:
            pass


def uci_target(data: bytes) -> None:
    """uci.parse (UciSyntaxError), dumps (byte for byte, and values survive a rewrite), build (ConfigError)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # read_package refuses it with a ConfigError
    try:
        package = uci.parse(text, CONFIG_PATH)
    except uci.UciSyntaxError:
        return
    # A file ending in a line continuation is written back with a blank line after
    # it, so that a line added below cannot join the last statement.
    if text.endswith("\n") and not text.endswith("\\\n"):
        assert uci.dumps(package) == text, "an unchanged file is not written back byte for byte"
    content = _uci_content(package)
    try:
        build(package, CONFIG_PATH)
    except ConfigError:
        pass
    for section in package.sections:  # as if every line had been edited: written in uci's style
        section.raw = None
        for option in section.options():
            option.raw = None
    assert _uci_content(uci.parse(uci.dumps(package))) == content, "a value changed when written"


def _uci_content(package: uci.Package) -> list:
    return [(s.type, s.name, [(o.name, o.value, o.is_list) for o in s.options()]) for s in package.sections]


def leases_target(data: bytes) -> None:
    """parse_leases never raises (the file is read with errors='replace') and keeps only valid leases."""
    for lease in parse_leases(data.decode("utf-8", "replace")):
        assert MAC_RE.match(lease.mac) and lease.expiry >= 0 and lease.ip, lease


def packets_target(data: bytes) -> None:
    """capture.parse_packet never raises: an answer, an ack or None."""
    event = capture.parse_packet(data)
    assert event is None or isinstance(event, (capture.DnsSeen, Ack)), event
    if isinstance(event, capture.DnsSeen):
        assert event.answer.addresses and all(len(a) in (4, 16) for a in event.answer.addresses), event


# ---- seeds: real inputs ----

def conntrack_seeds() -> List[bytes]:
    from routerguard_lab.samples import conntrack_datagrams
    datagrams = conntrack_datagrams()
    return [b"\0" + d for d in datagrams["dump"]] + [b"\1" + d for d in datagrams["destroy"]]


def neighbours_seeds() -> List[bytes]:
    from routerguard_lab.samples import rtnetlink_datagrams
    datagrams = rtnetlink_datagrams()
    return [b"\1" + d for d in datagrams["neighbours"]] + [b"\0" + d for d in datagrams["addresses"]]


def uci_seeds() -> List[bytes]:
    seeds = []
    for path in UCI_SEEDS:
        with open(path, "rb") as f:
            seeds.append(f.read())
    return seeds


# Runs in the lab router's namespace: what leaves it for the LAN through the
# daemon's own filter, as hex lines, for CAPTURE_SECONDS.
LAN_CAPTURE = f"""
import select, sys, time
from routerguard.read import capture
sock = capture.open_socket({{lan!r}})
print("ready", flush=True)
end = time.monotonic() + {CAPTURE_SECONDS}
while time.monotonic() < end:
    try:
        packet, address = sock.recvfrom(capture.MAX_PACKET)
    except OSError:
        continue
    if address[2] == capture.PACKET_OUTGOING:
        print(packet.hex(), flush=True)
"""


def lab_seeds() -> Dict[str, List[bytes]]:
    """The lab's lease file, and DNS answers and DHCP acks captured while clients look up names and renew."""
    import subprocess

    from routerguard_lab import plan
    from routerguard_lab.topology import Lab

    with Lab(2) as lab:
        proc = lab.router.popen([sys.executable, "-c", LAN_CAPTURE.format(lan=plan.LAN_IF)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        lines: List[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
        reader.start()
        lookup = ("import socket\n"
                  f"for name in {list(plan.INTERNET_NAMES)!r}:\n"
                  "    socket.getaddrinfo(name, 80)\n"
                  "    socket.getaddrinfo('www.' + name, 443)\n")
        for client in lab.clients:
            client.exec([sys.executable, "-c", lookup])
        lab.clients[0].set_mac("02:00:00:00:00:99")  # a new device: a full DHCP exchange
        proc.wait(CAPTURE_SECONDS + 10)
        reader.join()
        with open(lab.router.lease_file, "rb") as f:
            leases = f.read()
    return {"leases": [leases], "packets": [bytes.fromhex(line) for line in lines if line.strip()]}


Check = Callable[[bytes], None]


class Target(NamedTuple):
    check: Callable[[List[bytes]], Check]  # made from the seeds
    seeds: Callable[[], List[bytes]]


def _seedless(check: Check) -> Callable[[List[bytes]], Check]:
    return lambda seeds: check


def _lab(kind: str) -> Callable[[], List[bytes]]:
    return lambda: lab_seeds()[kind]


TARGETS = {
    "conntrack": Target(ConntrackTarget, conntrack_seeds),
    "neighbours": Target(_seedless(neighbours_target), neighbours_seeds),
    "uci": Target(_seedless(uci_target), uci_seeds),
    "leases": Target(_seedless(leases_target), _lab("leases")),
    "packets": Target(_seedless(packets_target), _lab("packets")),
}


def seed_folder(corpus: str, target: str) -> str:
    """DIR/seeds, written from real inputs the first time."""
    folder = os.path.join(corpus, "seeds")
    if not os.path.isdir(folder) or not os.listdir(folder):
        os.makedirs(folder, exist_ok=True)
        for i, seed in enumerate(TARGETS[target].seeds()):
            with open(os.path.join(folder, f"{target}-{i:03d}"), "wb") as f:
                f.write(seed)
    return folder


def read_seeds(folder: str) -> List[bytes]:
    seeds = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            seeds.append(f.read())
    return seeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--seconds", type=int, default=60, help="how long to run (default 60)")
    parser.add_argument("--runs", type=int, help="stop after this many inputs instead")
    parser.add_argument("--corpus", help="where the corpus lives (default /tmp/routerguard-fuzz/TARGET)")
    parser.add_argument("--seed", type=int, default=1, help="libFuzzer's random seed (default 1)")
    parser.add_argument("--timeout", type=int, default=5, help="seconds one input may take (default 5)")
    parser.add_argument("--rss-limit-mb", type=int, default=1024)
    args = parser.parse_args()
    corpus = args.corpus or os.path.join("/tmp/routerguard-fuzz", args.target)
    seeds = seed_folder(corpus, args.target)
    found = os.path.join(corpus, "found")
    os.makedirs(found, exist_ok=True)
    check = TARGETS[args.target].check(read_seeds(seeds))
    limit = f"-runs={args.runs}" if args.runs is not None else f"-max_total_time={args.seconds}"
    atheris.Setup([sys.argv[0], found, seeds, limit, f"-seed={args.seed}", f"-timeout={args.timeout}",
                   f"-rss_limit_mb={args.rss_limit_mb}", "-print_final_stats=1"], check)
    atheris.Fuzz()  # exits: 0 when the time or runs are up, 1 with the failing input written out


if __name__ == "__main__":
    main()
