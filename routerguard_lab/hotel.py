"""A hotel network beside the lab's LTE uplink: a second, unmetered uplink with its own NAT to the same internet host.

    [router] wan0 (LTE, metered) ──────────────── eth0 [internet]
    [router] hotel0 ── guest [hotel] up0 ──NAT──── eth2 [internet]   198.18.100.1 on its lo: the far host

The router's main table has two default routes, the LTE one preferred by
metric (10 against 20), like netifd with two wan interfaces. The internet
host gets an address that neither uplink is connected to (FAR_HOST), so
which uplink a request takes is the routing's choice, and it answers
``/whoami`` with the address the request came from: HOTEL_NAT by the hotel,
the router's wan0 address by LTE.

``captive(True)`` turns the hotel into a captive portal: its port 80 is
answered by a tiny server with a 302 to a login page, and nothing is
forwarded; ``captive(False)`` gives the internet back.
"""

from __future__ import annotations

import sys

from . import plan
from .hosts import Host
from .topology import Lab
from .wait import wait_until

HOTEL_IF = "hotel0"  # the router's side
ROUTER_HOTEL4, HOTEL_GATEWAY4 = "192.168.77.2", "192.168.77.1"
HOTEL_NAT, INTERNET_HOTEL_SIDE = "198.18.7.2", "198.18.7.1"
FAR_HOST, FAR_HOST6 = "198.18.100.1", "fd00:198:100::1"  # the hotel has no IPv6: only LTE reaches FAR_HOST6
PORTAL_PORT = 8081
LTE_METRIC, HOTEL_METRIC = 10, 20
OFFLOADS = ["tso", "off", "gso", "off", "gro", "off"]
PORTAL = f"""
import http.server, sys
class Portal(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(302)
        self.send_header("Location", "http://{HOTEL_GATEWAY4}:{PORTAL_PORT}/login")
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("0.0.0.0", {PORTAL_PORT}), Portal)
print("ready", flush=True)
server.serve_forever()
"""
CAPTIVE_TABLE = f"""table inet portal {{
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        iifname "guest" tcp dport 80 dnat ip to {HOTEL_GATEWAY4}:{PORTAL_PORT}
    }}
    chain forward {{
        type filter hook forward priority filter; policy accept;
        iifname "guest" drop
    }}
}}
"""
DEAD_TABLE = """table inet dead {
    chain forward {
        type filter hook forward priority filter; policy drop;
    }
}
"""


class Hotel(Host):
    """The hotel's namespace: its guest network towards the router, NAT out to the internet host."""

    def __init__(self, lab: Lab) -> None:
        super().__init__(lab._namespace("h"))
        lab._hosts.append(self)
        self.lab = lab
        self.portal = None

    def build(self) -> "Hotel":
        router, internet = self.lab.router, self.lab.internet
        self.ns.sysctl({"net.ipv4.ip_forward": 1})
        router.ns.ip_batch([f"link add {HOTEL_IF} type veth peer name guest netns {self.ns.name}",
                            f"addr add {ROUTER_HOTEL4}/24 dev {HOTEL_IF}", f"link set {HOTEL_IF} up",
                            f"route replace default via {plan.INTERNET4} dev {plan.WAN_IF} metric {LTE_METRIC}",
                            f"route del default via {plan.INTERNET4} dev {plan.WAN_IF} metric 0",
                            f"route add default via {HOTEL_GATEWAY4} dev {HOTEL_IF} metric {HOTEL_METRIC}"])
        self.ns.ip_batch([f"link add up0 type veth peer name eth2 netns {internet.ns.name}",
                          f"addr add {HOTEL_GATEWAY4}/24 dev guest", "link set guest up",
                          f"addr add {HOTEL_NAT}/24 dev up0", "link set up0 up",
                          f"route add default via {INTERNET_HOTEL_SIDE}"])
        internet.ns.ip_batch([f"addr add {INTERNET_HOTEL_SIDE}/24 dev eth2", "link set eth2 up",
                              f"addr add {FAR_HOST}/32 dev lo", f"addr add {FAR_HOST6}/128 dev lo"])
        self.exec(["nft", "-f", "-"], input="""table ip hotelnat {
    chain srcnat {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "up0" masquerade
    }
}
""")
        # the router masquerades on its hotel uplink too, as fw4 does for every wan-zone interface
        router.exec(["nft", "add rule inet labfw srcnat meta nfproto ipv4 oifname " + HOTEL_IF + " masquerade"])
        router.exec(["ethtool", "-K", HOTEL_IF, *OFFLOADS])
        self.exec(["sh", "-c", f"ethtool -K guest {' '.join(OFFLOADS)} && ethtool -K up0 {' '.join(OFFLOADS)}"])
        internet.exec(["ethtool", "-K", "eth2", *OFFLOADS])
        wait_until(lambda: "state UP" in router.ns.ip("link", "show", HOTEL_IF).stdout
                   and "state UP" in self.ns.ip("link", "show", "up0").stdout, 10, "the hotel's links")
        return self

    def captive(self, on: bool) -> None:
        """A captive portal (port 80 answered with a 302, nothing forwarded), or the internet back."""
        if on:
            if self.portal is None:
                import subprocess

                self.portal = self.popen([sys.executable, "-c", PORTAL], stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL)
                assert self.portal.stdout is not None
                if self.portal.stdout.readline().strip() != b"ready":
                    raise RuntimeError("the hotel's portal did not start")
            self.exec(["nft", "-f", "-"], input=CAPTIVE_TABLE)
        else:
            self.exec(["nft", "delete", "table", "inet", "portal"])

    def dead(self, on: bool) -> None:
        """The hotel's upstream gone dark: the link stays up, nothing is forwarded or answered."""
        if on:
            self.exec(["nft", "-f", "-"], input=DEAD_TABLE)
        else:
            self.exec(["nft", "delete", "table", "inet", "dead"])
