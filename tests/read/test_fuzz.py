"""Hostile input: the parsers the daemon feeds from outside raise only their documented errors.

- The ctnetlink decoder and the attribute walk (ValueError for a malformed
  message, OSError for an error the kernel reports), on random bytes and on
  mutated real kernel messages: a dump and DESTROY events captured from a
  namespace with a mixed table.
- The UCI parser and the config model (UciSyntaxError, ConfigError) on
  mutated versions of the example config: a bad edit before SIGHUP must be
  refused, never crash the daemon.
- The rtnetlink neighbour and address decoders (ValueError, OSError), on
  mutated real dumps and on the faults the old reader did not survive.
- The lease-file parser (never raises), on mutated dnsmasq lease files.

bench/fuzz.py runs coverage-guided fuzzing (atheris) of the same parsers;
what it finds becomes a plain test here.
"""

from __future__ import annotations

import os
import socket
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routerguard.config import uci
from routerguard.config.model import MAC_RE, ConfigError, build
from routerguard.read import conntrack, neighbours, netlink
from routerguard.read.leases import parse_leases
from routerguard_lab import samples

EXAMPLE_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "interface_example.uci")
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ADDRESS_SIZES = (0, 4, 16)  # absent, IPv4, IPv6
NLA_F_NESTED = 0x8000
ADDRESS_AND_RAW_FIELDS = 5  # src, dst, reply_src, reply_dst, orig_tuple: the rest of a Flow are integers
U16_MAX, U32_MAX, U64_MAX = 2**16 - 1, 2**32 - 1, 2**64 - 1


@pytest.fixture(scope="module")
def kernel_messages() -> dict[str, list[bytes]]:
    """Real ctnetlink datagrams from a throwaway namespace: a dump's and DESTROY events'."""
    if os.geteuid() != 0:
        pytest.skip("capturing kernel messages needs root (a network namespace)")
    messages = samples.conntrack_datagrams()
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


@pytest.mark.lab
@FUZZ
@given(st.data())
def test_the_decoder_survives_mutated_kernel_dumps_and_events(kernel_messages, data):
    kind = data.draw(st.sampled_from(["dump", "destroy"]))
    wanted = conntrack.CT_NEW if kind == "dump" else conntrack.CT_DELETE
    decode(data.draw(mutations(kernel_messages[kind])), wanted)


@pytest.mark.lab
@FUZZ
@given(st.data())
def test_the_decoder_survives_kernel_messages_with_fields_of_the_wrong_size(kernel_messages, data):
    kind = data.draw(st.sampled_from(["dump", "destroy"]))
    decode(data.draw(resized(flow_messages(kernel_messages[kind]))), conntrack.CT_NEW if kind == "dump" else conntrack.CT_DELETE)


def test_an_error_code_outside_errno_range_is_still_an_os_error():
    error = netlink.request(netlink.NLMSG_ERROR, 0, 0, struct.pack("=i", -2**31) + bytes(16))
    with pytest.raises(OSError, match="netlink error"):
        conntrack._decode(error, conntrack.CT_NEW, [])


@pytest.mark.lab
@FUZZ
@given(st.data())
def test_the_attribute_walk_survives_mutated_kernel_messages(kernel_messages, data):
    message = data.draw(mutations(kernel_messages["dump"] + kernel_messages["destroy"]))
    try:
        list(netlink.attributes(message, conntrack.ATTRS_OFFSET, len(message)))
    except ValueError:
        pass


@pytest.mark.lab
def test_hostile_messages_leave_real_ones_decoding_as_before(kernel_messages):
    """The decoder caches message layouts: garbage must not teach it a wrong one."""
    def decoded_all() -> list[conntrack.Flow]:
        return [flow for kind, wanted in (("dump", conntrack.CT_NEW), ("destroy", conntrack.CT_DELETE))
                for data in kernel_messages[kind] for flow in decode(data, wanted)]

    before = decoded_all()
    assert {socket.AF_INET, socket.AF_INET6} <= {flow.family for flow in before}
    assert len(before) == 2 * (len(samples.FLOWS) + 1)  # each flow (and the real datagram's) dumped and ended

    @FUZZ
    @given(st.data())
    def hostile(data):
        kind = data.draw(st.sampled_from(["dump", "destroy"]))
        decode(data.draw(mutations(kernel_messages[kind])), conntrack.CT_NEW if kind == "dump" else conntrack.CT_DELETE)

    hostile()
    assert decoded_all() == before


