"""Builds the lab in namespaces and tears it down, whatever happened in between.

    client1 ─┐                                   ┌ dnsmasq (DHCP, DNS)
    client2 ─┼─ br-lan [router] wan0 ── eth0 [internet] ── httpd :80, DNS
    ...     ─┘   NAT (v4), routed (v6): the lab's own table, or fw4's real ruleset (fw4/)

    with Lab(clients=2) as lab:
        lab.clients[0].download(10_000_000)
        lab.clients[0].truth()          # (up_bytes, down_bytes)

Everything is made from the host with ``ip -n`` (no interface ever exists
in the root namespace) and every veth has its offloads off, so a byte
counted by a client is a byte counted by the router's conntrack.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from types import TracebackType

from . import dnsmasq_servers, plan, udhcpc
from .hosts import Client, Host, Internet, Router, truth_ruleset
from .netns import Namespace, kill_all, new_prefix, sweep_stale
from .wait import LabTimeout, wait_until

BUILD_TIMEOUT = 10.0
OFFLOADS = ["tso", "off", "gso", "off", "gro", "off"]
NO_DAD = {"net.ipv6.conf.all.accept_dad": 0, "net.ipv6.conf.default.accept_dad": 0}
ROUTER_SYSCTLS = {
    **NO_DAD,
    "net.ipv4.ip_forward": 1,
    "net.ipv6.conf.all.forwarding": 1,
    "net.netfilter.nf_conntrack_acct": 1,
    "net.netfilter.nf_conntrack_events": 1,
}
# Like OpenWrt's fw4: an inet table whose `ct state` rule makes conntrack
# track both families (a lone ip NAT table would leave IPv6 untracked).
ROUTER_RULESET = f"""table inet labfw {{
    chain forward {{
        type filter hook forward priority filter; policy accept;
        ct state established,related accept
    }}
    chain srcnat {{
        type nat hook postrouting priority srcnat; policy accept;
        meta nfproto ipv4 oifname "{plan.WAN_IF}" masquerade
    }}
}}
"""
FIREWALLS = ("lab", "fw4", "fw4-offload")  # the lab's own table above, or OpenWrt fw4's real ruleset (fw4/README.md)
FW4_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fw4")
FW4_FILES = {"fw4": "travel-offload-off.nft", "fw4-offload": "travel-offload-on.no-flowtable.nft"}


def fw4_ruleset(firewall: str = "fw4") -> str:
    """fw4's own output for a travel router (generated, see fw4/README.md): `nft -f` it to load or reload fw4."""
    with open(os.path.join(FW4_DIR, FW4_FILES[firewall])) as f:
        return f.read()


