"""DHCP acknowledgements on the wire (RFC 2131): which device was told the network is metered.

The router's dnsmasq sends every DHCPACK with option 43 "ANDROID_METERED"
while routerguard's snippet asks it to; reading the ACK as it leaves is
proof that this device was told, not a guess from lease times.
"""

from __future__ import annotations

from typing import NamedTuple

BOOTREPLY = 2
CHADDR_OFFSET = 28
HLEN_OFFSET = 2
ETHERNET_HLEN = 6
OPTIONS_OFFSET = 240  # after the fixed fields and the magic cookie
MAGIC_COOKIE = b"\x63\x82\x53\x63"
OPTION_PAD, OPTION_END = 0, 255
OPTION_VENDOR = 43
OPTION_MESSAGE_TYPE = 53
DHCPACK = 5
METERED_HINT = b"ANDROID_METERED"  # what Android, NetworkManager and ChromeOS look for in option 43


class Ack(NamedTuple):
    mac: str
    metered: bool  # option 43 carried the metered hint


def _options(message: bytes) -> dict[int, bytes]:
    options: dict[int, bytes] = {}
    offset = OPTIONS_OFFSET
    while offset < len(message):
        code = message[offset]
        if code == OPTION_END:
            break
        if code == OPTION_PAD:
            offset += 1
            continue
        if offset + 1 >= len(message):
            break
        length = message[offset + 1]
        options[code] = options.get(code, b"") + message[offset + 2:offset + 2 + length]  # RFC 3396: split options concatenate
        offset += 2 + length
    return options


def parse_ack(message: bytes) -> Ack | None:
    """The client's MAC and whether it was told "metered", for a DHCPACK; None for anything else."""
    if len(message) < OPTIONS_OFFSET or message[0] != BOOTREPLY or message[HLEN_OFFSET] != ETHERNET_HLEN:
        return None
    if message[OPTIONS_OFFSET - 4:OPTIONS_OFFSET] != MAGIC_COOKIE:
        return None
    options = _options(message)
    if options.get(OPTION_MESSAGE_TYPE) != bytes([DHCPACK]):
        return None
    mac = ":".join(f"{b:02x}" for b in message[CHADDR_OFFSET:CHADDR_OFFSET + ETHERNET_HLEN])
    return Ack(mac, METERED_HINT in options.get(OPTION_VENDOR, b""))
