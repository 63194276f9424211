"""routerguard beside OpenWrt's real fw4 in the virtual router: what OpenWrt does to the firewall, survived.

`/etc/init.d/firewall stop` runs `fw4 flush`, which deletes every table
(`nft flush ruleset` does the same); `fw4 reload` and `restart` replace
only `inet fw4` (`nft -f` of its ruleset: `table inet fw4; flush table
inet fw4` and the table again, or the table deleted first). routerguard
hears of the flush from the kernel's nftables events and puts its table
back with the quotas' counts, so a capped device stays cut. The time it
took is printed (`-s`) and recorded in docs/enforcement.md, not asserted.
"""

import json
import signal
import time
from pathlib import Path

import pytest

from routerguard_lab import plan
from routerguard_lab.lab_daemon import LabDaemon
from routerguard_lab.topology import fw4_ruleset
from routerguard_lab.wait import wait_until
from test_enforce import PROMPT, cut_download, device, refused_promptly, wait_state
from test_metering import usage

pytestmark = pytest.mark.lab  # needs root and the kernel (see tests/conftest.py)

BACK_TIMEOUT = 5.0  # generous: the table is back well within 2 s (measured, printed)
TABLE = ["table", "inet", "routerguard"]
FW4_CONFIG = Path(__file__).resolve().parents[2] / "routerguard_lab" / "fw4" / "config"


def tables(lab):
    return lab.router.exec(["nft", "list", "tables"]).stdout.split("\n")


def has_table(lab):
    return lab.router.exec(["nft", "list", *TABLE], check=False).returncode == 0


def quota_used(lab, mac):
    """The kernel's count of the quota that caps `mac` (its comment names the device)."""
    listing = json.loads(lab.router.exec(["nft", "-j", "list", "quotas", *TABLE]).stdout)["nftables"]
    quotas = [item["quota"] for item in listing if "quota" in item and mac in item["quota"].get("comment", "")]
    assert len(quotas) == 1, quotas
    return quotas[0]["used"], quotas[0]["bytes"]


def measured_return(lab, action):
    """Run `action` in the router, then wait for our table: the seconds it was gone."""
    started = time.monotonic()
    lab.router.exec(["sh", "-c", action])
    wait_until(lambda: has_table(lab), BACK_TIMEOUT, "routerguard's table to come back")
    return time.monotonic() - started


@pytest.fixture
def fw4_lab(lab_factory):
    return lab_factory(firewall="fw4")


def test_fw4_is_the_routers_firewall_and_drops_what_it_does_not_allow(fw4_lab):
    lab, one = fw4_lab, fw4_lab.clients[0]
    assert "table inet fw4" in tables(lab) and "table inet labfw" not in tables(lab)
    assert one.download(100_000) == 100_000  # lan -> wan forwarded and masqueraded by fw4
    refused = lab.internet.exec(["curl", "-sS", "-g", "--max-time", str(PROMPT), f"http://[{one.ip6}]:{plan.HTTP_PORT}/"],
                                check=False)
    assert refused.returncode != 0  # wan -> lan: fw4's forward chain rejects a new connection


def test_a_flushed_ruleset_is_back_at_once_and_a_capped_device_stays_cut_with_its_count(fw4_lab):
    lab = fw4_lab
    one, two = lab.clients
    daemon = LabDaemon(lab, device(one.mac, "5MB"))
    daemon.start()
    try:
        cut_download(one)
        wait_state(daemon, one.mac, "blocked")
        used, allowance = quota_used(lab, one.mac)
        assert used >= allowance

        took = measured_return(lab, "nft flush ruleset")  # what `fw4 flush` (firewall stop) does
        print(f"\nrouterguard's table back {took * 1000:.0f} ms after `nft flush ruleset`")
        assert "table inet fw4" not in tables(lab)  # nobody else's table is put back
        assert quota_used(lab, one.mac)[0] >= min(used, allowance)  # its count kept: still over
        assert refused_promptly(one, v6=True) and refused_promptly(one)

        lab.router.exec(["nft", "-f", "-"], input=fw4_ruleset())  # fw4 start again
        assert two.download(1_000_000) == 1_000_000
        assert refused_promptly(one)

        lab.router.exec(["nft", "-f", "-"], input=fw4_ruleset())  # fw4 reload: flush table inet fw4, re-add
        lab.router.exec(["sh", "-c", "nft delete table inet fw4 && nft -f -"], input=fw4_ruleset())  # fw4 restart
        assert has_table(lab) and refused_promptly(one) and two.download(1_000_000) == 1_000_000

        took = measured_return(lab, "nft delete table inet routerguard")
        print(f"routerguard's table back {took * 1000:.0f} ms after `nft delete table inet routerguard`")
        took = measured_return(lab, "nft flush table inet routerguard")  # the table stays, its rules go
        wait_until(lambda: refused_promptly(one), BACK_TIMEOUT, "the cut to hold again after `nft flush table`")
        assert quota_used(lab, one.mac)[0] >= min(used, allowance)
        assert state_after(daemon, one.mac) == "blocked"
    finally:
        daemon.stop()
    assert "emptied by another program" in daemon.log()


