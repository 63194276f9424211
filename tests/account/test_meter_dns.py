"""The DNS a device asks the router's resolver for is charged to it and moved off the router's line: pure."""

import socket

from routerguard.account.ledger import ROUTER
from routerguard.account.meter import Charge, attribute, move_relayed
from routerguard.attribute.marks import mark_of

PHONE, LAPTOP = "02:00:00:00:00:0a", "02:00:00:00:00:0b"


def packed(ip):
    return socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)


LAN = {packed("192.168.8.23"): PHONE, packed("192.168.8.24"): LAPTOP}
LOCAL = {packed("192.168.8.1"), packed("198.18.0.2")}


def who(opener, responder, mark=0, dns=True):
    return attribute((packed(opener), packed(responder), mark, dns), LOCAL, LAN.get, {mark_of(2): LAPTOP}.get)


def test_dns_to_the_router_is_the_asking_devices_relayed_traffic():
    assert who("192.168.8.23", "192.168.8.1") == Charge(PHONE, packed("192.168.8.23"), packed("192.168.8.1"), False,
                                                         relayed=True)
    assert who("192.168.8.23", "192.168.8.1", mark_of(2)).payer == LAPTOP  # the kernel's mark says who, by MAC


def test_anything_else_to_the_router_is_nobodys():
    assert who("192.168.8.23", "192.168.8.1", dns=False) is None
    assert who("192.168.8.77", "192.168.8.1") is None  # no device known for it: not charged


def test_relayed_bytes_move_off_the_routers_line_as_far_as_it_moved_any():
    charged = {ROUTER: [1000, 9000], PHONE: [5, 5]}
    moved = move_relayed(charged, {PHONE: [300, 4000], LAPTOP: [900, 2000]})
    assert moved == {PHONE: (300, 4000), LAPTOP: (700, 2000)}  # the laptop came second: the router had 700 up left
    assert charged == {ROUTER: [0, 3000], PHONE: [305, 4005], LAPTOP: [700, 2000]}
    assert sum(sum(v) for v in charged.values()) == 1000 + 9000 + 10  # the plan's total does not change


def test_answers_from_the_cache_are_charged_to_no_one():
    charged = {PHONE: [5, 5]}
    assert move_relayed(charged, {PHONE: [300, 4000]}) == {}
    assert charged == {PHONE: [5, 5]}
