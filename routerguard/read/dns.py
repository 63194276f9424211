"""DNS answers on the wire (RFC 1035): which addresses a looked-up name resolved to.

Only what the leak guard needs is decoded: the question's name and the A and
AAAA records of the answer section. CNAME chains need no following: every
address of the answer belongs to the name the device asked for, which is the
name a person recognises ("www.netflix.com", not a CDN's host).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

HEADER = struct.Struct("!HHHHHH")  # id, flags, qdcount, ancount, nscount, arcount
RECORD = struct.Struct("!HHIH")  # type, class, ttl, rdlength
QR_RESPONSE = 0x8000
RCODE_MASK = 0x000F
TYPE_A, TYPE_AAAA = 1, 28
ADDRESS_LENGTHS = {TYPE_A: 4, TYPE_AAAA: 16}
CLASS_IN = 1
POINTER = 0xC0
MAX_POINTERS = 32  # a loop of compression pointers is a malformed message, not a hang


class Answer(NamedTuple):
    name: str  # the question, lowercase, without the trailing dot
    addresses: tuple[bytes, ...]  # packed IPv4/IPv6 addresses, as conntrack gives them


class Malformed(ValueError):
    """Not a DNS message we can read (truncated, looping pointers)."""


def _name(message: bytes, offset: int) -> tuple[str, int]:
    """The (possibly compressed) name at `offset`, and the offset just after it."""
    labels: list[str] = []
    end = None
    for _ in range(MAX_POINTERS):
        if offset >= len(message):
            raise Malformed("name runs past the end")
        length = message[offset]
        if length & POINTER == POINTER:
            if offset + 1 >= len(message):
                raise Malformed("pointer runs past the end")
            end = offset + 2 if end is None else end
            offset = (length & ~POINTER) << 8 | message[offset + 1]
            continue
        if length == 0:
            return ".".join(labels).lower(), offset + 1 if end is None else end
        labels.append(message[offset + 1:offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    raise Malformed("too many compression pointers")


def parse_answer(message: bytes) -> Answer | None:
    """The question and its addresses from a successful response; None for anything else."""
    if len(message) < HEADER.size:
        return None
    _, flags, qdcount, ancount, _, _ = HEADER.unpack_from(message)
    if not flags & QR_RESPONSE or flags & RCODE_MASK or qdcount != 1:
        return None
    try:
        name, offset = _name(message, HEADER.size)
        offset += 4  # qtype, qclass
        addresses = []
        for _ in range(ancount):
            _, offset = _name(message, offset)
            if offset + RECORD.size > len(message):
                raise Malformed("record runs past the end")
            rtype, rclass, _, length = RECORD.unpack_from(message, offset)
            offset += RECORD.size
            if offset + length > len(message):
                raise Malformed("record data runs past the end")
            if rclass == CLASS_IN and ADDRESS_LENGTHS.get(rtype) == length:
                addresses.append(bytes(message[offset:offset + length]))
            offset += length
    except Malformed:
        return None
    return Answer(name, tuple(addresses)) if addresses else None
