"""The lab's machines as tests see them: a router, clients, an internet host.

Each wraps one namespace; what it knows (addresses, files) is plain
attributes, what it does (run commands, transfer data, count bytes) is
methods. The topology module builds them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
from typing import Any, Iterator, Sequence

from . import plan, udhcpc
from .dnsmasq_servers import RouterDnsmasq
from .netns import COMMAND_TIMEOUT, Namespace, run
from .wait import LabTimeout, wait_until

STOP_GRACE = 2.0
CONNECT_TIMEOUT = 5


class Host:
    """A machine of the lab: one namespace, plus the processes started in it."""

    def __init__(self, ns: Namespace) -> None:
        self.ns = ns
        self._procs: list[subprocess.Popen] = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.ns.name!r})"

    def exec(self, argv: Sequence[str], *, check: bool = True, input: str | None = None,
             timeout: float | None = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` here to completion (text stdout/stderr captured)."""
        return self.ns.exec(argv, check=check, input=input, timeout=timeout)

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        """Start ``argv`` here; the lab stops it at teardown if it still runs."""
        proc = self.ns.popen(argv, **kwargs)
        self._procs.append(proc)
        return proc

    def signal_processes(self, sig: int) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(sig)

    def reap(self) -> None:
        """Collect the exit status of every process started here (no zombies, no open pipes)."""
        for proc in self._procs:
            try:
                proc.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe:
                    pipe.close()
        self._procs.clear()


class Router(Host):
    """The travel router: br-lan to the clients, wan0 to the internet, NAT, dnsmasq."""

    lan_if = plan.LAN_IF
    wan_if = plan.WAN_IF
    lan_ip = plan.ROUTER_LAN4
    lan_ip6 = plan.ROUTER_LAN6
    wan_ip = plan.ROUTER_WAN4
    wan_ip6 = plan.ROUTER_WAN6

    def __init__(self, ns: Namespace, dnsmasq: RouterDnsmasq) -> None:
        super().__init__(ns)
        self.dnsmasq = dnsmasq
        self.lease_file = dnsmasq.lease_file
        self.dnsmasq_conf_dir = dnsmasq.conf_dir
        self.dnsmasq_restart = dnsmasq.restart_script

    def restart_dnsmasq(self) -> None:
        """What routerguard's ``dnsmasq_restart`` does, run from the test process."""
        run([self.dnsmasq_restart])


class Internet(Host):
    """The far side of the WAN: web server (port 80) and DNS for the lab's names."""

    ip4 = plan.INTERNET4
    ip6 = plan.INTERNET6
    names = plan.INTERNET_NAMES
    port = plan.HTTP_PORT

    def url(self, path: str, v6: bool = False, host: str | None = None) -> str:
        """URL of ``path`` on ``host`` (a name or address; default the host's main address)."""
        host = host or (self.ip6 if v6 else self.ip4)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}{path}"


TRUTH_TABLE = "labtruth"


def truth_ruleset() -> str:
    """nftables counters inside a client: IP-layer bytes to and from the internet host.

    Counted at the client's own output and input hooks, the last and first
    point the client itself sees, so they are what the device really sent
    and received: the ground truth the router's figures must match.
    """
    v4 = ", ".join(plan.INTERNET_ADDRS4)
    v6 = ", ".join(plan.INTERNET_ADDRS6)
    return f"""table inet {TRUTH_TABLE} {{
    counter up {{ }}
    counter down {{ }}
    chain output {{
        type filter hook output priority 0; policy accept;
        ip daddr {{ {v4} }} counter name "up"
        ip6 daddr {{ {v6} }} counter name "up"
    }}
    chain input {{
        type filter hook input priority 0; policy accept;
        ip saddr {{ {v4} }} counter name "down"
        ip6 saddr {{ {v6} }} counter name "down"
    }}
}}
"""


def read_truth(ns: Namespace, reset: bool = False) -> tuple[int, int]:
    """The truth counters of the client in ``ns``: (up_bytes, down_bytes)."""
    verb = "reset" if reset else "list"
    out = ns.exec(["nft", "-j", verb, "counters", "table", "inet", TRUTH_TABLE]).stdout
    counts = {item["counter"]["name"]: item["counter"]["bytes"]
              for item in json.loads(out)["nftables"] if "counter" in item}
    return counts["up"], counts["down"]


