"""Hostile input: the parsers the daemon feeds from outside raise only their documented errors.

- The ctnetlink decoder and the attribute walk (ValueError for a malformed
  message, OSError for an error the kernel reports), on random bytes and on
  mutated real kernel messages: a dump and DESTROY events captured from a
  namespace with a mixed table.
- The UCI parser and the config model (UciSyntaxError, ConfigError) on
  mutated versions of the example config: a bad edit before SIGHUP must be
  refused, never crash the daemon.
- The lease-file parser (never raises), on mutated dnsmasq lease files.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import textwrap
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routerguard.config import uci
from routerguard.config.model import MAC_RE, ConfigError, build
from routerguard.read import conntrack, netlink
from routerguard.read.leases import parse_leases

EXAMPLE_CONFIG = os.path.join(os.path.dirname(__file__), "data", "interface_example.uci")
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ADDRESS_SIZES = (0, 4, 16)  # absent, IPv4, IPv6
NLA_F_NESTED = 0x8000
ADDRESS_AND_RAW_FIELDS = 5  # src, dst, reply_src, reply_dst, orig_tuple: the rest of a Flow are integers
U16_MAX, U32_MAX, U64_MAX = 2**16 - 1, 2**32 - 1, 2**64 - 1

# Flows of every kind the meter meets: both families, TCP, UDP, ICMP, marks,
# NAT'd reply tuples, a zone; `conntrack -I` builds them without traffic.
FLOWS = [
    "-s 192.168.8.11 -d 198.18.0.1 -p tcp --state ESTABLISHED --sport 40000 --dport 443 --mark 3",
    "-s 192.168.8.12 -d 198.18.0.10 -r 198.18.0.10 -q 198.18.0.2 -p udp --sport 40001 --dport 53"
    " --reply-port-src 53 --reply-port-dst 61001",
    "-s 192.168.8.13 -d 198.18.0.20 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 7",
    "-s fd00:8::11 -d fd00:198:18::1 -p tcp --state ESTABLISHED --sport 40002 --dport 80",
    "-s fd00:8::12 -d fd00:198:18::10 -p udp --sport 40003 --dport 443 --mark 9 --zone 2",
    "-s fd00:8::13 -d fd00:198:18::20 -p icmpv6 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 9",
]
TRACK_BOTH_FAMILIES = """table inet t {
    chain c {
        type filter hook prerouting priority 0; policy accept;
        ct state new counter
    }
}
"""
SYSCTLS = ["net.netfilter.nf_conntrack_acct=1", "net.netfilter.nf_conntrack_timestamp=1",
           "net.netfilter.nf_conntrack_events=1"]
# Runs inside the namespace: the raw datagrams of one dump, then of the
# DESTROY events of deleting the table, as hex.
CAPTURE = textwrap.dedent("""
    import json, subprocess, select
    from routerguard.read import conntrack, netlink
    sock = netlink.open_socket(netlink.NETLINK_NETFILTER)
    sock.send(netlink.request(conntrack.CT_GET, netlink.NLM_F_REQUEST | netlink.NLM_F_DUMP, 1, conntrack.DUMP_ALL_FAMILIES))
    dump = []
    while not dump or netlink.NLMSG_HEADER.unpack_from(dump[-1], len(dump[-1]) - 20)[1] != netlink.NLMSG_DONE:
        dump.append(netlink.receive(sock))
    events = conntrack.DestroyEvents()
    subprocess.run(["conntrack", "-D"], capture_output=True, check=True)
    destroyed = []
    while select.select([events.fileno()], [], [], 1.0)[0]:
        destroyed.append(netlink.receive(events._sock))
    print(json.dumps({"dump": [d.hex() for d in dump], "destroy": [d.hex() for d in destroyed]}))
""")


@pytest.fixture(scope="module")
def kernel_messages() -> dict[str, list[bytes]]:
    """Real ctnetlink datagrams from a throwaway namespace: a dump's and DESTROY events'."""
    if os.geteuid() != 0:
        pytest.skip("capturing kernel messages needs root (a network namespace)")
    ns = f"rgfuzz{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        def run(*argv: str, **kwargs) -> subprocess.CompletedProcess:
            return subprocess.run(["ip", "netns", "exec", ns, *argv], check=True, capture_output=True, text=True,
                                  **kwargs)

        run("sysctl", "-qw", *SYSCTLS)
        run("nft", "-f", "-", input=TRACK_BOTH_FAMILIES)
        run("conntrack", "-R", "/dev/stdin", input="".join(f"-I {flow} -t 600\n" for flow in FLOWS))
        captured = json.loads(run(sys.executable, "-c", CAPTURE).stdout)
    finally:
        subprocess.run(["ip", "netns", "delete", ns], check=True)
    messages = {kind: [bytes.fromhex(d) for d in data] for kind, data in captured.items()}
    assert messages["dump"] and messages["destroy"], messages
    return messages


def decode(data: bytes, wanted: int) -> list[conntrack.Flow]:
    """The decoder's documented outcomes only: flows, ValueError or OSError."""
    flows: list[conntrack.Flow] = []
    try:
        conntrack._decode(data, wanted, flows)
    except (ValueError, OSError):
        pass
    for flow in flows:
        assert all(len(getattr(flow, f)) in ADDRESS_SIZES for f in ("src", "dst", "reply_src", "reply_dst")), flow
        numbers = [value for value in flow if isinstance(value, int)]
        assert len(numbers) == len(flow) - ADDRESS_AND_RAW_FIELDS and all(0 <= n <= U64_MAX for n in numbers), flow
    return flows


