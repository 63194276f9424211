"""Named nftables counters of one table, read over netlink in a millisecond.

A commit saves our table's counters together with the usage of the reading
just before it (enforce/recovery.py), and a crash can lose only what crosses
between the two: `nft -j list counters` spends tens of milliseconds starting
a process, this one request and one dump.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

from routerguard.read.netlink import (
    NETLINK_NETFILTER,
    NLM_F_DUMP,
    NLM_F_REQUEST,
    NLMSG_DONE,
    attributes,
    messages,
    open_socket,
    receive,
    request,
)

NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_GETTABLE, NFT_MSG_NEWTABLE = 1, 0
NFT_MSG_GETOBJ, NFT_MSG_NEWOBJ = 19, 18
NFTA_TABLE_NAME, NFTA_TABLE_HANDLE = 1, 4
NFTA_OBJ_TABLE, NFTA_OBJ_NAME, NFTA_OBJ_TYPE, NFTA_OBJ_DATA = 1, 2, 3, 4
NFT_OBJECT_COUNTER, NFT_OBJECT_QUOTA = 1, 2
NFTA_COUNTER_BYTES = 1
NFTA_QUOTA_CONSUMED = 4
FAMILIES = {"ip": 2, "ip6": 10, "inet": 1, "arp": 3, "bridge": 7, "netdev": 5}

NFGENMSG = struct.Struct("=BBH")  # family, version, resource id (network order, unused here)
NFGENMSG_VERSION = 0
BE32 = struct.Struct(">I")
BE64 = struct.Struct(">Q")
NLMSG_HEADER_SIZE = 16


@dataclass(frozen=True)
class Counts:
    """The bytes each named counter of our table has counted, and which table that is.

    `table` is the boot's id and the table's handle, which the kernel never
    gives twice in a boot: a table made afresh (a reboot, a replaced table)
    counts from zero, so counts of different tables cannot be compared.
    """

    table: str
    bytes: dict[str, int] = field(default_factory=dict)


def read(family: str, table: str) -> Optional[Tuple[int, Dict[str, int]]]:
    """(the table's handle, bytes per named counter), or None when there is no such table.

    Raises OSError for any other kernel refusal, ValueError for a reply that does not parse.
    """
    return _read(family, table, NFT_OBJECT_COUNTER, NFTA_COUNTER_BYTES)


def read_quotas(family: str, table: str) -> Optional[Tuple[int, Dict[str, int]]]:
    """(the table's handle, bytes each named quota has consumed), or None when there is no such table."""
    return _read(family, table, NFT_OBJECT_QUOTA, NFTA_QUOTA_CONSUMED)


def _read(family: str, table: str, object_type: int, bytes_attr: int) -> Optional[Tuple[int, Dict[str, int]]]:
    fam = FAMILIES[family]
    name = _string(NFTA_TABLE_NAME, table)
    with open_socket(NETLINK_NETFILTER) as sock:
        sock.send(request(_type(NFT_MSG_GETTABLE), NLM_F_REQUEST, 1, NFGENMSG.pack(fam, NFGENMSG_VERSION, 0) + name))
        try:
            handle = _table_handle(receive(sock))
        except FileNotFoundError:
            return None
        filters = _string(NFTA_OBJ_TABLE, table) + _attr(NFTA_OBJ_TYPE, BE32.pack(object_type))
        sock.send(request(_type(NFT_MSG_GETOBJ), NLM_F_REQUEST | NLM_F_DUMP, 2,
                          NFGENMSG.pack(fam, NFGENMSG_VERSION, 0) + filters))
        counters: Dict[str, int] = {}
        while not _counters(receive(sock), counters, bytes_attr):
            pass
    return handle, counters


def _table_handle(data: bytes) -> int:
    for kind, offset, length in messages(data):  # an error reply raises here (ENOENT: no table)
        if kind == _type(NFT_MSG_NEWTABLE):
            for attr, start, end in attributes(data, offset + NLMSG_HEADER_SIZE + NFGENMSG.size, offset + length):
                if attr == NFTA_TABLE_HANDLE and end - start == BE64.size:
                    return BE64.unpack_from(data, start)[0]
    raise ValueError("the kernel's answer about the table has no handle")


def _counters(data: bytes, into: Dict[str, int], bytes_attr: int = NFTA_COUNTER_BYTES) -> bool:
    """Add one datagram's objects (counters, or quotas) to `into`; True once the dump is done."""
    for kind, offset, length in messages(data):
        if kind == NLMSG_DONE:
            return True
        if kind != _type(NFT_MSG_NEWOBJ):
            continue
        name, nbytes = None, 0
        for attr, start, end in attributes(data, offset + NLMSG_HEADER_SIZE + NFGENMSG.size, offset + length):
            if attr == NFTA_OBJ_NAME:
                name = data[start:end].split(b"\0", 1)[0].decode("utf-8", "replace")
            elif attr == NFTA_OBJ_DATA:
                for inner, istart, iend in attributes(data, start, end):
                    if inner == bytes_attr and iend - istart == BE64.size:
                        nbytes = BE64.unpack_from(data, istart)[0]
        if name is not None:
            into[name] = nbytes
    return False


def _type(message: int) -> int:
    return NFNL_SUBSYS_NFTABLES << 8 | message


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def _string(kind: int, text: str) -> bytes:
    return _attr(kind, text.encode() + b"\0")
