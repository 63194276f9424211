"""The benchmarks' router: one network namespace, many devices, a big conntrack table, the real daemon.

Devices are neighbour entries (IPv4 and IPv6, `nud permanent`) on a br-lan
bridge plus a dnsmasq-style lease file naming them; a database already holds
`history_days` of hourly usage for each, so pages and API answers have real
figures to show. The conntrack table is filled with `conntrack -R` (flows
from the devices' addresses to the internet, a quarter IPv6, TCP and UDP):
the kernel's real table, dumped by the real meter, without real traffic, so
its byte counters stay 0. With ``traffic=True`` the flows are made by real
datagrams instead, one each way (bench/traffic.py: UDP only), so they count
bytes both ways as a router's flows do. The daemon is the installed `routerguard run`,
started with `ip netns exec` as on a router; the benchmark process stays in
the root namespace and talks to it over sockets made in the namespace.

Nothing outside the namespace is touched; everything is removed on exit,
also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from types import TracebackType

from routerguard.account.ledger import Ledger
from routerguard.store.db import Database
from routerguard_lab.lab_daemon import ROUTERGUARD
from routerguard_lab.netns import Namespace, kill_all, new_prefix, sweep_stale
from routerguard_lab.wait import wait_until
from traffic import LAN_HOST, SYSCTLS as TRAFFIC_SYSCTLS, TRACKING, Traffic, ip_commands, packet_socket

DEVICES, FLOWS = 250, 65536  # the size the targets are set for
LAN_IF, WAN_IF = "br-lan", "wan0"
WAN_PEER = "wan0-far"  # the other end of the uplink, in the same namespace (this kernel has no dummy links)
LAN4 = ipaddress.ip_network("192.168.0.0/22")  # room for 1000 devices
LAN6 = ipaddress.ip_network("fd00:8::/64")
ROUTER4, ROUTER6 = LAN4[1], LAN6[1]
WAN4 = "198.18.0.2/24"
PORT = 8080
PASSWORD = "bench-password"
SYSCTLS = {"net.netfilter.nf_conntrack_acct": 1, "net.netfilter.nf_conntrack_events": 1,
           "net.netfilter.nf_conntrack_timestamp": 1}
FLOW_TIMEOUT = 3600  # seconds: the table stays as built for the whole benchmark
HOUR = 3600
START_TIMEOUT = 120.0  # the first reading of a big table, the history, the imports
HTTP_TIMEOUT = 30.0
HOURLY_DOWN = (10_000, 20_000_000)  # bytes a device downloads in an hour of history, log-uniform


def arguments(doc: str) -> argparse.ArgumentParser:
    """A benchmark's command line, with the testbed's size."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--devices", type=int, default=DEVICES)
    parser.add_argument("--flows", type=int, default=FLOWS)
    return parser


def device_mac(n: int) -> str:
    return f"02:00:00:00:{n // 256:02x}:{n % 256:02x}"


def device_ip4(n: int) -> str:
    return str(LAN4[n + 2])


def device_ip6(n: int) -> str:
    return str(LAN6[n + 2])


def device(n: int) -> tuple[str, str, str]:
    """Device n's MAC, IPv4 and IPv6 address."""
    return device_mac(n), device_ip4(n), device_ip6(n)


def flow_line(n: int, devices: int, sport_base: int = 1024, timeout: int = FLOW_TIMEOUT) -> str:
    """One `conntrack -R` line inserting flow n, from device n % devices; every fourth IPv6, every third UDP."""
    device = n % devices
    sport = sport_base + n // devices % 60000
    far = n // devices // 60000
    if n % 4 == 0:
        addresses = f"-s {device_ip6(device)} -d fd00:198:{far:x}::{n % 5000 + 1:x}"
    else:
        addresses = f"-s {device_ip4(device)} -d 198.18.{far}.{n % 250 + 1}"
    proto = "-p udp" if n % 3 == 0 else "-p tcp --state ESTABLISHED"
    return f"-I {addresses} {proto} --sport {sport} --dport {443 if n % 3 else 53} -t {timeout}\n"