def flow_messages(datagrams: list[bytes]) -> list[bytes]:
    """Each conntrack message of the datagrams, alone (not the DONE that ends a dump)."""
    found = []
    for data in datagrams:
        offset = 0
        while offset < len(data):
            length, kind = netlink.NLMSG_HEADER.unpack_from(data, offset)[:2]
            if kind in (conntrack.CT_NEW, conntrack.CT_DELETE):
                found.append(data[offset:offset + length])
            offset += netlink.align(length)
    return found


@st.composite
def mutations(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A real datagram with a few of the faults a broken or hostile sender makes."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        where = draw(st.integers(0, max(len(data) - 1, 0)))
        fault = draw(st.sampled_from(["flip", "length16", "length32", "cut", "insert", "repeat"]))
        if fault == "flip" and data:
            data[where] ^= 1 << draw(st.integers(0, 7))
        elif fault == "length16" and where + 2 <= len(data):  # an attribute's length, or a type
            struct.pack_into("=H", data, where & ~3, draw(st.integers(0, U16_MAX)))
        elif fault == "length32" and where + 4 <= len(data):  # a message's length
            struct.pack_into("=I", data, where & ~3, draw(st.integers(0, U32_MAX)))
        elif fault == "cut":
            del data[where:]
        elif fault == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=8))
        elif fault == "repeat":
            data += data[where:]
    return bytes(data)


def attribute_tree(data: bytes, start: int, end: int, parents: tuple[int, ...] = ()) -> list[tuple[int, tuple[int, ...]]]:
    """(header offset, header offsets of the nests around it) of every attribute, nested ones too."""
    found = []
    for _, payload, stop in netlink.attributes(data, start, end):
        header = payload - netlink.NLA_HEADER.size
        found.append((header, parents))
        if netlink.NLA_HEADER.unpack_from(data, header)[1] & NLA_F_NESTED:
            found += attribute_tree(data, payload, stop, parents + (header,))
    return found


