"""The SNMP poller against a real net-snmp agent.

The agent runs in a namespace of the test's own with a veth uplink to a
second one, so its counters move only with the traffic the test sends; the
poller runs beside it (`NamespacedPoller`) and its total is checked against
the interface's own counters in /sys. Client-only behaviours (a wrong
interface name, a dead agent) run the poller in this process against
127.0.0.1.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest

from routerguard.config.model import SnmpSource
from routerguard.account.wan_poller import WanPoller
from routerguard_lab.snmpd import NamespacedPoller, SnmpAgent, free_udp_port
from routerguard_lab.wait import wait_until

MB = 10**6
TOLERANCE = 0.02
WAN_IF, ISP_IF = "wan0", "isp0"
ROUTER_ADDR, ISP_ADDR = "198.18.0.1", "198.18.0.2"
PREFIX_LEN = 30
TRAFFIC_TIMEOUT = 30.0
QUICK_TIMEOUT, QUICK_RETRIES, QUICK_INTERVAL = 0.5, 0, 0.2
CLIENT_WAIT = 30.0  # a bound on waiting, not a timing: pysnmp alone takes seconds to start on a loaded machine
STOP_BOUND = 5.0  # stop() waits for the poll under way: one timeout plus pysnmp's 0.5 s timer tick

_serial = itertools.count(1)

RECEIVER = """
import socket, sys
server = socket.create_server((sys.argv[1], 0))
print(server.getsockname()[1], flush=True)
conn, _ = server.accept()
received = 0
while chunk := conn.recv(65536):
    received += len(chunk)
print(received, flush=True)
"""

SENDER = """
import socket, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2]))) as conn:
    conn.sendall(b"x" * int(sys.argv[3]))
"""


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


@dataclass(frozen=True)
class Uplink:
    """A router namespace whose WAN interface is a veth to an ISP namespace."""

    router: str
    isp: str

    def counters(self) -> int:
        """rx+tx bytes of the WAN interface, as the kernel counts them."""
        paths = [f"/sys/class/net/{WAN_IF}/statistics/{name}" for name in ("rx_bytes", "tx_bytes")]
        return sum(int(value) for value in ip("netns", "exec", self.router, "cat", *paths).split())

    def wire(self) -> None:
        """The veth between the two, offloads off so every counter sees every packet."""
        ip("-n", self.router, "link", "add", WAN_IF, "type", "veth", "peer", "name", ISP_IF, "netns", self.isp)
        for name, dev, addr in ((self.router, WAN_IF, ROUTER_ADDR), (self.isp, ISP_IF, ISP_ADDR)):
            ip("netns", "exec", name, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off")
            ip("-n", name, "addr", "add", f"{addr}/{PREFIX_LEN}", "dev", dev)
            ip("-n", name, "link", "set", dev, "up")

    def recreate_wan(self) -> None:
        """Delete the WAN interface and make it anew: a new ifindex, counters from zero."""
        ip("-n", self.router, "link", "del", WAN_IF)
        self.wire()

    def send(self, size: int) -> None:
        """Push `size` bytes of TCP from the router to the ISP side, and wait until all arrived."""
        receiver = subprocess.Popen(
            ["ip", "netns", "exec", self.isp, sys.executable, "-c", RECEIVER, ISP_ADDR],
            stdout=subprocess.PIPE, text=True,
        )
        try:
            assert receiver.stdout is not None
            port = receiver.stdout.readline().strip()
            subprocess.run(
                ["ip", "netns", "exec", self.router, sys.executable, "-c", SENDER, ISP_ADDR, port, str(size)],
                check=True, timeout=TRAFFIC_TIMEOUT,
            )
            received, _ = receiver.communicate(timeout=TRAFFIC_TIMEOUT)
            assert int(received) == size
        finally:
            receiver.kill()
            receiver.wait()


def _make_namespace(name: str) -> None:
    ip("netns", "add", name)
    ip("netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
    ip("-n", name, "link", "set", "lo", "up")


def _remove_namespace(name: str) -> None:
    """Kill what still runs in it (all started by this test) and delete it."""
    if name not in ip("netns", "list").split():
        return
    for pid in ip("netns", "pids", name).split():
        os.kill(int(pid), signal.SIGKILL)
    ip("netns", "delete", name)


@pytest.fixture
def uplink() -> Iterator[Uplink]:
    """Two fresh namespaces, IPv6 off so nothing but the test's traffic moves the counters."""
    link = Uplink(router=f"rgsn{os.getpid()}-{next(_serial)}", isp=f"rgsn{os.getpid()}-{next(_serial)}")
    try:
        for name in (link.router, link.isp):
            _make_namespace(name)
        link.wire()
        yield link
    finally:
        for name in (link.router, link.isp):
            _remove_namespace(name)


def near(total: int | None, expected: int) -> bool:
    return total is not None and abs(total - expected) <= TOLERANCE * expected


def converged(uplink: Uplink, baseline: int) -> Callable[[dict[str, Any]], bool]:
    """A snapshot condition: healthy, with a total within 2% of the WAN counters since `baseline`."""
    return lambda snap: snap["health"]["failures"] == 0 and near(snap["total"], uplink.counters() - baseline)


def has_reading(snap: dict[str, Any]) -> bool:
    return snap["total"] is not None


# --- against an agent in a namespace -------------------------------------------