class Lab:
    """A router with ``clients`` LAN clients and an internet host; use as a context manager."""

    def __init__(self, clients: int = 2, firewall: str = "lab") -> None:
        if not 1 <= clients <= plan.MAX_CLIENTS:
            raise ValueError(f"lab: clients must be 1..{plan.MAX_CLIENTS}, not {clients}")
        if firewall not in FIREWALLS:
            raise ValueError(f"lab: firewall must be one of {', '.join(FIREWALLS)}, not {firewall!r}")
        self.client_count = clients
        self.firewall = firewall
        self.prefix = ""
        self.dir = ""
        self.router: Router
        self.internet: Internet
        self.clients: list[Client] = []
        self._namespaces: list[Namespace] = []
        self._hosts: list[Host] = []

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def namespaces(self) -> list[str]:
        return [ns.name for ns in self._namespaces]

    def start(self) -> Lab:
        """Build everything; on any failure tear down what exists and re-raise."""
        sweep_stale()
        self.prefix = new_prefix()
        self.dir = tempfile.mkdtemp(prefix=f"{self.prefix}-")
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop every process in the lab's namespaces, then delete them and the temp dir."""
        for host in self._hosts:
            host.signal_processes(signal.SIGTERM)
        kill_all(self._namespaces)
        for host in self._hosts:
            host.reap()
        try:
            for ns in self._namespaces:
                ns.delete()
        finally:
            self._namespaces.clear()
            self._hosts.clear()
            if self.dir:
                shutil.rmtree(self.dir, ignore_errors=True)

    def _namespace(self, role: str) -> Namespace:
        ns = Namespace.create(f"{self.prefix}-{role}")
        self._namespaces.append(ns)
        return ns

    def _build(self) -> None:
        internet_ns = self._namespace("i")
        self.internet = Internet(internet_ns)
        self._hosts.append(self.internet)
        httpd = self._start_httpd()  # its interpreter starts while the rest is built
        router_ns = self._namespace("r")
        self.router = Router(router_ns, dnsmasq_servers.RouterDnsmasq(self.dir))
        self._hosts.append(self.router)
        for k in range(1, self.client_count + 1):
            client = Client(self._namespace(f"c{k}"), k, self.internet, self.dir)
            self.clients.append(client)
            self._hosts.append(client)

        router_ns.sysctl(ROUTER_SYSCTLS)
        for host in (self.internet, *self.clients):
            host.ns.sysctl(NO_DAD)
        self._wire()
        self._firewalls()
        self._offloads_off()
        wait_until(self._links_ready, BUILD_TIMEOUT, "the lab's links to come up")

        dnsmasq_servers.start_upstream(internet_ns, self.dir)
        self.router.dnsmasq.write(router_ns, {c.mac: plan.client_ip4(c.index) for c in self.clients})
        self.router.dnsmasq.start(router_ns)
        router_ns.set_resolver("127.0.0.1")
        script = udhcpc.write_script(self.dir)
        for client in self.clients:
            client.ns.set_resolver(plan.ROUTER_LAN4)
            client.start_dhcp(script)
        for client in self.clients:
            client.wait_dhcp(BUILD_TIMEOUT)
        wait_until(self._leased, BUILD_TIMEOUT, "dnsmasq to write its leases")
        _wait_ready_line(httpd, BUILD_TIMEOUT)

    def _wire(self) -> None:
        r = [f"link add {plan.LAN_IF} type bridge stp_state 0 forward_delay 0 mcast_snooping 0",
             f"link add {plan.WAN_IF} gso_max_segs 1 type veth peer name {plan.INTERNET_IF}"
             f" netns {self.internet.ns.name} gso_max_segs 1"]
        for c in self.clients:
            port = f"lan{c.index}"
            r += [f"link add {port} gso_max_segs 1 type veth peer name {c.ifname}"
                  f" netns {c.ns.name} address {c.mac} gso_max_segs 1",
                  f"link set {port} master {plan.LAN_IF} up"]
        r += [f"link set {plan.LAN_IF} up",
              f"link set {plan.WAN_IF} up",
              f"addr add {plan.ROUTER_LAN4}/{plan.LAN4_PREFIXLEN} dev {plan.LAN_IF}",
              f"addr add {plan.ROUTER_LAN6}/64 dev {plan.LAN_IF} nodad",
              f"addr add {plan.ROUTER_WAN4}/{plan.WAN4_PREFIXLEN} dev {plan.WAN_IF}",
              f"addr add {plan.ROUTER_WAN6}/{plan.WAN6_PREFIXLEN} dev {plan.WAN_IF} nodad",
              f"route add 0.0.0.0/0 via {plan.INTERNET4}",
              f"route add ::/0 via {plan.INTERNET6}"]
        self.router.ns.ip_batch(r)

        i = [f"link set {plan.INTERNET_IF} up"]
        i += [f"addr add {a}/{plan.WAN4_PREFIXLEN} dev {plan.INTERNET_IF}" for a in plan.INTERNET_ADDRS4]
        i += [f"addr add {a}/{plan.WAN6_PREFIXLEN} dev {plan.INTERNET_IF} nodad"
              for a in plan.INTERNET_ADDRS6]
        i += [f"route add {plan.LAN6_PREFIX} via {plan.ROUTER_WAN6}"]
        self.internet.ns.ip_batch(i)

        for c in self.clients:
            c.ns.ip_batch([f"link set {c.ifname} up",
                           f"addr add {c.ip6}/64 dev {c.ifname} nodad",
                           f"addr add {c.ip6_privacy}/64 dev {c.ifname} nodad",
                           # the stable address is the default source; tests pick
                           # the privacy one explicitly (curl --interface)
                           f"route add ::/0 via {plan.ROUTER_LAN6} dev {c.ifname} src {c.ip6}"])

    def _firewalls(self) -> None:
        """The router's firewall: the lab's own NAT table, or fw4's real ruleset (same device names: br-lan, wan0)."""
        self.router.exec(["nft", "-f", "-"], input=ROUTER_RULESET if self.firewall == "lab" else fw4_ruleset(self.firewall))
        for c in self.clients:
            c.exec(["nft", "-f", "-"], input=truth_ruleset())

    def _offloads_off(self) -> None:
        """No GSO/GRO/TSO anywhere, so every counter sees wire-sized packets."""
        router_ports = [plan.WAN_IF, *(f"lan{c.index}" for c in self.clients)]
        for host, devices in ((self.router, router_ports), (self.internet, [plan.INTERNET_IF]),
                              *((c, [c.ifname]) for c in self.clients)):
            script = " && ".join(f"ethtool -K {d} {' '.join(OFFLOADS)}" for d in devices)
            host.exec(["sh", "-c", script])

    def _links_ready(self) -> bool:
        """Every router port up (so its peer is too) and every bridge port forwarding."""
        links = json.loads(self.router.ns.ip("-j", "-d", "link", "show").stdout)
        by_name = {link["ifname"]: link for link in links}
        wan_up = by_name[plan.WAN_IF]["operstate"] == "UP"
        ports = [by_name[f"lan{c.index}"] for c in self.clients]
        return wan_up and all(
            p["operstate"] == "UP"
            and p["linkinfo"]["info_slave_data"]["state"] == "forwarding" for p in ports)

    def _leased(self) -> bool:
        try:
            with open(self.router.lease_file) as f:
                leases = f.read()
        except FileNotFoundError:
            return False
        return all(c.mac in leases for c in self.clients)

    def _start_httpd(self) -> subprocess.Popen:
        log = open(os.path.join(self.dir, "httpd.log"), "ab")
        with log:
            return self.internet.popen(
                [sys.executable, "-m", "routerguard_lab.httpd", str(plan.HTTP_PORT)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)


def _wait_ready_line(proc: subprocess.Popen, timeout: float) -> None:
    """Wait for a server's "ready" line: it prints it once it accepts connections."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else b""
    if line.strip() != b"ready":
        raise LabTimeout(f"lab: the internet web server did not start (exit {proc.poll()});"
                         " see httpd.log in the lab's temp dir")
