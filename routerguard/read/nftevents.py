"""nftables' own change events: which transactions took something out of one table and put nothing back.

The kernel tells every member of the NFNLGRP_NFTABLES multicast group (a
NETLINK_NETFILTER socket, CAP_NET_ADMIN) about each object a transaction
added or deleted, then sends NFT_MSG_NEWGEN once the transaction is
committed. A firewall that wipes our table (`nft flush ruleset`, OpenWrt's
`fw4 flush` run by `/etc/init.d/firewall stop`, `nft delete table`, `nft
flush table`) shows up as a transaction with deletions from the table and
no additions to it: a change of our own always adds (an update flushes and
re-adds the rules, a fresh table deletes the old one and adds the new in
the same transaction). Set elements are left out: dnsmasq adds them and
timeouts remove them, the table's structure stays.

Every add/delete message names its table in attribute 1 (NFTA_TABLE_NAME,
NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE, NFTA_OBJ_TABLE,
NFTA_FLOWTABLE_TABLE all are 1) and its family in the nfgenmsg header.
"""

from __future__ import annotations

import errno
import socket
from typing import Optional

from routerguard.read.netlink import NETLINK_ADD_MEMBERSHIP, NETLINK_NETFILTER, SO_RCVBUFFORCE, SOL_NETLINK, attributes, \
    messages, open_socket, receive
from routerguard.read.nftcounters import FAMILIES, NFGENMSG, NFNL_SUBSYS_NFTABLES, NLMSG_HEADER_SIZE

NFNLGRP_NFTABLES = 7
NFT_MSG_NEWGEN = 15
ADDS = frozenset({0, 3, 6, 9, 18, 22})  # NEWTABLE, NEWCHAIN, NEWRULE, NEWSET, NEWOBJ, NEWFLOWTABLE
DELETES = frozenset({2, 5, 8, 11, 20, 24})  # DELTABLE, DELCHAIN, DELRULE, DELSET, DELOBJ, DELFLOWTABLE
TABLE_ATTR = 1
# Our own update of a big table (250 devices: thousands of rules out and in) is one burst of events; a
# buffer that holds it keeps the socket from overflowing on our own work (an overflow is still handled).
EVENT_BUFFER = 4 * 1024 * 1024


def open_events() -> socket.socket:
    """A socket that receives every nftables change in the caller's network namespace."""
    sock = open_socket(NETLINK_NETFILTER)
    try:
        sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NFNLGRP_NFTABLES)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, EVENT_BUFFER)
        except OSError:  # without CAP_NET_ADMIN: the default buffer, overflows are handled
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, EVENT_BUFFER)
    except OSError:
        sock.close()
        raise
    return sock


class TableWatch:
    """Follows the transactions that touch one table, across datagrams; `feed` says when one emptied it."""

    def __init__(self, family: str, table: str) -> None:
        self.family = FAMILIES[family]
        self.table = table.encode()
        self._deleted = self._added = False

    def reset(self) -> None:
        """Forget the transaction under way (its events were lost)."""
        self._deleted = self._added = False

    def feed(self, data: bytes) -> bool:
        """Take one datagram of events; True when a transaction in it deleted from the table and added nothing."""
        emptied = False
        for kind, offset, length in messages(data):
            if kind >> 8 != NFNL_SUBSYS_NFTABLES:
                continue
            message = kind & 0xFF
            if message == NFT_MSG_NEWGEN:
                emptied |= self._deleted and not self._added
                self._deleted = self._added = False
            elif message in ADDS or message in DELETES:
                if self._names_ours(data, offset, length):
                    if message in ADDS:
                        self._added = True
                    else:
                        self._deleted = True
        return emptied

    def _names_ours(self, data: bytes, offset: int, length: int) -> bool:
        header = offset + NLMSG_HEADER_SIZE
        if length < NLMSG_HEADER_SIZE + NFGENMSG.size or data[header] != self.family:
            return False
        for attr, start, end in attributes(data, header + NFGENMSG.size, offset + length):
            if attr == TABLE_ATTR:
                return data[start:end].split(b"\0", 1)[0] == self.table
        return False


def next_events(sock: socket.socket, watch: TableWatch) -> Optional[bool]:
    """One datagram fed to `watch`: True when the table was emptied, None when events were lost (the socket
    overflowed: the caller must look at the table itself), False otherwise. socket.timeout passes through."""
    try:
        data = receive(sock)
    except OSError as e:
        if e.errno == errno.ENOBUFS:
            watch.reset()
            return None
        raise
    return watch.feed(data)
