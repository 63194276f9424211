"""Metering in the virtual router: exact per-device usage from conntrack, end to end.

The daemon runs in the lab's router namespace; clients move real bytes to the
internet host; each client's own nftables counters are the ground truth.
"""

import sys

import pytest

from routerguard_lab import plan, udpstream
from routerguard_lab.lab_daemon import LabDaemon
from routerguard_lab.wait import wait_until

pytestmark = pytest.mark.lab  # needs root and the kernel (see tests/conftest.py)

TOLERANCE = 0.01


def usage(daemon, mac):
    return daemon.api("GET", f"/api/v1/devices/{mac}")["usage"]


def settled_usage(daemon, mac):
    """Usage once the last packets of finished transfers (FIN, ACK) have been counted."""
    return daemon.settled(lambda: usage(daemon, mac))


def assert_close(measured, truth, what):
    assert truth > 0, what
    assert abs(measured - truth) <= truth * TOLERANCE, f"{what}: metered {measured}, truth {truth}"


@pytest.fixture
def metered(lab):
    daemon = LabDaemon(lab).start()
    yield lab, daemon
    if daemon.proc.poll() is None:
        daemon.stop()


@pytest.mark.fw4
@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
def test_downloads_and_uploads_match_the_clients_own_counters(metered, v6):
    lab, daemon = metered
    one, two = lab.clients
    one.truth(reset=True), two.truth(reset=True)
    one.download(3_000_000, v6=v6)
    one.upload(1_000_000, v6=v6)
    two.download(500_000, v6=v6)
    daemon.wait_readings()
    for client in (one, two):
        truth_up, truth_down = client.truth()
        measured = usage(daemon, client.mac)
        assert_close(measured["up_bytes"], truth_up, f"{client} up")
        assert_close(measured["down_bytes"], truth_down, f"{client} down")


def test_short_connections_between_two_readings_are_all_counted(lab):
    daemon = LabDaemon(lab, poll_interval=5).start()
    client = lab.clients[0]
    client.truth(reset=True)
    urls = [lab.internet.url(f"/bytes/{1000 + i}") for i in range(150)]
    client.exec(["curl", "-sS", "-o", "/dev/null", "-H", "Connection: close", *urls])
    daemon.wait_readings()
    truth_up, truth_down = client.truth()
    measured = usage(daemon, client.mac)
    assert_close(measured["down_bytes"], truth_down, "down")
    assert_close(measured["up_bytes"], truth_up, "up")
    daemon.stop()


def test_usage_is_unchanged_across_a_restart(metered):
    lab, daemon = metered
    client = lab.clients[0]
    client.download(2_000_000)
    before = settled_usage(daemon, client.mac)
    assert daemon.stop() == 0
    daemon.start()
    daemon.wait_readings()
    assert usage(daemon, client.mac) == before
    client.download(1_000_000)
    daemon.wait_readings()
    assert usage(daemon, client.mac)["down_bytes"] > before["down_bytes"] + 1_000_000


def test_the_routers_own_traffic_is_its_own_line(metered):
    lab, daemon = metered
    lab.router.exec(["curl", "-sS", "-o", "/dev/null", lab.internet.url("/bytes/200000")])
    daemon.wait_readings()
    plan = daemon.api("GET", "/api/v1/plan")
    assert plan["router_bytes"] >= 200_000
    assert plan["used_bytes"] >= plan["router_bytes"]
    macs = {d["mac"] for d in daemon.api("GET", "/api/v1/devices")["devices"]}
    assert "router" not in macs


def test_traffic_from_an_ipv6_privacy_address_is_charged_to_its_device(metered):
    lab, daemon = metered
    client = lab.clients[1]
    client.truth(reset=True)
    client.download(1_000_000, v6=True, src=client.ip6_privacy)
    daemon.wait_readings()
    truth_up, truth_down = client.truth()
    measured = usage(daemon, client.mac)
    assert_close(measured["down_bytes"], truth_down, "down")
    assert client.ip6_privacy in daemon.api("GET", f"/api/v1/devices/{client.mac}")["ips"]


