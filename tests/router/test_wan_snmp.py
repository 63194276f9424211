"""The carrier-side total in /api/v1/plan, read from a real snmpd in the lab's router, against what routerguard
metered for the devices."""

import pytest

from routerguard_lab.lab_daemon import LabDaemon
from routerguard_lab.snmpd import SnmpAgent, free_udp_port
from routerguard_lab.wait import wait_until

pytestmark = pytest.mark.lab  # needs root and the kernel (see tests/conftest.py)

TOLERANCE = 0.02  # the uplink's counters also carry Ethernet headers (14 bytes a packet), ARP and ND


def devices_bytes(daemon) -> int:
    """routerguard's own count: every device's usage this period, summed."""
    return sum(d["usage"]["total_bytes"] for d in daemon.api("GET", "/api/v1/devices")["devices"])


def test_plan_shows_the_snmp_total_beside_the_devices_within_2_percent(lab):
    port = free_udp_port()
    snmp = (f"config snmp 'wan'\n\toption host '127.0.0.1'\n\toption port '{port}'\n"
            "\toption if_name 'wan0'\n\toption interval '1'\n")
    with SnmpAgent(netns=lab.router.ns.name, port=port):
        daemon = LabDaemon(lab, snmp).start()
        plan = wait_until(lambda: (p := daemon.api("GET", "/api/v1/plan"))["wan_snmp_bytes"] is not None and p, 30,
                          "a first SNMP reading")
        base_snmp, base_devices = plan["wan_snmp_bytes"], daemon.settled(lambda: devices_bytes(daemon))
        lab.clients[0].download(4_000_000)
        lab.clients[1].upload(1_000_000)
        metered = daemon.settled(lambda: devices_bytes(daemon)) - base_devices
        assert metered > 4_900_000

        def converged():
            counted = daemon.api("GET", "/api/v1/plan")["wan_snmp_bytes"] - base_snmp
            return abs(counted - metered) <= metered * TOLERANCE

        wait_until(converged, 30, "the SNMP total to come within 2% of the devices' metered usage")
        daemon.wait_readings()
        plan = daemon.api("GET", "/api/v1/plan")
        assert plan["used_bytes"] > 4_900_000
        assert plan["gap_bytes"] == plan["wan_snmp_bytes"] - plan["used_bytes"]
        daemon.stop()


def test_plan_without_snmp_says_null(lab):
    daemon = LabDaemon(lab).start()
    assert daemon.api("GET", "/api/v1/plan")["wan_snmp_bytes"] is None
    daemon.stop()
