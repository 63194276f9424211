"""Which uplink the traffic leaves by, with plain policy routing of routerguard's own (no multi-WAN engine).

Two `ip rule`s and one routing table, never netifd's routes or the main table:

    PRIORITY      lookup main suppress_prefixlength 0   the main table's routes but its defaults:
                                                        the LAN, connected networks, VPNs stay as they are
    PRIORITY + 1  lookup TABLE                          routerguard's table: while an unmetered uplink works,
                                                        a default route via its gateway; otherwise empty, so
                                                        lookups go on to the main table (the metered uplink),
                                                        or, when the main table prefers a free uplink that
                                                        is broken, a default via the metered one; a family the free uplink does not carry (IPv6 at a
                                                        hotel with IPv4 only) is `unreachable` meanwhile, so
                                                        it never leaves by the metered uplink

Rules match every packet routed by the router, the LAN's forwarded traffic
and the router's own alike. Switching is replacing or removing one default
route; the rules stay while the daemon runs and go at its stop (`close`).

Connections that were using the uplink left behind are dropped from
conntrack (`drop_flows`): their packets would now leave by the other uplink
with the old uplink's address (NAT), reach nobody, and hang until a timeout;
deleted, the next packet is a new connection (or a reset) and devices
reconnect at once.
"""

from __future__ import annotations

import logging
import socket
import struct
import subprocess
from typing import Iterable

from routerguard.read.conntrack import CT_DELETE, CTA_TUPLE_ORIG, NFGENMSG, dump_flows
from routerguard.read.netlink import NETLINK_NETFILTER, NLA_HEADER, NLM_F_REQUEST, align, open_socket, request

log = logging.getLogger("routerguard.route")

TABLE = 2770  # routerguard's routing table (netifd uses 1-255 and its own ip4table/ip6table values; mwan3 1-250)
PRIORITY = 2770  # before the main table (32766); after mwan3's rules (1000-2999 are its own: 1001..2254)
NLA_F_NESTED = 0x8000
NLM_F_ACK = 0x4
IP = "ip"
TIMEOUT = 5
FAMILIES = {socket.AF_INET: "-4", socket.AF_INET6: "-6"}


class RouteError(RuntimeError):
    """An `ip` command failed; the message carries its stderr."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([IP, *args], capture_output=True, text=True, timeout=TIMEOUT, check=False)
    if check and proc.returncode != 0:
        raise RouteError(f"ip {' '.join(args)}: {proc.stderr.strip() or f'exit {proc.returncode}'}")
    return proc


def rule_commands(family: int) -> list[list[str]]:
    """The two rules of one family, as `ip` argument lists (without the verb's add/del)."""
    flag = FAMILIES[family]
    return [[flag, "rule", "%s", "priority", str(PRIORITY), "lookup", "main", "suppress_prefixlength", "0"],
            [flag, "rule", "%s", "priority", str(PRIORITY + 1), "lookup", str(TABLE)]]


def route_command(family: int, ifname: str, gateway: str) -> list[str]:
    """The default route of routerguard's table through `ifname` (via `gateway`, or on-link when "")."""
    via = ["via", gateway] if gateway else []
    return [FAMILIES[family], "route", "replace", "default", *via, "dev", ifname, "table", str(TABLE)]


def unreachable_command(family: int) -> list[str]:
    """No default for a family the chosen uplink does not carry (a hotel with IPv4 only): devices are told at
    once (ICMP unreachable) and fall back to the other family (Happy Eyeballs) instead of leaving by the
    metered uplink."""
    return [FAMILIES[family], "route", "replace", "unreachable", "default", "table", str(TABLE)]


class PolicyRouting:
    """routerguard's rules and table in this network namespace; `use` says where default traffic goes."""

    def __init__(self) -> None:
        self._installed = False
        self.current: tuple[str, dict[int, str]] | None = None  # (ifname, family -> gateway) in the table now

    def _rules(self, verb: str) -> None:
        for family in FAMILIES:
            for command in rule_commands(family):
                args = [verb if part == "%s" else part for part in command]
                if verb == "add":
                    _ip(*args)
                else:
                    while _ip(*args, check=False).returncode == 0:  # every copy (a crash left some behind)
                        pass

    def start(self) -> None:
        """Rules in place (a leftover of a crashed run replaced), table empty: traffic as the main table says."""
        self._rules("del")
        self.clear()
        self._rules("add")
        self._installed = True

    def use(self, ifname: str | None, gateways: dict[int, str], others_unreachable: bool = True) -> None:
        """Default traffic by `ifname` via `gateways` (family -> gateway, "" on-link); None: by the main table.

        A family without a gateway is unreachable meanwhile (`others_unreachable`: a free uplink that lacks
        it must not leave it to the metered one), or goes by the main table.
        """
        wanted = (ifname, dict(gateways)) if ifname else None
        if wanted == self.current:
            return
        if not self._installed:
            self.start()
        if ifname is None:
            self.clear()
        else:
            for family in FAMILIES:
                if family in gateways:
                    _ip(*route_command(family, ifname, gateways[family]))
                elif others_unreachable:  # the free uplink lacks this family: refused, never by the metered one
                    _ip(*unreachable_command(family))
                else:
                    _ip(FAMILIES[family], "route", "flush", "table", str(TABLE), check=False)
        self.current = wanted

    def clear(self) -> None:
        for flag in FAMILIES.values():
            _ip(flag, "route", "flush", "table", str(TABLE), check=False)
        self.current = None

    def close(self) -> None:
        """Everything of ours gone: the main table decides again."""
        self.clear()
        self._rules("del")
        self._installed = False


def drop_flows(addresses: Iterable[str]) -> int:
    """Delete every conntrack flow whose replies come back to one of `addresses` (flows NATed to an uplink's
    address, and the router's own from it); returns how many were deleted."""
    wanted = {socket.inet_pton(socket.AF_INET6 if ":" in a else socket.AF_INET, a) for a in addresses if a}
    if not wanted:
        return 0
    doomed = [(flow.family, flow.orig_tuple) for flow in dump_flows() if flow.reply_dst in wanted]
    deleted = 0
    with open_socket(NETLINK_NETFILTER) as sock:
        sock.settimeout(TIMEOUT)
        for seq, (family, tuple_payload) in enumerate(doomed, 1):
            attr = NLA_HEADER.pack(NLA_HEADER.size + len(tuple_payload), CTA_TUPLE_ORIG | NLA_F_NESTED) + tuple_payload
            attr += b"\0" * (align(len(attr)) - len(attr))
            sock.send(request(CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, seq, NFGENMSG.pack(family, 0, 0) + attr))
            try:
                answer = sock.recv(4096)
            except OSError:
                continue
            if len(answer) >= 20 and struct.unpack_from("=i", answer, 16)[0] == 0:
                deleted += 1  # an ack with error 0 (ENOENT: the flow ended meanwhile)
    return deleted