@st.composite
def resized(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A real message with one attribute's payload cut or grown, every enclosing length kept true:
    well-formed netlink, wrong-sized fields (a 6-byte address, a 3-byte counter)."""
    message = bytearray(draw(st.sampled_from(seeds)))
    header, parents = draw(st.sampled_from(attribute_tree(bytes(message), conntrack.ATTRS_OFFSET, len(message))))
    length, kind = netlink.NLA_HEADER.unpack_from(message, header)
    size = draw(st.integers(0, 24))
    payload = bytes(message[header + netlink.NLA_HEADER.size:header + length]) + draw(st.binary(min_size=size, max_size=size))
    new_length = netlink.NLA_HEADER.size + size
    replacement = netlink.NLA_HEADER.pack(new_length, kind) + payload[:size]
    replacement += bytes(netlink.align(new_length) - new_length)
    grown = len(replacement) - netlink.align(length)
    message[header:header + netlink.align(length)] = replacement
    for parent in parents:
        struct.pack_into("=H", message, parent, netlink.NLA_HEADER.unpack_from(message, parent)[0] + grown)
    struct.pack_into("=I", message, 0, len(message))
    return bytes(message)


@FUZZ
@given(st.binary(max_size=256), st.data())
def test_the_attribute_walk_raises_only_value_error_and_stays_in_bounds(data, draw):
    start = draw.draw(st.integers(0, len(data)))
    end = draw.draw(st.integers(start, len(data)))
    try:
        found = list(netlink.attributes(data, start, end))
    except ValueError:
        return
    assert len(found) <= (end - start) // netlink.NLA_HEADER.size
    assert all(start <= payload - netlink.NLA_HEADER.size and payload <= stop <= end for _, payload, stop in found)


@FUZZ
@given(st.binary(max_size=512), st.sampled_from([conntrack.CT_NEW, conntrack.CT_DELETE]))
def test_the_decoder_survives_random_bytes(data, wanted):
    decode(data, wanted)


@FUZZ
@given(st.data())
def test_the_decoder_survives_mutated_kernel_dumps_and_events(kernel_messages, data):
    kind = data.draw(st.sampled_from(["dump", "destroy"]))
    wanted = conntrack.CT_NEW if kind == "dump" else conntrack.CT_DELETE
    decode(data.draw(mutations(kernel_messages[kind])), wanted)


@FUZZ
@given(st.data())
def test_the_decoder_survives_kernel_messages_with_fields_of_the_wrong_size(kernel_messages, data):
    kind = data.draw(st.sampled_from(["dump", "destroy"]))
    decode(data.draw(resized(flow_messages(kernel_messages[kind]))), conntrack.CT_NEW if kind == "dump" else conntrack.CT_DELETE)


def test_an_error_code_outside_errno_range_is_still_an_os_error():
    error = netlink.request(netlink.NLMSG_ERROR, 0, 0, struct.pack("=i", -2**31) + bytes(16))
    with pytest.raises(OSError, match="netlink error"):
        conntrack._decode(error, conntrack.CT_NEW, [])


@FUZZ
@given(st.data())
def test_the_attribute_walk_survives_mutated_kernel_messages(kernel_messages, data):
    message = data.draw(mutations(kernel_messages["dump"] + kernel_messages["destroy"]))
    try:
        list(netlink.attributes(message, conntrack.ATTRS_OFFSET, len(message)))
    except ValueError:
        pass


def test_hostile_messages_leave_real_ones_decoding_as_before(kernel_messages):
    """The decoder caches message layouts: garbage must not teach it a wrong one."""
    def decoded_all() -> list[conntrack.Flow]:
        return [flow for kind, wanted in (("dump", conntrack.CT_NEW), ("destroy", conntrack.CT_DELETE))
                for data in kernel_messages[kind] for flow in decode(data, wanted)]

    before = decoded_all()
    assert {socket.AF_INET, socket.AF_INET6} <= {flow.family for flow in before}
    assert len(before) == 2 * len(FLOWS)  # each flow once in the dump and once ended

    @FUZZ
    @given(st.data())
    def hostile(data):
        kind = data.draw(st.sampled_from(["dump", "destroy"]))
        decode(data.draw(mutations(kernel_messages[kind])), conntrack.CT_NEW if kind == "dump" else conntrack.CT_DELETE)

    hostile()
    assert decoded_all() == before


# ---- the config file: a bad edit is refused with its place, never a crash ----

with open(EXAMPLE_CONFIG) as _f:
    EXAMPLE_LINES = _f.read().splitlines(keepends=True)
TRICKY_VALUES = ["", "0", "-1", "1e999", "nan", "99999999999999999999999TB", "5XB", "256kbit", "0kbit", "é", "中文",
                 "'", '"', "\\", "a b", "02:00:00:00:00:0A", "02-00-00-00-00-0a", "::1", "300.1.1.1:80",
                 "192.168.8.1:99999", "2026-02-30T25:61", "days", "monthly", "none", "\t", "#", "x" * 300]


@st.composite
def edited_configs(draw: st.DrawFn) -> str:
    """The example config after a few careless edits: lines lost, doubled, moved, values mangled, a cut."""
    lines = list(EXAMPLE_LINES)
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["drop", "double", "move", "value", "raw", "cut"]))
        if edit == "drop":
            del lines[at]
        elif edit == "double":
            lines.insert(at, lines[at])
        elif edit == "move":
            lines.insert(draw(st.integers(0, len(lines) - 1)), lines.pop(at))
        elif edit == "value":
            words = lines[at].split(None, 2)
            if len(words) == 3:
                value = draw(st.sampled_from(TRICKY_VALUES))
                quote = draw(st.sampled_from(["'", '"', ""]))
                lines[at] = f"\t{words[0]} {words[1]} {quote}{value}{quote}\n"
        elif edit == "raw":
            lines[at] = draw(st.text(max_size=30)) + "\n"
        else:
            lines[at] = lines[at][:draw(st.integers(0, len(lines[at])))]
        if not lines:
            break
    return "".join(lines)


@FUZZ
@given(edited_configs())
def test_a_badly_edited_config_is_refused_never_a_crash(text):
    try:
        package = uci.parse(text, EXAMPLE_CONFIG)
    except uci.UciSyntaxError:
        return
    if text.endswith("\n"):
        assert uci.dumps(package) == text  # what parses is written back byte for byte
    try:
        build(package, EXAMPLE_CONFIG)
    except ConfigError:
        pass


# ---- the lease file: dnsmasq's, with hostnames the clients chose ----

LEASE_FIELDS = [
    st.from_regex(r"[0-9]{1,12}", fullmatch=True) | st.text(max_size=12),
    st.sampled_from(["02:00:00:00:00:11", "02:00:00:00:00:1G", "*", "02:00:00:00:00"]) | st.text(max_size=20),
    st.sampled_from(["192.168.8.11", "fd00::1", "not-an-ip"]) | st.text(max_size=20),
    st.sampled_from(["*", "phone", "x" * 300]) | st.text(max_size=40),
    st.sampled_from(["01:02:00:00:00:00:11", "*"]) | st.text(max_size=20),
]


@FUZZ
@given(st.lists(st.one_of(st.tuples(*LEASE_FIELDS).map(" ".join), st.just("duid 00:01:00:01"), st.text(max_size=60)),
                max_size=12))
def test_the_lease_parser_never_raises_and_keeps_only_valid_leases(lines):
    for lease in parse_leases("\n".join(lines)):
        assert MAC_RE.match(lease.mac)
        assert lease.expiry >= 0 and lease.ip and (lease.hostname is None or lease.hostname.strip())
