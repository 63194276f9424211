"""Top-ups of a group and of the plan, and the plan's calibration, in the virtual router: the kernel lets a cut
scope back on (or cuts it) before the request returns, at the byte."""

import pytest

from routerguard_lab.lab_daemon import LabDaemon
from routerguard_lab.snmpd import SnmpAgent, free_udp_port
from routerguard_lab.wait import wait_until
from test_enforce import SLACK, assert_near, cut_download, device, refused_promptly, state, total, wait_state

pytestmark = pytest.mark.lab  # needs root and the kernel (see tests/conftest.py)

MB = 1_000_000


def counts(daemon) -> dict:
    """The plan's figures that settle once transfers end (not its forecast, which moves with the clock)."""
    plan = daemon.api("GET", "/api/v1/plan")
    return {key: plan[key] for key in ("used_bytes", "counted_bytes", "calibration_bytes", "remaining_bytes")}


def plan_section(quota: str) -> str:
    return f"\nconfig plan 'plan'\n\toption quota '{quota}'\n\toption period 'monthly'\n\toption action 'block'\n"


@pytest.fixture
def run(lab):
    daemons = []

    def start(extra, **options):
        daemons.append(LabDaemon(lab, extra, **options).start())
        return daemons[-1]

    yield start
    for daemon in daemons:
        if daemon.proc.poll() is None:
            daemon.stop()


def test_a_plan_topup_lets_a_cut_plan_back_on_at_once(lab, run):
    _, two = lab.clients
    daemon = run(plan_section("4MB"))
    assert_near(cut_download(two), 4 * MB, "the plan's download")
    wait_state(daemon, two.mac, "blocked")
    plan = daemon.api("POST", "/api/v1/plan/topup", {"bytes": 3 * MB})
    assert plan["allowance_bytes"] == 7 * MB and plan["remaining_bytes"] > 2 * MB
    assert state(daemon, two.mac) != "blocked"  # in the answer's wake, no reading needed
    assert_near(cut_download(two), 3 * MB, "download after a 3 MB top-up of the plan")
    wait_state(daemon, two.mac, "blocked")


def test_a_group_topup_lifts_the_groups_cut(lab, run):
    one, two = lab.clients
    group = "\nconfig group\n\toption id 'pair'\n\toption cap '4MB'\n\toption period 'daily'\n\toption action 'block'\n"
    daemon = run(group + device(one.mac, extra="\toption group 'pair'\n") + device(two.mac, extra="\toption group 'pair'\n"))
    assert_near(cut_download(one), 4 * MB, "the group's download")
    wait_state(daemon, two.mac, "blocked")
    assert refused_promptly(two)
    group = daemon.api("POST", "/api/v1/groups/pair/topup", {"bytes": 2 * MB})
    assert group["allowance_bytes"] == 6 * MB and group["state"] != "blocked"
    assert_near(cut_download(two), 2 * MB, "the other member's download after a 2 MB top-up of the group")
    wait_state(daemon, one.mac, "blocked")


def test_calibration_moves_the_plans_count_cuts_and_lets_back_on_at_the_byte(lab, run):
    _, two = lab.clients
    daemon = run(plan_section("20MB"))
    two.truth(reset=True)
    assert two.download(2 * MB) == 2 * MB
    counted = daemon.settled(lambda: daemon.api("GET", "/api/v1/plan")["counted_bytes"])
    assert counted >= total(two)

    plan = daemon.api("POST", "/api/v1/plan/calibrate", {"used_bytes": counted + 5 * MB})
    assert plan["used_bytes"] == counted + 5 * MB and plan["calibration_bytes"] == 5 * MB
    assert plan["remaining_bytes"] == 15 * MB - counted

    plan = daemon.api("POST", "/api/v1/plan/calibrate", {"used_bytes": 20 * MB})  # the carrier says it is all gone
    assert plan["remaining_bytes"] == 0 and state(daemon, two.mac) == "blocked"
    assert refused_promptly(two)  # cut by the answer, not at the next reading

    plan = daemon.api("POST", "/api/v1/plan/calibrate", {"left_bytes": 3 * MB})  # it was wrong: 3 MB are left
    assert plan["remaining_bytes"] == 3 * MB and state(daemon, two.mac) != "blocked"
    assert_near(cut_download(two), 3 * MB, "download after calibrating to 3 MB left")
    wait_state(daemon, two.mac, "blocked")
    plan = daemon.settled(lambda: counts(daemon))
    assert plan["calibration_bytes"] == plan["used_bytes"] - plan["counted_bytes"]
    assert abs(plan["remaining_bytes"]) <= SLACK


def test_calibration_shows_the_difference_beside_the_snmp_total(lab):
    port = free_udp_port()
    snmp = (f"config snmp 'wan'\n\toption host '127.0.0.1'\n\toption port '{port}'\n"
            "\toption if_name 'wan0'\n\toption interval '1'\n")
    with SnmpAgent(netns=lab.router.ns.name, port=port):
        daemon = LabDaemon(lab, plan_section("50MB") + snmp).start()
        try:
            wait_until(lambda: daemon.api("GET", "/api/v1/plan")["wan_snmp_bytes"] is not None, 30, "a first SNMP reading")
            lab.clients[0].download(3 * MB)
            counted = daemon.settled(lambda: daemon.api("GET", "/api/v1/plan")["counted_bytes"])
            carrier = counted + 1_234_567
            daemon.api("POST", "/api/v1/plan/calibrate", {"used_bytes": carrier})
            lab.clients[1].download(2 * MB)
            settled = daemon.settled(lambda: counts(daemon))
            assert settled["calibration_bytes"] == 1_234_567 and settled["counted_bytes"] >= counted + 2 * MB
            plan = daemon.api("GET", "/api/v1/plan")  # one view: the SNMP total moves with every ARP and ND packet
            assert plan["used_bytes"] == plan["counted_bytes"] + 1_234_567  # the count follows the carrier from then on
            assert plan["wan_snmp_bytes"] is not None
            assert plan["gap_bytes"] == plan["wan_snmp_bytes"] - plan["counted_bytes"]  # SNMP against what was metered
            status = daemon.routerguard("status").stdout
            assert "difference +1.2 MB" in status and "uplink counters (SNMP)" in status
        finally:
            daemon.stop()