def state_after(daemon, mac):
    daemon.wait_readings()
    return next(d["state"] for d in daemon.api("GET", "/api/v1/devices")["devices"] if d["mac"] == mac)


def test_with_fw4s_offloading_on_check_and_the_plan_say_so(lab_factory):
    """fw4 with `flow_offloading '1'` on a kernel without flowtables: the ruleset cannot say it, the UCI file does."""
    lab = lab_factory(clients=1, firewall="fw4-offload")
    firewall = FW4_CONFIG / "firewall.offload-on"
    daemon = LabDaemon(lab, f"\toption firewall_config '{firewall}'\n")
    daemon.start()
    try:
        found = "firewall.@defaults[0].flow_offloading='1'"
        checked = daemon.routerguard("check").stdout
        assert f"flow offloading is on ({found})" in checked and "fw4 reload" in checked
        assert daemon.api("GET", "/api/v1/plan")["flow_offloading"] == {"found": [found], "hardware": False}
        assert lab.clients[0].download(1_000_000) == 1_000_000
    finally:
        daemon.stop()
    assert "flow offloading is on" in daemon.log()


def test_the_fw4_include_holds_caps_from_the_firewalls_start_before_the_daemon_runs(fw4_lab):
    lab = fw4_lab
    one, two = lab.clients
    path = f"{lab.dir}/nftables.d/ruleset-post/30-routerguard.nft"
    daemon = LabDaemon(lab, f"\toption fw4_include '{path}'\n" + device(one.mac, "5MB"))
    daemon.start()
    cut_download(one)
    wait_state(daemon, one.mac, "blocked")
    wait_until(lambda: one.mac in open(path).read() and "goto cut" in open(path).read(), 10, "the include written")
    used, allowance = quota_used(lab, one.mac)
    assert daemon.stop() == 0  # a reboot stops it cleanly (its last reading committed)

    with open(path) as f:
        included = f.read()
    fw4_start = fw4_ruleset() + included  # fw4 puts ruleset-post/*.nft into the one script it loads
    lab.router.exec(["nft", "flush", "ruleset"])  # a reboot: no table at all
    lab.router.exec(["nft", "-f", "-"], input=fw4_start)
    assert refused_promptly(one) and two.download(1_000_000) == 1_000_000  # cut with no daemon running
    assert quota_used(lab, one.mac)[0] >= min(used, allowance)
    lab.router.exec(["nft", "-f", "-"], input=fw4_start)  # fw4 reload over the live table: nothing lost
    assert quota_used(lab, one.mac)[0] >= min(used, allowance) and refused_promptly(one)
    assert lab.router.exec(["nft", "list", *TABLE]).stdout.count("goto cut") == \
        included.count("goto cut")  # its rules once, not twice

    daemon.start()
    try:
        assert state_after(daemon, one.mac) == "blocked" and refused_promptly(one)
    finally:
        daemon.stop()


def test_interfaces_going_and_coming_back_leave_caps_and_metering_working(fw4_lab):
    """The uplink goes down and up (netifd then restores its routes, hotplug runs `fw4 reload` and tells routerguard),
    and a LAN port leaves the bridge and joins again: every rule matches interfaces by name."""
    lab = fw4_lab
    one, two = lab.clients
    daemon = LabDaemon(lab, device(one.mac, "5MB"))
    daemon.start()
    try:
        cut_download(one)
        wait_state(daemon, one.mac, "blocked")
        lab.router.ns.ip_batch([f"link set {plan.WAN_IF} down", f"link set {plan.WAN_IF} up",
                                f"route replace default via {plan.INTERNET4}",
                                f"addr replace {plan.ROUTER_WAN6}/{plan.WAN6_PREFIXLEN} dev {plan.WAN_IF} nodad",
                                f"route replace ::/0 via {plan.INTERNET6}",
                                "link set lan2 nomaster", "link set lan2 master br-lan"])
        lab.router.exec(["nft", "-f", "-"], input=fw4_ruleset())  # hotplug's fw4 reload on ifup
        daemon.proc.send_signal(signal.SIGUSR1)  # routerguard's hotplug script: an uplink went up
        wait_until(lambda: two.download(1000, check=False, timeout=2) == 1000, 10, "the LAN port forwarding again")
        before = usage(daemon, two.mac)["total_bytes"]
        two.truth(reset=True)
        assert two.download(1_000_000) == 1_000_000
        wait_until(lambda: usage(daemon, two.mac)["total_bytes"] - before >= sum(two.truth()), 10, "the download metered")
        assert refused_promptly(one) and refused_promptly(one, v6=True)
        assert state_after(daemon, one.mac) == "blocked"
    finally:
        daemon.stop()