@pytest.mark.lab
def test_total_matches_the_interface_counters(uplink: Uplink) -> None:
    with SnmpAgent(netns=uplink.router) as agent, NamespacedPoller(uplink.router, agent.port, WAN_IF) as poller:
        poller.wait_for(has_reading, "the first reading")
        baseline = uplink.counters()
        uplink.send(4 * MB)
        snap = poller.wait_for(converged(uplink, baseline), "a total within 2% of the WAN counters")
        assert snap["total"] >= 4 * MB
        assert snap["health"]["last_error"] is None


@pytest.mark.lab
def test_stopped_agent_reports_an_error_and_the_total_holds(uplink: Uplink) -> None:
    with SnmpAgent(netns=uplink.router) as agent, NamespacedPoller(uplink.router, agent.port, WAN_IF) as poller:
        poller.wait_for(has_reading, "the first reading")
        baseline = uplink.counters()
        uplink.send(1 * MB)
        poller.wait_for(converged(uplink, baseline), "a total within 2% of the WAN counters")
        agent.stop()
        held = poller.wait_for(lambda snap: snap["health"]["failures"] >= 1, "a failed poll")["total"]
        uplink.send(1 * MB)
        snap = poller.wait_for(lambda snap: snap["health"]["failures"] >= 3, "three failed polls")
        assert snap["total"] == held
        assert "no answer from SNMP agent" in snap["health"]["last_error"]


@pytest.mark.lab
def test_restarted_agent_continues_without_double_counting(uplink: Uplink) -> None:
    with SnmpAgent(netns=uplink.router) as agent, NamespacedPoller(uplink.router, agent.port, WAN_IF) as poller:
        poller.wait_for(has_reading, "the first reading")
        baseline = uplink.counters()
        uplink.send(4 * MB)
        poller.wait_for(converged(uplink, baseline), "a total within 2% of the WAN counters")
        agent.stop()
        poller.wait_for(lambda snap: snap["health"]["failures"] >= 1, "a failed poll")
        uplink.send(1 * MB)  # while the agent is down: the first reading after the restart covers it
        agent.start()
        snap = poller.wait_for(converged(uplink, baseline), "the total to go on after the agent's restart")
        assert snap["total"] >= 5 * MB


@pytest.mark.lab
def test_restored_state_carries_the_total_over_a_poller_restart(uplink: Uplink) -> None:
    with SnmpAgent(netns=uplink.router) as agent:
        with NamespacedPoller(uplink.router, agent.port, WAN_IF) as poller:
            poller.wait_for(has_reading, "the first reading")
            baseline = uplink.counters()
            uplink.send(2 * MB)
            state = poller.wait_for(converged(uplink, baseline), "a total within 2% of the WAN counters")["state"]
        uplink.send(1 * MB)  # while the daemon is down
        with NamespacedPoller(uplink.router, agent.port, WAN_IF, state=state) as poller:
            snap = poller.wait_for(converged(uplink, baseline), "the restored total to go on")
            assert snap["total"] >= 3 * MB


@pytest.mark.lab
def test_recreated_interface_is_found_again_and_counted_from_zero(uplink: Uplink) -> None:
    with SnmpAgent(netns=uplink.router) as agent, NamespacedPoller(uplink.router, agent.port, WAN_IF) as poller:
        first = poller.wait_for(has_reading, "the first reading")["health"]["if_index"]
        baseline = uplink.counters()
        uplink.send(2 * MB)
        poller.wait_for(converged(uplink, baseline), "a total within 2% of the WAN counters")
        before = uplink.counters() - baseline
        uplink.recreate_wan()  # snmpd keeps the old row, frozen, beside the new one for a while
        uplink.send(1 * MB)
        snap = poller.wait_for(
            lambda snap: snap["health"]["if_index"] != first and near(snap["total"], before + uplink.counters()),
            "the total to go on with the new interface's counters",
        )
        assert snap["total"] >= 3 * MB


# --- the client alone, in this process -----------------------------------------


def quick_poller(port: int, if_name: str) -> WanPoller:
    source = SnmpSource(host="127.0.0.1", port=port, community="public", if_name=if_name)
    return WanPoller(source, interval=QUICK_INTERVAL, timeout=QUICK_TIMEOUT, retries=QUICK_RETRIES)


def test_wrong_interface_name_is_named_in_the_error() -> None:
    with SnmpAgent() as agent, quick_poller(agent.port, "nosuch0") as poller:
        wait_until(lambda: poller.health().failures, CLIENT_WAIT, "a failed poll")
        health = poller.health()
    assert "no interface named 'nosuch0'" in str(health.last_error)
    assert "it has: lo" in str(health.last_error)  # the names it does have, to pick from
    assert poller.latest() is None and not health.ok


def test_a_dead_agent_costs_the_caller_nothing() -> None:
    poller = quick_poller(free_udp_port(), "lo")
    poller.start()
    try:
        wait_until(lambda: poller.health().failures >= 2, CLIENT_WAIT, "two failed polls")
        asked = time.monotonic()
        assert poller.latest() is None  # answered from memory while polls wait out their timeouts
        assert time.monotonic() - asked < QUICK_TIMEOUT / 5
    finally:
        stopping = time.monotonic()
        poller.stop()
    assert time.monotonic() - stopping < STOP_BOUND
    assert "no answer from SNMP agent" in str(poller.health().last_error)


def test_configurations_without_snmp_do_not_load_pysnmp() -> None:
    probe = "import sys, routerguard.read.snmp, routerguard.account.wan_poller; print('pysnmp' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip() == "False"
