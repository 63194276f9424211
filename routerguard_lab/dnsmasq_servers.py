"""The two dnsmasq servers: the router's (DHCP + DNS, like OpenWrt's) and the internet's.

The router's dnsmasq forwards DNS to the internet side's, which answers
the lab's names; only forwarded answers fill dnsmasq ``nftset``s, so a
leak guard can be tested for real. The router's one reads a conf-dir
(where routerguard drops its snippet) and can be restarted by a script,
as ``/etc/init.d/dnsmasq restart`` would on OpenWrt.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from . import plan
from .netns import Namespace


@dataclass(frozen=True)
class RouterDnsmasq:
    """Where the router's dnsmasq keeps its files, all inside the lab's temp dir."""

    folder: str

    @property
    def conf(self) -> str:
        return os.path.join(self.folder, "dnsmasq.conf")

    @property
    def conf_dir(self) -> str:
        return os.path.join(self.folder, "dnsmasq.d")

    @property
    def lease_file(self) -> str:
        return os.path.join(self.folder, "dhcp.leases")

    @property
    def pid_file(self) -> str:
        return os.path.join(self.folder, "dnsmasq.pid")

    @property
    def log_file(self) -> str:
        return os.path.join(self.folder, "dnsmasq.log")

    @property
    def restart_script(self) -> str:
        return os.path.join(self.folder, "dnsmasq-restart")

    def write(self, ns: Namespace, reservations: dict[str, str]) -> None:
        """Write the config and the restart script; ``reservations`` maps MAC to IPv4."""
        os.makedirs(self.conf_dir, exist_ok=True)
        lines = [
            "# routerguard lab: the router's DHCP and DNS server",
            f"interface={plan.LAN_IF}",
            "bind-interfaces",
            "user=root",
            "group=root",
            f"pid-file={self.pid_file}",
            f"dhcp-leasefile={self.lease_file}",
            f"log-facility={self.log_file}",
            "log-queries",
            "log-dhcp",
            "no-resolv",
            "no-hosts",
            f"server={plan.INTERNET4}",
            "domain=lan",
            "local=/lan/",
            f"dhcp-range={plan.DHCP_RANGE[0]},{plan.DHCP_RANGE[1]},{plan.DHCP_LEASE_TIME}",
            "dhcp-authoritative",
            "no-ping",  # dnsmasq would otherwise delay each new lease by a ping timeout
            *(f"dhcp-host={mac},{ip}" for mac, ip in reservations.items()),
            f"conf-dir={self.conf_dir}",
        ]
        _write(self.conf, "\n".join(lines) + "\n")
        script = (
            "#!/bin/sh\n"
            "# Restart the routerguard lab router's dnsmasq (works from any namespace).\n"
            f"pidfile='{self.pid_file}'\n"
            "# running: exists and is no zombie (sockets closed); reaping may lag\n"
            "running() { grep -qs '^State:[[:space:]]*[^Z[:space:]]' \"/proc/$1/status\"; }\n"
            'if [ -s "$pidfile" ]; then\n'
            '  pid=$(cat "$pidfile")\n'
            '  kill "$pid" 2>/dev/null\n'
            '  while running "$pid"; do sleep 0.01; done\n'
            "fi\n"
            f"exec ip netns exec '{ns.name}' dnsmasq --conf-file='{self.conf}'\n"
        )
        _write(self.restart_script, script)
        os.chmod(self.restart_script, stat.S_IRWXU)

    def start(self, ns: Namespace) -> None:
        """Start it; returns once it serves, since dnsmasq's parent waits for its daemon."""
        ns.exec(["dnsmasq", f"--conf-file={self.conf}"])


def start_upstream(ns: Namespace, folder: str) -> None:
    """The internet side's DNS: answers the lab's names (and their subdomains)."""
    conf = os.path.join(folder, "upstream-dnsmasq.conf")
    lines = [
        "# routerguard lab: the internet's DNS server, the router's upstream",
        f"listen-address={plan.INTERNET4},{plan.INTERNET6}",
        "bind-interfaces",
        "user=root",
        "group=root",
        f"pid-file={os.path.join(folder, 'upstream-dnsmasq.pid')}",
        f"log-facility={os.path.join(folder, 'upstream-dnsmasq.log')}",
        "log-queries",
        "no-resolv",
        "no-hosts",
    ]
    for name, (v4, v6) in plan.INTERNET_NAMES.items():
        lines += [f"address=/{name}/{v4}", f"address=/{name}/{v6}"]
    _write(conf, "\n".join(lines) + "\n")
    ns.exec(["dnsmasq", f"--conf-file={conf}"])


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)
