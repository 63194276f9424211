"""Caps enforced by the kernel in the virtual router: cut at the byte, both directions, end to end.

The daemon runs in the lab's router namespace; clients download from the
internet host at full speed (no rate limit), and their own nftables
counters (IP bytes both ways) are what they really got.
"""

import json
import signal
import subprocess
import sys
import time

import pytest

from routerguard.attribute.marks import mark_of
from routerguard_lab import plan
from routerguard_lab.lab_daemon import LabDaemon
from routerguard_lab.wait import wait_until

pytestmark = pytest.mark.lab  # needs root and the kernel (see tests/conftest.py)

SLACK = 256_000  # the most a cap may be missed by, either way
BIG = 20_000_000  # more than any cap here: a download that must be cut
TRANSFER_TIMEOUT = 20  # a cut transfer ends at once (the device gets a reset); this only stops a hung test
STATE_TIMEOUT = 10.0
PROMPT = 2.0  # seconds within which a refused connection must fail


def device(mac, cap=None, action="block", extra=""):
    text = f"\nconfig device\n\toption mac '{mac}'\n"
    if cap:
        text += f"\toption cap '{cap}'\n\toption period 'daily'\n\toption action '{action}'\n"
    return text + extra


def total(client):
    return sum(client.truth())


def state(daemon, mac):
    """The device's state, or None while the daemon has not seen it yet."""
    return next((d["state"] for d in daemon.api("GET", "/api/v1/devices")["devices"] if d["mac"] == mac), None)


def wait_state(daemon, mac, wanted):
    wait_until(lambda: state(daemon, mac) == wanted, STATE_TIMEOUT, f"{mac} to be {wanted}")


def cut_download(client):
    """Download far more than allowed; returns the IP bytes the client exchanged."""
    client.truth(reset=True)
    client.download(BIG, check=False, timeout=TRANSFER_TIMEOUT)
    return total(client)


def assert_near(measured, expected, what):
    assert abs(measured - expected) <= SLACK, f"{what}: {measured} bytes, expected {expected} within {SLACK}"


def refused_promptly(client, **options):
    started = time.monotonic()
    got = client.download(1000, check=False, timeout=PROMPT * 2, **options)
    return got == 0 and time.monotonic() - started < PROMPT


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