class Client(Host):
    """A LAN device: its own namespace behind a veth in br-lan, addresses from DHCP and static v6."""

    def __init__(self, ns: Namespace, index: int, internet: Internet, folder: str) -> None:
        super().__init__(ns)
        self.index = index
        self.ifname = plan.CLIENT_IF
        self.hostname = plan.client_hostname(index)
        self.mac = plan.client_mac(index)
        self.ip4 = ""  # set from the DHCP lease
        self.ip6 = plan.client_ip6(index)
        self.ip6_privacy = plan.client_ip6_privacy(index)
        self.internet = internet
        self.folder = folder
        self.udhcpc_script = ""
        self.udhcpc: subprocess.Popen | None = None

    @property
    def bound_file(self) -> str:
        return os.path.join(self.folder, f"{self.ns.name}.bound")

    @property
    def ips(self) -> list[str]:
        return [self.ip4, self.ip6, self.ip6_privacy]

    def start_dhcp(self, script: str) -> None:
        """Start udhcpc; ``wait_dhcp`` then waits for its lease (so clients can ask at once)."""
        self.udhcpc_script = script
        self.udhcpc = udhcpc.start(self.ns, self.ifname, self.hostname, script,
                                   self.bound_file, os.path.join(self.folder, f"{self.ns.name}.udhcpc.log"))
        self._procs.append(self.udhcpc)

    def wait_dhcp(self, timeout: float = 10.0) -> str:
        def bound() -> str:
            if self.udhcpc is not None and self.udhcpc.poll() is not None:
                raise LabTimeout(f"lab: udhcpc in {self.ns.name} exited {self.udhcpc.returncode}")
            try:
                with open(self.bound_file) as f:
                    return f.read().strip()
            except FileNotFoundError:
                return ""

        self.ip4 = wait_until(bound, timeout, f"a DHCP lease for {self.hostname}")
        return self.ip4

    def set_mac(self, mac: str, timeout: float = 10.0) -> str:
        """Become a "new device": change the MAC, then get a fresh lease; returns the new IPv4.

        The reservation is per MAC, so the new lease comes from the dynamic range.
        """
        if self.udhcpc is not None:
            self.udhcpc.send_signal(signal.SIGTERM)
            self.udhcpc.wait(STOP_GRACE)
        self.ns.ip_batch([f"link set {self.ifname} down",
                          f"link set {self.ifname} address {mac}",
                          f"link set {self.ifname} up"])
        self.mac = mac
        self.start_dhcp(self.udhcpc_script)
        return self.wait_dhcp(timeout)

    def truth(self, reset: bool = False) -> tuple[int, int]:
        """(up_bytes, down_bytes) this client exchanged with the internet host, IP layer.

        With ``reset`` the counters are read and zeroed in one step.
        """
        return read_truth(self.ns, reset)

    def download_command(self, nbytes: int, v6: bool = False, *, host: str | None = None,
                         src: str | None = None, limit_rate: str | None = None,
                         timeout: float | None = None) -> list[str]:
        """curl argv that fetches ``nbytes``, printing the body bytes received."""
        return [*self._curl(v6, src, limit_rate, timeout), "-o", "/dev/null",
                "-w", "%{size_download}", self.internet.url(f"/bytes/{nbytes}", v6, host)]

    def upload_command(self, body_file: str, v6: bool = False, *, host: str | None = None,
                       src: str | None = None, limit_rate: str | None = None,
                       timeout: float | None = None) -> list[str]:
        """curl argv that POSTs ``body_file``, printing the body bytes sent."""
        return [*self._curl(v6, src, limit_rate, timeout), "-T", body_file, "-X", "POST",
                "-H", "Expect:", "-o", "/dev/null", "-w", "%{size_upload}",
                self.internet.url("/upload", v6, host)]

    def download(self, nbytes: int, v6: bool = False, *, check: bool = True, **options: Any) -> int:
        """Fetch ``nbytes`` from the internet host; returns the body bytes received.

        ``options``: ``host`` (a lab name such as "dl.example.test", resolved
        through the router's DNS, or an address), ``src`` (source address,
        e.g. ``ip6_privacy``), ``limit_rate`` (curl's, e.g. "1M"),
        ``timeout`` (seconds). With ``check=False`` a cut transfer returns
        what arrived instead of raising.
        """
        return self._transfer(self.download_command(nbytes, v6, **options), check)

    def upload(self, nbytes: int, v6: bool = False, *, check: bool = True, **options: Any) -> int:
        """Send ``nbytes`` to the internet host; returns the body bytes sent. Options as download."""
        with self.body_file(nbytes) as path:
            return self._transfer(self.upload_command(path, v6, **options), check)

    @contextlib.contextmanager
    def body_file(self, nbytes: int) -> Iterator[str]:
        """A sparse file of ``nbytes`` zeros: any upload size costs no disk or RAM."""
        fd, path = tempfile.mkstemp(dir=self.folder, prefix="upload-")
        try:
            os.ftruncate(fd, nbytes)
            os.close(fd)
            yield path
        finally:
            os.unlink(path)

    def _transfer(self, argv: list[str], check: bool) -> int:
        proc = self.exec(argv, check=check, timeout=None)
        return int(proc.stdout or 0)

    def _curl(self, v6: bool, src: str | None, limit_rate: str | None,
              timeout: float | None) -> list[str]:
        argv = ["curl", "-sS", "-g", "--fail", "--connect-timeout", str(CONNECT_TIMEOUT),
                "-6" if v6 else "-4"]
        if src:
            argv += ["--interface", src]
        if limit_rate:
            argv += ["--limit-rate", limit_rate]
        if timeout:
            argv += ["--max-time", str(timeout)]
        return argv