# ---- the neighbour table: rtnetlink dumps ----

@pytest.fixture(scope="module")
def rtnetlink_messages() -> dict[str, list[bytes]]:
    """Real RTM_NEWNEIGH and RTM_NEWADDR datagrams from a throwaway namespace."""
    if os.geteuid() != 0:
        pytest.skip("capturing kernel messages needs root (a network namespace)")
    return samples.rtnetlink_datagrams()


def decode_neighbours(data: bytes, reply_type: int) -> list[object]:
    """The decoders' documented outcomes only: results, ValueError or OSError."""
    found: list[neighbours.Message] = []
    try:
        neighbours.replies(data, reply_type, found)
    except (ValueError, OSError):
        pass
    parse = neighbours.parse_neighbour if reply_type == neighbours.RTM_NEWNEIGH else neighbours.parse_addresses
    results = []
    for message in found:
        try:
            results.append(parse(*message))
        except ValueError:
            pass
    return results


@pytest.mark.lab
def test_real_dumps_give_resolved_neighbours_and_local_addresses(rtnetlink_messages):
    found = [n for d in rtnetlink_messages["neighbours"] for n in decode_neighbours(d, neighbours.RTM_NEWNEIGH) if n]
    assert {(n.ip, n.mac) for n in found} == {("192.168.8.11", "02:00:00:00:00:11"),
                                              ("192.168.8.12", "02:00:00:00:00:12"),
                                              ("fd00:8::11", "02:00:00:00:00:11")}  # not failed, not noarp
    addresses = set().union(*(a for d in rtnetlink_messages["addresses"]
                               for a in decode_neighbours(d, neighbours.RTM_NEWADDR)))
    assert {"127.0.0.1", "::1", "192.168.8.1", "fd00:8::1"} <= addresses


@pytest.mark.lab
@FUZZ
@given(st.data())
def test_the_neighbour_decoders_survive_mutated_kernel_dumps(rtnetlink_messages, data):
    kind = data.draw(st.sampled_from(["neighbours", "addresses"]))
    message = data.draw(mutations(rtnetlink_messages[kind]))
    decode_neighbours(message, neighbours.RTM_NEWNEIGH if kind == "neighbours" else neighbours.RTM_NEWADDR)


# The faults below stopped the old reader with other exceptions.
@pytest.mark.parametrize("datagram,error", [
    (netlink.request(netlink.NLMSG_ERROR, 0, 1, struct.pack("=i", -1) + bytes(16)), OSError),  # was AttributeError
    (struct.pack("=IHHII", 0, neighbours.RTM_NEWNEIGH, 0, 1, 0), ValueError),  # length 0: was an endless loop
])
def test_a_bad_rtnetlink_datagram_is_an_os_or_value_error(datagram, error):
    with pytest.raises(error):
        neighbours.replies(datagram, neighbours.RTM_NEWNEIGH, [])


def test_a_message_shorter_than_its_header_is_a_value_error():
    message = (netlink.request(neighbours.RTM_NEWNEIGH, 0, 1, b""), netlink.NLMSG_HEADER.size, netlink.NLMSG_HEADER.size)
    with pytest.raises(ValueError, match="shorter than its"):  # was struct.error
        neighbours.parse_neighbour(*message)
    with pytest.raises(ValueError, match="shorter than its"):  # was IndexError, or the next message's byte
        neighbours.parse_addresses(*message)


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
    # A file ending in a line continuation is written back with a blank line after
    # it, so that a line added below cannot join the last statement.
    if text.endswith("\n") and not text.endswith("\\\n"):
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