TCP_CLOSE_TIMEOUTS = ("time_wait", "close", "close_wait", "fin_wait", "last_ack")


@pytest.mark.lab
def test_connections_that_end_between_two_readings_are_counted_to_the_byte(lab):
    """Closed TCP leaves conntrack at once (1 s timeouts instead of TIME_WAIT's 120 s), so every one of these
    flows reaches the meter only through its DESTROY event, most without ever being in a dump."""
    lab.router.ns.sysctl({f"net.netfilter.nf_conntrack_tcp_timeout_{name}": 1 for name in TCP_CLOSE_TIMEOUTS})
    daemon = LabDaemon(lab, poll_interval=5).start()
    client = lab.clients[0]
    before = usage(daemon, client.mac)
    client.truth(reset=True)
    urls = [lab.internet.url(f"/bytes/{1000 + i}") for i in range(150)]
    client.exec(["curl", "-sS", "-o", "/dev/null", "-H", "Connection: close", *urls])
    wait_until(lambda: f"src={client.ip4} " not in lab.router.exec(["conntrack", "-L", "-p", "tcp"]).stdout,
               30, "conntrack to forget the closed connections")
    daemon.wait_readings()
    truth_up, truth_down = client.truth()
    measured = usage(daemon, client.mac)
    assert truth_down > 150 * 1000
    assert (measured["up_bytes"] - before["up_bytes"], measured["down_bytes"] - before["down_bytes"]) == \
        (truth_up, truth_down)
    daemon.stop()


@pytest.mark.fw4
def test_a_new_macs_bytes_are_charged_to_it_from_its_first_packet_across_its_registration(lab):
    """A MAC the daemon has not registered yet shares the newcomers' chain, whose counters cannot tell whose bytes
    they are: its flows are found by their newcomer mark (a filtered conntrack dump) until the daemon registers
    it, mid-download here, and the device's own counters count from the flow's next packet up."""
    daemon = LabDaemon(lab, poll_interval=1).start()
    client = lab.clients[0]
    try:
        client.set_mac("02:00:00:00:00:72")
        client.truth(reset=True)
        client.download(3_000_000, limit_rate="1M")  # three seconds: registered while it runs
        daemon.wait_readings()
        truth_up, truth_down = client.truth()
        measured = daemon.settled(lambda: usage(daemon, "02:00:00:00:00:72"))
        assert_close(measured["down_bytes"], truth_down, "down")
        assert_close(measured["up_bytes"], truth_up, "up")
    finally:
        daemon.stop()


@pytest.mark.fw4
def test_a_new_macs_bytes_before_its_flow_takes_its_mark_are_charged_to_it(lab):
    """A download that speaks up rarely (UDP, a datagram up every 400 kB): after the daemon registers the MAC, the
    flow keeps the newcomers' mark until its next packet up, and what arrived since the meter last dumped the
    newcomers' flows is in no dump. The newcomers' counters counted it; the meter charges it to the flows that
    left the newcomers' dump (account/newcomers.py)."""
    server = lab.internet.popen([sys.executable, "-m", "routerguard_lab.udpstream", "serve", plan.INTERNET4,
                                 str(udpstream.PORT)], stdout=-1, text=True)
    daemon = LabDaemon(lab, poll_interval=1)
    try:
        assert server.stdout.readline().strip() == "ready"
        daemon.start()
        client = lab.clients[0]
        client.set_mac("02:00:00:00:00:73")
        client.truth(reset=True)
        got = int(client.exec([sys.executable, "-m", "routerguard_lab.udpstream", "fetch", plan.INTERNET4,
                               str(udpstream.PORT), "3000000"], timeout=60).stdout)
        assert got > 2_000_000
        truth_up, truth_down = client.truth()
        measured = daemon.settled(lambda: usage(daemon, "02:00:00:00:00:73"))
        assert_close(measured["down_bytes"], truth_down, "down")
        assert_close(measured["up_bytes"], truth_up, "up")
    finally:
        if daemon.proc is not None:
            daemon.stop()
        server.kill()
        server.wait()
