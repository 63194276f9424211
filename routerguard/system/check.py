"""What the host must offer before the daemon can keep its promises.

Each finding says what is missing and the command that fixes it. Findings
that the daemon fixes by itself on start (it runs as root) are notes, not
problems, so `check` exits 0 exactly when `run` can work.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass

from routerguard.config.model import Config
from routerguard.read import conntrack, netlink


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    fix: str | None = None
    blocking: bool = True

    def __str__(self) -> str:
        mark = "ok" if self.ok else ("problem" if self.blocking else "note")
        text = f"{mark}: {self.what}"
        return text + (f"\n    fix: {self.fix}" if self.fix and not self.ok else "")


def _sysctl(name: str, wanted: str) -> Finding:
    path = os.path.join(conntrack.SYSCTL_DIR, name)
    key = f"net.netfilter.{name}"
    if not os.path.exists(path):
        return Finding(False, f"{key} does not exist: the conntrack module is not loaded",
                       "modprobe nf_conntrack (OpenWrt: opkg install kmod-nf-conntrack-netlink)")
    with open(path) as f:
        value = f.read().strip()
    if value == wanted:
        return Finding(True, f"{key} = {value}")
    writable = os.access(path, os.W_OK)
    return Finding(False, f"{key} = {value}" + (" (run turns it on)" if writable else ""),
                   f"sysctl -w {key}={wanted} and add it to /etc/sysctl.d/", blocking=not writable)


def _tool(name: str, package: str) -> Finding:
    found = shutil.which(name)
    if found:
        return Finding(True, f"{name} found at {found}")
    return Finding(False, f"{name} is not installed", f"install the package: apt-get install {package} / opkg install {package}")


def _netlink() -> Finding:
    """Dumping conntrack needs CAP_NET_ADMIN; opening the socket is not enough, so try a bind."""
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, netlink.NETLINK_NETFILTER) as s:
            s.bind((0, 1 << 2))  # the DESTROY event group: refused without CAP_NET_ADMIN
    except OSError as e:
        return Finding(False, f"no netlink access to conntrack ({e.strerror})", "run routerguard as root (or with CAP_NET_ADMIN)")
    return Finding(True, "netlink access to conntrack")


def _interface(role: str, name: str, blocking: bool = True) -> Finding:
    """A missing uplink is a note: a modem plugged in later comes up under its name, and hotplug tells us."""
    if os.path.exists(f"/sys/class/net/{name}"):
        return Finding(True, f"{role} interface {name} exists")
    return Finding(False, f"{role} interface {name} does not exist" + ("" if blocking else " (yet)"),
                   f"fix option {role} in the config (interfaces here: {', '.join(sorted(os.listdir('/sys/class/net')))})",
                   blocking=blocking)


def _policy_routing() -> Finding:
    """Free uplinks first routes with `ip rule ... suppress_prefixlength` (iproute2's ip; busybox's lacks it)."""
    from routerguard.enforce import mwan3

    if mwan3.running():
        return Finding(True, "mwan3 runs: free uplinks first writes its policy (docs/uplinks.md)")
    try:
        helped = subprocess.run(["ip", "rule", "help"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return Finding(False, "no `ip` command: free uplinks first cannot route", "install iproute2 (OpenWrt: ip-full)")
    if "suppress_prefixlength" not in helped.stdout + helped.stderr:
        return Finding(False, "this `ip` has no suppress_prefixlength (busybox's?): free uplinks first cannot route",
                       "install iproute2 (OpenWrt: opkg install ip-full), or set option prefer_unmetered '0'")
    return Finding(True, "ip rule with suppress_prefixlength: free uplinks first routes by its own table")


def _nft_works() -> Finding:
    if not shutil.which("nft"):
        return _tool("nft", "nftables")
    proc = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
    if proc.returncode != 0:
        return Finding(False, f"nft cannot list tables: {proc.stderr.strip()}", "run as root; load nf_tables (modprobe nf_tables)")
    return Finding(True, "nftables works")


def _caps_in_kernel(config: Config) -> Finding:
    """Every kernel feature the caps use (quota, limit, reject, ct mark, NAT, fib), tried with `nft -c`."""
    from routerguard.enforce import nft, ruleset

    refused = nft.refusal(ruleset.create(ruleset.probe(config.main.lan_if, config.main.wan_if)))
    if refused:
        return Finding(False, f"the kernel refuses routerguard's caps table: {refused}",
                       "install the nftables kernel modules: opkg install kmod-nft-core kmod-nft-nat kmod-nft-fib")
    return Finding(True, "the kernel takes routerguard's caps table (quota, limit, reject, ct mark, NAT)")


def _flow_offload(config: Config) -> Finding:
    """Offloaded packets skip every rule after the flowtable's: caps cannot be exact then (docs/enforcement.md).
    Seen in the ruleset (a flowtable) or in OpenWrt's UCI firewall file (also where the kernel has no flowtables)."""
    from routerguard.enforce import nft
    from routerguard.read.offload import detect

    found = detect(config.main.firewall_config, nft.flowtables()).found
    if not found:
        return Finding(True, "no flow offloading: every forwarded packet meets routerguard's caps")
    return Finding(False, f"flow offloading is on ({', '.join(found)}): offloaded connections skip routerguard's rules,"
                          " so a device is neither cut at its cap's byte nor throttled; it is blocked when the meter"
                          " reads its usage (a poll interval late) and its offloaded connections are ended about a"
                          " second later; hardware offload and vendor fast paths may even stop the counting",
                   "for exact caps turn it off: uci set firewall.@defaults[0].flow_offloading='0';"
                   " uci set firewall.@defaults[0].flow_offloading_hw='0'; uci commit firewall; fw4 reload",
                   blocking=False)


