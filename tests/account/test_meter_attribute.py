"""Who pays for a flow, and which way its bytes go: pure, from a flow's key (meter.attribute)."""

import socket

from routerguard.account.ledger import ROUTER
from routerguard.account.meter import UNKNOWN, Charge, attribute
from routerguard.attribute.marks import FREE_ID, mark_of


def packed(ip):
    return socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)


PHONE, LAPTOP = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
LAN = {packed("192.168.8.23"): PHONE, packed("fd00:8::23"): PHONE, packed("192.168.8.24"): LAPTOP}
LOCAL = {packed("192.168.8.1"), packed("198.18.0.2"), packed("fd00:8::1")}
SERVER, SERVER6, PEER = packed("198.18.0.10"), packed("fd00:198:18::10"), packed("203.0.113.7")
MARKS = {mark_of(1): PHONE}


def who(opener, responder, mark=0):
    return attribute((packed(opener) if isinstance(opener, str) else opener,
                      packed(responder) if isinstance(responder, str) else responder, mark),
                     LOCAL, LAN.get, MARKS.get)


def test_a_flow_the_device_opens_charges_its_original_direction_as_its_upload():
    charge = who("192.168.8.23", SERVER)
    assert charge == Charge(PHONE, packed("192.168.8.23"), SERVER, inbound=False)
    assert charge.oriented(100, 5000) == (100, 5000)


def test_a_flow_the_internet_opens_to_a_device_charges_its_original_direction_as_its_download():
    charge = who(SERVER6, "fd00:8::23")  # an IPv6 connection to the device (P2P), no NAT
    assert charge == Charge(PHONE, packed("fd00:8::23"), SERVER6, inbound=True)
    assert charge.oriented(100, 5000) == (5000, 100)


def test_a_port_forward_is_charged_to_the_device_it_reaches_not_taken_for_the_routers_own():
    # original tuple: PEER -> the router's WAN address; the reply comes from the device (DNAT)
    assert who(PEER, "192.168.8.24") == Charge(LAPTOP, packed("192.168.8.24"), PEER, inbound=True)
    assert who(PEER, "192.168.8.24", mark_of(1)).payer == PHONE  # the kernel's mark says who, by MAC


def test_a_marked_flow_is_its_marks_device_whatever_its_address():
    assert who("fd00:8::99", SERVER6, mark_of(1)) == Charge(PHONE, packed("fd00:8::99"), SERVER6, inbound=False)


def test_an_address_not_known_yet_waits():
    assert who("192.168.8.77", SERVER).payer is UNKNOWN


def test_the_routers_own_traffic_is_its_line():
    assert who("198.18.0.2", SERVER) == Charge(ROUTER, packed("198.18.0.2"), SERVER, inbound=False)


def test_traffic_crossing_no_metered_uplink_is_nobodys():
    assert who("192.168.8.23", "192.168.8.1") is None  # DNS, the page
    assert who("192.168.8.23", "192.168.8.1", mark_of(1)) is None  # the redirect of a blocked device's web request
    assert who(PEER, "198.18.0.2") is None  # to the router itself from the internet
    assert who("192.168.8.1", "192.168.8.23") is None  # the router to a device
    assert who("192.168.8.24", "192.168.8.23") is None  # inside the LAN (hairpin port forward)
    assert who("192.168.8.23", SERVER, mark_of(FREE_ID)) is None  # an unmetered uplink
