"""Leak guard, from packets to names: DNS answers, DHCP acks, names per device, categories."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given, strategies as st

from routerguard.attribute.categories import Catalog, catalog, merged
from routerguard.attribute.names import Names
from routerguard.config.categories import shipped
from routerguard.config.model import Category
from routerguard.read import capture
from routerguard.read.dhcp import Ack, parse_ack
from routerguard.read.dns import Answer, parse_answer

V4 = socket.inet_pton(socket.AF_INET, "198.18.0.10")
V6 = socket.inet_pton(socket.AF_INET6, "fd00:198:18::10")
CDN = socket.inet_pton(socket.AF_INET, "198.18.0.20")


def encode_name(name: str) -> bytes:
    return b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"


def dns_response(qname: str, records: list[tuple[int, bytes]], rcode: int = 0, compress: bool = True) -> bytes:
    """A response to `qname` whose answers (type, rdata) all name the question (by pointer, or spelt out)."""
    header = struct.pack("!HHHHHH", 0x1234, 0x8180 | rcode, 1, len(records), 0, 0)
    question = encode_name(qname) + struct.pack("!HH", 1, 1)
    owner = b"\xc0\x0c" if compress else encode_name(qname)
    answers = b"".join(owner + struct.pack("!HHIH", rtype, 1, 300, len(rdata)) + rdata for rtype, rdata in records)
    return header + question + answers


def test_an_answer_gives_the_question_and_its_addresses() -> None:
    cname = encode_name("edge.cdn.example")
    message = dns_response("WWW.Example.test", [(5, cname), (1, V4), (28, V6)])
    assert parse_answer(message) == Answer("www.example.test", (V4, V6))


def test_names_spelt_out_parse_like_compressed_ones() -> None:
    assert parse_answer(dns_response("a.b", [(1, V4)], compress=False)) == Answer("a.b", (V4,))


@pytest.mark.parametrize("message", [
    dns_response("x.test", [(1, V4)], rcode=3),  # NXDOMAIN
    dns_response("x.test", []),  # no addresses
    dns_response("x.test", [(1, V4)])[:-2],  # cut short
    struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + encode_name("q.test") + b"\0\1\0\1",  # a query
    struct.pack("!HHHHHH", 1, 0x8180, 1, 1, 0, 0) + b"\xc0\x0c",  # a pointer to itself
    b"",
])
def test_anything_but_a_good_answer_is_none(message: bytes) -> None:
    assert parse_answer(message) is None


@given(st.binary(max_size=300))
def test_garbage_never_raises(message: bytes) -> None:
    parse_answer(message)
    parse_ack(message)
    capture.parse_packet(message)


def dhcp_message(mac: str, message_type: int, vendor: bytes | None) -> bytes:
    fixed = bytearray(236)
    fixed[0], fixed[1], fixed[2] = 2, 1, 6
    fixed[28:34] = bytes.fromhex(mac.replace(":", ""))
    options = bytes([53, 1, message_type])
    if vendor is not None:
        options += bytes([43, len(vendor)]) + vendor
    return bytes(fixed) + b"\x63\x82\x53\x63" + options + b"\xff"


def test_an_ack_with_the_metered_hint_says_so() -> None:
    assert parse_ack(dhcp_message("02:00:00:00:00:0a", 5, b"ANDROID_METERED")) == Ack("02:00:00:00:00:0a", True)
    assert parse_ack(dhcp_message("02:00:00:00:00:0a", 5, None)) == Ack("02:00:00:00:00:0a", False)
    assert parse_ack(dhcp_message("02:00:00:00:00:0a", 2, b"ANDROID_METERED")) is None  # an OFFER


def ipv4_udp(source_port: int, client: bytes, payload: bytes) -> bytes:
    header = bytes([0x45, 0]) + struct.pack("!H", 28 + len(payload)) + bytes(5) + bytes([17]) + bytes(2) + bytes(4) + client
    return header + struct.pack("!HHHH", source_port, 40000, 8 + len(payload), 0) + payload


def ipv6_udp(source_port: int, client: bytes, payload: bytes) -> bytes:
    header = bytes([0x60, 0, 0, 0]) + struct.pack("!H", 8 + len(payload)) + bytes([17, 64]) + bytes(16) + client
    return header + struct.pack("!HHHH", source_port, 40000, 8 + len(payload), 0) + payload


def test_packets_carry_answers_to_their_client_and_acks() -> None:
    answer = dns_response("dl.example.test", [(1, V4)])
    client4 = socket.inet_pton(socket.AF_INET, "192.168.8.11")
    client6 = socket.inet_pton(socket.AF_INET6, "fd00:8::11")
    assert capture.parse_packet(ipv4_udp(53, client4, answer)) == capture.DnsSeen(client4, Answer("dl.example.test", (V4,)))
    assert capture.parse_packet(ipv6_udp(53, client6, answer)) == capture.DnsSeen(client6, Answer("dl.example.test", (V4,)))
    ack = dhcp_message("02:00:00:00:00:0b", 5, b"ANDROID_METERED")
    assert capture.parse_packet(ipv4_udp(67, b"\xff" * 4, ack)) == Ack("02:00:00:00:00:0b", True)


def test_the_filter_program_jumps_only_forward_within_itself() -> None:
    code = capture.assemble(capture.PROGRAM)
    instructions = [struct.unpack_from("HBBI", code, i) for i in range(0, len(code), 8)]
    assert len(instructions) == len(capture.PROGRAM)
    for i, (code, jt, jf, _) in enumerate(instructions):
        assert code == capture.RET or i + 1 + max(jt, jf) < len(instructions)
    assert instructions[-2][0] == instructions[-1][0] == capture.RET


def test_a_device_gets_its_own_answer_and_others_the_last_one() -> None:
    names = Names()
    names.learn("02:00:00:00:00:0a", Answer("video.example", (V4,)))
    names.learn("02:00:00:00:00:0b", Answer("backup.example", (V4,)))
    assert names.name("02:00:00:00:00:0a", V4) == "video.example"
    assert names.name("02:00:00:00:00:0b", V4) == "backup.example"
    assert names.name("02:00:00:00:00:0c", V4) == "backup.example"
    assert names.name("02:00:00:00:00:0a", CDN) is None


def test_names_are_bounded_oldest_first() -> None:
    names = Names(limit=2)
    for i, address in enumerate((V4, V6, CDN)):
        names.learn("02:00:00:00:00:0a", Answer(f"n{i}.example", (address,)))
    assert names.name("02:00:00:00:00:0a", V4) is None
    assert names.name("02:00:00:00:00:0a", CDN) == "n2.example"


def test_shipped_categories_name_real_services() -> None:
    ids = {c.id for c in shipped()}
    assert {"os_updates", "app_stores", "cloud_backup", "ads_trackers", "video"} <= ids
    found = Catalog(shipped())
    assert found.classify("r5---sn-abc.googlevideo.com") == ("YouTube", "video")
    assert found.classify("p42-content.icloud-content.com.") == ("iCloud backup", "cloud_backup")
    assert found.classify("7.tlu.dl.delivery.mp.microsoft.com") == ("Windows Update", "os_updates")
    assert found.classify("example.org") is None
    assert found.classify("notyoutube.com") is None


def test_config_categories_add_and_replace() -> None:
    configured = (Category("video", "Films", ("cdn.example.test",)), Category("video", "ignored", ("more.example",)),
                  Category("lab", "Lab", ("dl.example.test",)))
    lists = {c.id: c for c in merged(configured)}
    assert lists["video"].name == "Films" and lists["video"].domains == ["cdn.example.test", "more.example"]
    assert lists["os_updates"] == next(c for c in shipped() if c.id == "os_updates")
    found = catalog(configured)
    assert found.classify("www.cdn.example.test") == ("Films", "video")
    assert found.classify("youtube.com") is None  # replaced, not added to
    assert found.classify("dl.example.test") == ("Lab", "lab")