class NamespaceConnection(http.client.HTTPConnection):
    """HTTP to the daemon from the root namespace, over a socket made in the router's."""

    def __init__(self, ns: Namespace, host: str, port: int, timeout: float = HTTP_TIMEOUT) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ns = ns

    def connect(self) -> None:
        self.sock = self._ns.socket()
        self.sock.settimeout(self.timeout)
        self.sock.connect((self.host, self.port))


class Testbed:
    """``with Testbed(devices=250, flows=65536) as bed:`` a router with the daemon running."""

    def __init__(self, devices: int, flows: int, *, poll_interval: float = 2.0, commit_interval: int = 60,
                 history_days: int = 30, seed: int = 1, daemon_env: dict[str, str] | None = None,
                 traffic: bool = False, daemon: bool = True) -> None:
        self.devices, self.flows = devices, flows
        self.with_traffic, self.with_daemon = traffic, daemon
        self.traffic: Traffic | None = None
        self.daemon_env = {**os.environ, **(daemon_env or {})}
        self.poll_interval, self.commit_interval = poll_interval, commit_interval
        self.history_days = history_days
        self.random = random.Random(seed)
        self.dir = ""
        self.ns: Namespace | None = None
        self.proc: subprocess.Popen | None = None
        self._token: str | None = None

    @property
    def config(self) -> str:
        return os.path.join(self.dir, "routerguard.conf")

    @property
    def log_path(self) -> str:
        return os.path.join(self.dir, "routerguard.log")

    def __enter__(self) -> Testbed:
        sweep_stale()
        prefix = new_prefix()
        self.dir = tempfile.mkdtemp(prefix=f"{prefix}-bench-")
        try:
            self.ns = Namespace.create(f"{prefix}-bench")
            self._network()
            self._files()
            if self.with_traffic:
                self._traffic()
            else:
                self.conntrack(flow_line(n, self.devices) for n in range(self.flows))
            if self.with_daemon:
                self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self.traffic is not None:
            self.traffic.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(START_TIMEOUT)
        if self.ns is not None:
            kill_all([self.ns])
            self.ns.delete()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _network(self) -> None:
        assert self.ns is not None
        self.ns.sysctl(SYSCTLS)
        commands = [f"link add {LAN_IF} type bridge", f"link add {WAN_IF} type veth peer name {WAN_PEER}",
                    f"link set {LAN_IF} up", f"link set {WAN_PEER} up", f"link set {WAN_IF} up",
                    f"addr add {ROUTER4}/{LAN4.prefixlen} dev {LAN_IF}",
                    f"addr add {ROUTER6}/{LAN6.prefixlen} dev {LAN_IF} nodad",
                    f"addr add {WAN4} dev {WAN_IF}"]
        if self.with_traffic:  # before the neighbours: the bridge's first port brings it up, which drops them
            self.ns.sysctl(TRAFFIC_SYSCTLS)
            commands += ip_commands(LAN_IF, WAN_IF)
        for n in range(self.devices):
            for ip in (device_ip4(n), device_ip6(n)):
                commands.append(f"neigh add {ip} lladdr {device_mac(n)} dev {LAN_IF} nud permanent")
        self.ns.ip_batch(commands)

    def _traffic(self) -> None:
        """The flows, made by a datagram each way (bench/traffic.py)."""
        assert self.ns is not None
        lan_mac, wan_mac = (self.ns.exec(["cat", f"/sys/class/net/{name}/address"]).stdout.strip()
                            for name in (LAN_IF, WAN_IF))
        self.ns.exec(["nft", "-f", "-"], input=TRACKING)
        self.traffic = Traffic(self.flows, self.devices, device, lan_mac, wan_mac,
                               *(packet_socket(name, self.ns.socket) for name in (LAN_HOST, WAN_PEER)))
        self.traffic.both_ways()
        present = self.table_size()
        if present < self.flows:
            raise RuntimeError(f"conntrack holds {present} flows after the traffic, wanted {self.flows}")

    def _files(self) -> None:
        """The lease file, the config, a password, and the history the database holds."""
        leases = os.path.join(self.dir, "dhcp.leases")
        expiry = int(time.time()) + 12 * HOUR
        with open(leases, "w") as f:
            f.writelines(f"{expiry} {device_mac(n)} {device_ip4(n)} device-{n} *\n" for n in range(self.devices))
        data = os.path.join(self.dir, "data")
        with open(self.config, "w") as f:
            f.write(f"config routerguard 'main'\n\toption lan_if '{LAN_IF}'\n\tlist wan_if '{WAN_IF}'\n"
                    f"\toption listen '{ROUTER4}:{PORT}'\n\toption data_dir '{data}'\n\toption leases '{leases}'\n"
                    f"\toption poll_interval '{self.poll_interval}'\n\toption commit_interval '{self.commit_interval}'\n"
                    "\toption timezone 'UTC'\n\nconfig plan 'plan'\n\toption quota '1TB'\n\toption period 'monthly'\n")
        subprocess.run([ROUTERGUARD, "passwd", "--config", self.config], input=PASSWORD + "\n", text=True,
                       check=True, capture_output=True)
        self._history(data)

    def _history(self, data: str) -> None:
        ledger = Ledger(Database(data), lambda t: int(t // HOUR * HOUR))
        low, high = HOURLY_DOWN
        now = time.time()
        for hour in range(self.history_days * 24, 0, -1):
            for n in range(self.devices):
                down = int(low * (high / low) ** self.random.random())
                ledger.add(device_mac(n), down // 10, down, now - hour * HOUR)
            ledger.commit()
        ledger.db.close()

    def conntrack(self, lines) -> None:
        """Feed `conntrack -R` lines (flow_line's) in the namespace."""
        assert self.ns is not None
        with tempfile.NamedTemporaryFile("w", dir=self.dir, suffix=".ct") as batch:
            batch.writelines(lines)
            batch.flush()
            self.ns.exec(["conntrack", "-R", batch.name])

    def table_size(self) -> int:
        assert self.ns is not None
        return int(self.ns.exec(["cat", "/proc/sys/net/netfilter/nf_conntrack_count"]).stdout)

    def start(self) -> None:
        assert self.ns is not None
        with open(self.log_path, "a") as log:
            self.proc = self.ns.popen([ROUTERGUARD, "run", "--config", self.config], stdout=log, stderr=log,
                                      env=self.daemon_env)
        wait_until(lambda: self.proc.poll() is not None or self.health(), START_TIMEOUT, "the daemon's /healthz")
        if self.proc.poll() is not None:
            raise RuntimeError(f"routerguard exited {self.proc.returncode}:\n{self.log()}")

    def log(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def rss_kib(self) -> dict[str, int]:
        """VmRSS and VmHWM (the peak) of the daemon, KiB."""
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f)
        return {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM")}

    def connection(self) -> NamespaceConnection:
        assert self.ns is not None
        return NamespaceConnection(self.ns, str(ROUTER4), PORT)

    def get(self, path: str, headers: dict[str, str] | None = None,
            connection: NamespaceConnection | None = None) -> tuple[int, bytes]:
        own = connection is None
        conn = connection or self.connection()
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            if own:
                conn.close()

    def health(self) -> dict | None:
        try:
            status, body = self.get("/healthz")
        except OSError:
            return None
        return json.loads(body) if status == 200 else None

    def bearer(self) -> dict[str, str]:
        """Headers of an API client with a token."""
        if self._token is None:
            self._token = subprocess.run([ROUTERGUARD, "token", "--config", self.config], check=True,
                                         capture_output=True, text=True).stdout.strip()
        return {"Authorization": f"Bearer {self._token}"}

    def session(self) -> dict[str, str]:
        """Headers of a browser logged in with the password."""
        conn = self.connection()
        try:
            conn.request("POST", "/api/v1/session", body=json.dumps({"password": PASSWORD}),
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"login refused: HTTP {response.status}")
            return {"Cookie": response.getheader("Set-Cookie").split(";", 1)[0]}
        finally:
            conn.close()