def _dnsmasq_nftset() -> Finding:
    """The data saver fills its sets through dnsmasq's nftset option, which only dnsmasq-full has on OpenWrt."""
    try:
        version = subprocess.run(["dnsmasq", "--version"], capture_output=True, text=True).stdout
    except OSError:
        version = ""
    if " nftset" in version:
        return Finding(True, "dnsmasq fills nftables sets (data saver)")
    return Finding(False, "dnsmasq without nftset support: blocked categories cannot be enforced",
                   "opkg remove dnsmasq && opkg install dnsmasq-full (Debian: apt-get install dnsmasq-base)", blocking=False)


def _data_dir(path: str) -> Finding:
    probe = path
    while not os.path.exists(probe):
        probe = os.path.dirname(probe) or "/"
    if os.access(probe, os.W_OK):
        return Finding(True, f"data_dir {path} is writable")
    return Finding(False, f"data_dir {path} is not writable", f"mkdir -p {path} && chown root {path}, or change option data_dir")


def check_system(config: Config) -> list[Finding]:
    findings = [
        *(_sysctl(name, wanted) for name, wanted in conntrack.SYSCTLS.items()),
        _netlink(),
        _nft_works(),
        _interface("lan_if", config.main.lan_if),
        _data_dir(config.main.data_dir),
    ]
    findings += [_interface("wan_if", name, blocking=False) for name in config.main.wan_if]
    findings += [_interface("uplink ifname", u.ifname, blocking=False) for u in config.uplinks
                 if u.ifname not in config.main.wan_if]
    if config.main.prefer_unmetered:
        findings.append(_policy_routing())
    if shutil.which("nft"):
        findings += [_caps_in_kernel(config), _flow_offload(config)]
    if _blocks_categories(config):
        findings.append(_dnsmasq_nftset())
    from routerguard.system.libraries import web_libraries  # OpenWrt 23.05's Flask and Werkzeug are too old

    findings.append(web_libraries())
    return findings


def _blocks_categories(config: Config) -> bool:
    return bool(config.saver_block or any(g.block for g in config.groups.values())
                or any(d.block for d in config.devices.values()))
