"""Real kernel messages, captured in throwaway namespaces: what the fuzz tests start from.

Hostile-input tests mutate what the kernel really sends rather than what we
believe it sends, so each function here builds a namespace, fills a table,
records the raw netlink datagrams and deletes the namespace (also on failure).
"""

from __future__ import annotations

import json
import sys
import textwrap
from typing import Dict, List

from .netns import Namespace, new_prefix

Datagrams = Dict[str, List[bytes]]

# Flows of every kind the meter meets: both families, TCP, UDP, ICMP, marks,
# NAT'd reply tuples, a zone; `conntrack -I` builds them without traffic.
FLOWS = [
    "-s 192.168.8.11 -d 198.18.0.1 -p tcp --state ESTABLISHED --sport 40000 --dport 443 --mark 3",
    "-s 192.168.8.12 -d 198.18.0.10 -r 198.18.0.10 -q 198.18.0.2 -p udp --sport 40001 --dport 53"
    " --reply-port-src 53 --reply-port-dst 61001",
    "-s 192.168.8.13 -d 198.18.0.20 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 7",
    "-s fd00:8::11 -d fd00:198:18::1 -p tcp --state ESTABLISHED --sport 40002 --dport 80",
    "-s fd00:8::12 -d fd00:198:18::10 -p udp --sport 40003 --dport 443 --mark 9 --zone 2",
    "-s fd00:8::13 -d fd00:198:18::20 -p icmpv6 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 9",
]
TRACK_BOTH_FAMILIES = """table inet t {
    chain c {
        type filter hook prerouting priority 0; policy accept;
        ct state new counter
    }
}
"""
CONNTRACK_SYSCTLS = {"net.netfilter.nf_conntrack_acct": 1, "net.netfilter.nf_conntrack_timestamp": 1,
                     "net.netfilter.nf_conntrack_events": 1}
SEND_ONE_DATAGRAM = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', 9))"
# Runs inside the namespace: the raw datagrams of one dump, then of the
# DESTROY events of deleting the table, as hex.
CONNTRACK_CAPTURE = textwrap.dedent("""
    import json, subprocess, select
    from routerguard.read import conntrack, netlink
    sock = netlink.open_socket(netlink.NETLINK_NETFILTER)
    sock.send(netlink.request(conntrack.CT_GET, netlink.NLM_F_REQUEST | netlink.NLM_F_DUMP, 1, conntrack.DUMP_ALL_FAMILIES))
    dump = []
    while not dump or netlink.NLMSG_HEADER.unpack_from(dump[-1], len(dump[-1]) - 20)[1] != netlink.NLMSG_DONE:
        dump.append(netlink.receive(sock))
    events = conntrack.DestroyEvents()
    subprocess.run(["conntrack", "-D"], capture_output=True, check=True)
    destroyed = []
    while select.select([events.fileno()], [], [], 1.0)[0]:
        destroyed.append(netlink.receive(events._sock))
    print(json.dumps({"dump": [d.hex() for d in dump], "destroy": [d.hex() for d in destroyed]}))
""")

# Neighbours of both families in every state the reader meets, on one end of a veth pair.
NEIGHBOURS = [
    "addr add 192.168.8.1/24 dev d0",
    "addr add fd00:8::1/64 dev d0 nodad",
    "neigh add 192.168.8.11 lladdr 02:00:00:00:00:11 dev d0 nud reachable",
    "neigh add 192.168.8.12 lladdr 02:00:00:00:00:12 dev d0 nud stale",
    "neigh add 192.168.8.13 dev d0 nud failed",
    "neigh add fd00:8::11 lladdr 02:00:00:00:00:11 dev d0 nud permanent",
    "neigh add fd00:8::12 lladdr 02:00:00:00:00:13 dev d0 nud noarp",
]
RTNETLINK_CAPTURE = textwrap.dedent("""
    import json, socket
    from routerguard.read import netlink, neighbours as n
    def dump(msg_type, payload):
        sock = netlink.open_socket(n.NETLINK_ROUTE)
        sock.send(netlink.request(msg_type, netlink.NLM_F_REQUEST | netlink.NLM_F_DUMP, 1, payload))
        datagrams = []
        while not datagrams or not n.replies(datagrams[-1], -1, []):
            datagrams.append(netlink.receive(sock))
        return [d.hex() for d in datagrams]
    print(json.dumps({"neighbours": dump(n.RTM_GETNEIGH, n.NDMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)),
                      "addresses": dump(n.RTM_GETADDR, n.IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0))}))
""")


def _capture(ns: Namespace, script: str) -> Datagrams:
    captured = json.loads(ns.exec([sys.executable, "-c", script]).stdout)
    return {kind: [bytes.fromhex(d) for d in data] for kind, data in captured.items()}


def conntrack_datagrams() -> Datagrams:
    """``dump``: a ctnetlink dump of FLOWS plus a real datagram's flow; ``destroy``: their DESTROY events."""
    ns = Namespace.create(f"{new_prefix()}-samples")
    try:
        ns.sysctl(CONNTRACK_SYSCTLS)
        ns.exec(["nft", "-f", "-"], input=TRACK_BOTH_FAMILIES)
        ns.exec(["conntrack", "-R", "/dev/stdin"], input="".join(f"-I {flow} -t 600\n" for flow in FLOWS))
        ns.exec([sys.executable, "-c", SEND_ONE_DATAGRAM])  # a flow with real counters and a timestamp
        return _capture(ns, CONNTRACK_CAPTURE)
    finally:
        ns.delete()


def rtnetlink_datagrams() -> Datagrams:
    """``neighbours``: a RTM_GETNEIGH dump of NEIGHBOURS; ``addresses``: a RTM_GETADDR dump."""
    ns = Namespace.create(f"{new_prefix()}-samples")
    try:
        ns.ip_batch(["link add d0 type veth peer name d1", "link set d0 up", "link set d1 up", *NEIGHBOURS])
        return _capture(ns, RTNETLINK_CAPTURE)
    finally:
        ns.delete()
