"""Ending a newly blocked device's connections, for when flow offloading carries them past our rules.

An offloaded connection's packets skip every netfilter rule: the flowtable
forwards them itself for as long as its entry lives. Deleting the device's
conntrack entries (one netlink request, by the device id in their mark)
makes the flowtable drop those entries at its next cleanup, about a second
later; the packets that follow take the slow path again and meet the cut.
"""

from __future__ import annotations

import socket
import struct
from contextlib import closing

from routerguard.attribute.marks import MARK_MASK, mark_of
from routerguard.read.conntrack import CT_DELETE, CTA_MARK, NFGENMSG
from routerguard.read.netlink import (NETLINK_NETFILTER, NLA_HEADER, NLM_F_REQUEST, NLMSG_HEADER, check_status,
                                      open_socket, receive, request)

NLM_F_ACK = 0x4
CTA_MARK_MASK = 21
ACK_TIMEOUT = 5.0
BE32 = struct.Struct(">I")


def _attribute(kind: int, value: int) -> bytes:
    return NLA_HEADER.pack(NLA_HEADER.size + BE32.size, kind) + BE32.pack(value)


def end_connections(device_id: int) -> None:
    """Delete every conntrack entry (both families) whose mark carries `device_id`; OSError if the kernel refuses."""
    payload = (NFGENMSG.pack(socket.AF_UNSPEC, 0, 0)
               + _attribute(CTA_MARK, mark_of(device_id)) + _attribute(CTA_MARK_MASK, MARK_MASK))
    with closing(open_socket(NETLINK_NETFILTER)) as sock:
        sock.settimeout(ACK_TIMEOUT)
        sock.send(request(CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, 1, payload))
        answer = receive(sock)
        check_status(answer, 0, NLMSG_HEADER.unpack_from(answer)[0])