@pytest.mark.fw4
def test_a_capped_device_is_cut_at_its_cap_keeps_its_page_and_a_topup_or_reset_lets_it_back(lab, run):
    one, two = lab.clients
    daemon = run(device(one.mac, "5MB"))
    assert_near(cut_download(one), 5_000_000, "capped download")
    wait_state(daemon, one.mac, "blocked")

    page = f"http://{lab.router.lan_ip}:{plan.PAGE_PORT}"
    me = json.loads(one.exec(["curl", "-sS", "--fail", "--max-time", "5", f"{page}/api/v1/me"]).stdout)
    assert me["mac"] == one.mac and me["state"] == "blocked"
    redirect = one.exec(["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                         lab.internet.url("/bytes/1000", host="dl.example.test")]).stdout
    assert redirect == f"302 {page}/blocked"
    assert refused_promptly(one, v6=True)  # anything else is refused at once, not left to time out

    two.truth(reset=True)
    assert two.download(3_000_000) == 3_000_000 and state(daemon, two.mac) == "ok"

    assert daemon.api("POST", f"/api/v1/devices/{one.mac}/topup", {"bytes": 10_000_000})["state"] != "blocked"
    assert_near(cut_download(one), 10_000_000, "download after a 10 MB top-up")
    wait_state(daemon, one.mac, "blocked")
    assert daemon.api("POST", f"/api/v1/devices/{one.mac}/reset")["state"] != "blocked"
    assert_near(cut_download(one), 15_000_000, "download after a reset (the cap and this period's top-up)")


def test_a_group_of_two_shares_one_cap(lab, run):
    one, two = lab.clients
    group = "\nconfig group\n\toption id 'pair'\n\toption cap '6MB'\n\toption period 'daily'\n\toption action 'block'\n"
    daemon = run(group + device(one.mac, extra="\toption group 'pair'\n") + device(two.mac, extra="\toption group 'pair'\n"))
    one.truth(reset=True)
    assert one.download(2_000_000) == 2_000_000
    assert_near(total(one) + cut_download(two), 6_000_000, "the group's downloads")
    wait_state(daemon, one.mac, "blocked")
    assert state(daemon, two.mac) == "blocked"


def test_the_plan_cuts_everyone_but_exempt_devices_and_counts_them_too(lab, run):
    one, two = lab.clients
    quota = "\nconfig plan 'plan'\n\toption quota '6MB'\n\toption period 'monthly'\n\toption action 'block'\n"
    daemon = run(quota + device(one.mac, extra="\toption exempt '1'\n"))
    one.truth(reset=True)
    assert one.download(2_000_000) == 2_000_000
    spent_by_one = total(one)
    assert_near(cut_download(two), 6_000_000 - spent_by_one, "the plan's remainder")
    wait_state(daemon, two.mac, "blocked")
    assert one.download(2_000_000) == 2_000_000 and state(daemon, one.mac) == "exempt"


def test_a_device_never_seen_before_falls_under_the_default_cap(lab, run):
    one, two = lab.clients
    default = "\nconfig defaults 'new_device'\n\toption cap '4MB'\n\toption period 'daily'\n\toption action 'block'\n"
    daemon = run(default)
    stranger = "02:00:00:00:00:99"
    one.set_mac(stranger)
    assert_near(cut_download(one), 4_000_000, "a new MAC's first download")
    wait_state(daemon, stranger, "blocked")
    assert two.download(1_000_000) == 1_000_000


@pytest.mark.fw4
def test_a_throttled_device_runs_at_its_rate(lab, run):
    one, _ = lab.clients
    kbit = 2000
    daemon = run(device(one.mac, "100KB", "throttle", extra=f"\toption throttle '{kbit}kbit'\n"))
    one.download(300_000)  # uses the cap up
    wait_state(daemon, one.mac, "throttled")
    window = 6.0
    one.truth(reset=True)
    started = time.monotonic()
    one.download(BIG, check=False, timeout=window)
    rate_kbit = one.truth()[1] * 8 / 1000 / (time.monotonic() - started)
    assert 0.5 * kbit < rate_kbit <= 1.3 * kbit, f"{rate_kbit:.0f} kbit/s for a {kbit} kbit/s throttle"


def test_enforcement_survives_a_crash_and_a_restart(lab, run):
    one, two = lab.clients
    daemon = run(device(one.mac, "5MB"), commit_interval=1)
    assert_near(cut_download(one), 5_000_000, "capped download")
    wait_state(daemon, one.mac, "blocked")
    daemon.wait_readings(4)  # past a commit: the database holds the usage

    assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
    assert refused_promptly(one, v6=True)  # the table stays while no daemon runs
    assert two.download(1_000_000) == 1_000_000

    daemon.start()
    assert refused_promptly(one, v6=True) and state(daemon, one.mac) == "blocked"
    assert daemon.stop() == 0
    daemon.start()
    assert refused_promptly(one, v6=True) and state(daemon, one.mac) == "blocked"
    assert daemon.api("POST", f"/api/v1/devices/{one.mac}/topup", {"bytes": 1_000_000})["state"] != "blocked"
    assert_near(cut_download(one), 1_000_000, "download after a top-up across restarts")


def test_after_a_crash_mid_download_the_device_is_shown_as_cut_as_the_kernel_cut_it(lab, run):
    """No commit before the kill: the restarted daemon learns the device's usage from the kernel's counters."""
    one, _ = lab.clients
    daemon = run(device(one.mac, "5MB"))  # commit interval 60 s: the kill loses every reading
    one.truth(reset=True)
    transfer = one.popen(one.download_command(BIG, limit_rate="2M", timeout=TRANSFER_TIMEOUT), stdout=subprocess.DEVNULL)
    wait_until(lambda: total(one) > 1_500_000, STATE_TIMEOUT, "the download under way")
    assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
    transfer.wait()  # cut by the kernel at the cap, with no daemon running
    assert_near(total(one), 5_000_000, "capped download across the crash")

    daemon.start()
    assert state(daemon, one.mac) == "blocked"
    usage = daemon.api("GET", f"/api/v1/devices/{one.mac}")["usage"]
    assert_near(usage["up_bytes"] + usage["down_bytes"], total(one), "usage after the restart")
    assert refused_promptly(one, v6=True)


FLOWTABLE = f"""add flowtable inet labfw ft {{ hook ingress priority filter; devices = {{ {plan.LAN_IF}, {plan.WAN_IF} }}; counter; }}
insert rule inet labfw forward meta l4proto {{ tcp, udp }} flow add @ft
"""


def test_with_a_software_flowtable_check_says_so_and_a_blocked_device_stays_out(lab, run):
    """Like fw4's flow offloading: `flow add @ft` first in the firewall's forward chain."""
    added = lab.router.exec(["nft", "-f", "-"], input=FLOWTABLE, check=False)
    if added.returncode != 0:
        pytest.skip(f"this kernel has no flowtables (CONFIG_NF_FLOW_TABLE): {added.stderr.strip().splitlines()[0]}")
    one, two = lab.clients
    daemon = run(device(one.mac, "5MB"))
    assert "flow offloading is on (inet labfw ft)" in daemon.routerguard("check").stdout
    cut_download(one)  # offloaded: not cut at the byte (see docs/enforcement.md)
    wait_state(daemon, one.mac, "blocked")
    assert refused_promptly(one, v6=True)
    assert two.download(1_000_000) == 1_000_000


def test_a_devices_connections_are_ended_by_the_id_in_their_mark(lab):
    """What the daemon does to a newly blocked device's offloaded connections."""
    marks = {1000: mark_of(5), 1001: mark_of(5) | 0x3F00, 1002: mark_of(6), 1003: 0}
    for port, mark in marks.items():
        lab.router.exec(["conntrack", "-I", "-p", "udp", "-s", lab.clients[0].ip4, "-d", plan.INTERNET4,
                         "--sport", str(port), "--dport", "53", "--timeout", "60", "--mark", str(mark)])
    lab.router.exec([sys.executable, "-c", "from routerguard.enforce.teardown import end_connections; end_connections(5)"])
    left = lab.router.exec(["conntrack", "-L", "-p", "udp", "--dport", "53"]).stdout
    assert [port for port in marks if f"sport={port} " in left] == [1002, 1003]


def test_sighup_puts_back_a_table_flushed_by_someone_else(lab):
    daemon = LabDaemon(lab).start()
    table = ["nft", "list", "table", "inet", "routerguard"]
    assert lab.router.exec(table, check=False).returncode == 0
    lab.router.exec(["nft", "delete", "table", "inet", "routerguard"])
    daemon.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: lab.router.exec(table, check=False).returncode == 0, 20, "the table to come back")
    daemon.stop()
