"""The enforcement table as text, and the desired state behind it: pure, no kernel.

The scripts' syntax is checked by nft itself (`nft -c`) in a throwaway
network namespace, so nothing on this machine's firewall changes.
"""

import dataclasses
import os
import shutil
import subprocess

import pytest

from routerguard.account.clock import Clock
from routerguard.core import Core
from routerguard.enforce import nft, ruleset
from routerguard.enforce.captive import Responder
from routerguard.decide.limits import starts_in_force
from routerguard.decide.uplinks import metered_uplinks
from routerguard.enforce.desired import build
from routerguard.attribute.marks import MARK_MASK, RELEASE_AFTER, Marks, mark_of
from routerguard.enforce.enforcer import Enforcer
from routerguard.enforce.nft import parse_flowtables
from routerguard.enforce.ruleset import Captive, Device, Guard, Quota, Ruleset
from routerguard.read.leases import Lease
from routerguard.read.neighbours import Neighbour
from routerguard.service import Service
from test_service import CONFIG, A, B, C  # plan 1 GB, default cap 100 MB throttled, group zhang (A, B), C capped

X = "02:00:00:00:00:0d"
DAY = 86400
NOON = 1_800_000_000 - 1_800_000_000 % DAY + DAY / 2  # a UTC noon well after MIN_PLAUSIBLE_TIME

RULES = Ruleset(
    "br-lan", ("wan0", "wwan0"),
    quotas=(Quota("q_dev1_aa", 5_000_000, 7_000_000, "device:a since 0"), Quota("q_grp_zhang-1_bb", 0),
            Quota("q_plan_cc", 10**10, 12_345)),
    devices=(Device(A, 1, Guard(cuts=("q_dev1_aa", "q_grp_zhang-1_bb", "q_plan_cc")), ("192.168.8.23", "fd00:8::23")),
             Device(B, 2, Guard(counts=("q_grp_zhang-1_bb", "q_plan_cc"))),
             Device(C, 3, Guard(throttles=(("q_plan_cc", 256),), blocked=True, throttle_kbit=128))),
    newcomer=Guard(cuts=("q_plan_cc",)),
    plan="q_plan_cc",
    captive=Captive(8081, "192.168.8.1", "fd00:8::1"),
)
SMALLER = Ruleset("br-lan", ("wan0",), quotas=(Quota("q_dev1_aa", 9_000_000),),
                  devices=(Device(A, 1, Guard(cuts=("q_dev1_aa",))),))


def lines(script, start):
    return [line for line in script.splitlines() if line.startswith(start)]


def chain(script, name):
    return [line.split(f" {name} ", 1)[1] for line in lines(script, f"add rule inet routerguard {name} ")]


def counted(device_id):
    """The two rules a device's chain starts with: its bytes up and down, for recovery after a restart."""
    return [f'iifname "br-lan" counter name "c_dev_{device_id}_up"', f'oifname "br-lan" counter name "c_dev_{device_id}_down"']


def guard(script, device_id):
    """A device's chain after its counters."""
    rules = chain(script, f"dev_{device_id}")
    assert rules[:2] == counted(device_id)
    return rules[2:]


# --- the scripts -----------------------------------------------------------------


def test_creating_replaces_our_table_and_no_other():
    script = ruleset.create(RULES)
    assert script.splitlines()[:3] == ["add table inet routerguard", "delete table inet routerguard",
                                       "add table inet routerguard"]
    assert {line.split()[2] for line in script.splitlines()} == {"inet"}
    assert {line.split()[3] for line in script.splitlines()} == {"routerguard"}


def test_the_device_id_is_written_with_constant_masks_keeping_other_tools_bits():
    (rule,) = chain(ruleset.create(RULES), "mark_3")
    keep = 0xFFFFFFFF & ~MARK_MASK
    assert rule == f"ct mark set ct mark and {keep:#010x} or {mark_of(3):#010x}"
    assert keep & 0x3F00 == 0x3F00  # mwan3's bits survive


def test_upstream_marks_flows_by_mac_and_both_directions_dispatch_by_mark():
    script = ruleset.create(RULES)
    upstream, downstream = chain(script, "upstream"), chain(script, "downstream")
    assert "ether saddr vmap @dev_by_mac" in upstream[0]
    assert any("vmap @dev_by_mark" in rule for rule in upstream)
    assert "vmap @dev_by_mark" in downstream[0] and "ether" not in " ".join(downstream)
    assert 'forward iifname "br-lan" oifname { "wan0", "wwan0" } jump upstream' in script
    assert f"{mark_of(2):#010x} : goto dev_2" in script and f"{A} : jump mark_1" in script


def test_a_flow_opened_from_the_internet_reaches_its_devices_chain_by_address_until_the_device_marks_it():
    script = ruleset.create(RULES)
    downstream = chain(script, "downstream")
    assert downstream[1:3] == ["ip daddr vmap @dev_by_ip4", "ip6 daddr vmap @dev_by_ip6"]  # after the mark's
    assert "add element inet routerguard dev_by_ip4 { 192.168.8.23 : goto dev_1 }" in script
    assert "add element inet routerguard dev_by_ip6 { fd00:8::23 : goto dev_1 }" in script
    assert not any("dev_by_ip" in rule for rule in chain(script, "upstream"))  # the MAC marks; addresses never do


def test_an_update_replaces_the_addresses():
    script = ruleset.update(SMALLER, ruleset.present_after(RULES))
    assert {"flush map inet routerguard dev_by_ip4", "flush map inet routerguard dev_by_ip6"} <= set(script.splitlines())
    assert not lines(script, "add element inet routerguard dev_by_ip")


def test_a_device_is_charged_every_quota_and_cut_by_any():
    assert guard(ruleset.create(RULES), 1) == [
        'quota name "q_dev1_aa" goto cut', 'quota name "q_grp_zhang-1_bb" goto cut', 'quota name "q_plan_cc" goto cut']


def test_an_exempt_device_spends_its_group_and_the_plan_but_is_never_cut():
    assert guard(ruleset.create(RULES), 2) == ['quota name "q_grp_zhang-1_bb"', 'quota name "q_plan_cc"']


def test_a_blocked_device_is_cut_first_and_its_web_requests_redirected():
    script = ruleset.create(RULES)
    assert guard(script, 3)[0] == "goto cut"
    assert f"add element inet routerguard blocked {{ {C} }}" in script
    captive = chain(script, "captive")
    assert captive == [
        'iifname "br-lan" ether saddr @blocked fib daddr type != local tcp dport 80 dnat ip to 192.168.8.1:8081',
        'iifname "br-lan" ether saddr @blocked fib daddr type != local tcp dport 80 dnat ip6 to [fd00:8::1]:8081']


def test_a_throttle_limits_each_direction_to_its_rate():
    script = ruleset.create(RULES)
    assert chain(script, "newcomer")[2:] == ['quota name "q_plan_cc" goto cut']
    slow = ruleset.create(dataclasses.replace(RULES, newcomer=Guard(throttles=(("q_plan_cc", 256),))))
    assert chain(slow, "newcomer")[2:] == [
        'iifname "br-lan" quota name "q_plan_cc" limit name "lim_newcomer_256_up" drop',
        'oifname "br-lan" quota name "q_plan_cc" limit name "lim_newcomer_256_down" drop']
    assert ("add limit inet routerguard lim_newcomer_256_up { rate over 32000 bytes/second burst "
            f"{ruleset.LIMIT_BURST} bytes; }}") in slow


def test_a_packet_passes_one_limiter_per_rate_when_the_daemon_slows_it_too():
    rules = guard(ruleset.create(RULES), 3)
    assert rules[1:] == ['quota name "q_plan_cc"',  # 256 kbit: the daemon's 128 kbit holds it already
                         'iifname "br-lan" limit name "lim_dev_3_128_up" drop',
                         'oifname "br-lan" limit name "lim_dev_3_128_down" drop']
    faster = Guard(throttles=(("q_a", 64), ("q_b", 512)), throttle_kbit=128)
    assert faster.slowed() == [("q_a", 64), (None, 128)]


def test_cut_tells_the_device_then_rejects():
    cut = chain(ruleset.create(RULES), "cut")
    assert "tcp flags set rst|ack accept" in cut[0] and cut[0].startswith('oifname "br-lan"')
    assert "ct state != new" in cut[0]  # a connection opened from the internet is refused to its opener
    assert cut[1:] == ["meta l4proto tcp reject with tcp reset", "reject with icmpx admin-prohibited"]


def test_a_new_quota_starts_from_its_usage_but_never_above_its_limit():
    script = ruleset.create(RULES)
    assert ('add quota inet routerguard q_dev1_aa { over 5000000 bytes used 5000000 bytes; comment "device:a since 0"; }'
            in script)
    assert "add quota inet routerguard q_plan_cc { over 10000000000 bytes used 12345 bytes; }" in script


def test_the_routers_own_traffic_is_counted_and_spends_the_plan_only_with_a_plan():
    assert chain(ruleset.create(RULES), "router_out") == [
        'oifname { "wan0", "wwan0" } ct direction original counter name "c_router_up" quota name "q_plan_cc"']
    assert chain(ruleset.create(SMALLER), "router_in") == [
        'iifname { "wan0" } ct direction reply counter name "c_router_down"']


def test_every_device_and_the_router_have_counters_and_the_newcomers_one_pair_together():
    script = ruleset.create(RULES)
    assert lines(script, "add counter ") == [f"add counter inet routerguard {name}" for name in (
        "c_dev_1_up", "c_dev_1_down", "c_dev_2_up", "c_dev_2_down", "c_dev_3_up", "c_dev_3_down",
        "c_newcomer_up", "c_newcomer_down", "c_router_up", "c_router_down",
        "c_dns_1_up", "c_dns_1_down", "c_dns_2_up", "c_dns_2_down", "c_dns_3_up", "c_dns_3_down")]  # test_guard_ruleset.py
    assert chain(script, "newcomer")[:2] == ['iifname "br-lan" counter name "c_newcomer_up"',
                                             'oifname "br-lan" counter name "c_newcomer_down"']
    assert script.index("add counter") < script.index('counter name "c_dev_1_up"')


def test_an_update_keeps_counters_and_deletes_only_those_of_devices_gone():
    script = ruleset.update(SMALLER, ruleset.present_after(RULES))
    assert "add counter inet routerguard c_dev_1_up" in script
    deleted = lines(script, "delete counter ")
    assert deleted == [f"delete counter inet routerguard {name}" for name in (
        "c_dev_2_down", "c_dev_2_up", "c_dev_3_down", "c_dev_3_up",
        "c_dns_2_down", "c_dns_2_up", "c_dns_3_down", "c_dns_3_up")]


def test_an_update_keeps_every_wanted_object_and_deletes_the_rest():
    script = ruleset.update(SMALLER, ruleset.present_after(RULES))
    assert script.startswith("flush table inet routerguard\n")
    assert "add quota inet routerguard q_dev1_aa { over 9000000 bytes used 0 bytes; }" in script
    deleted = lines(script, "delete ")
    assert "delete quota inet routerguard q_plan_cc" in deleted and "delete quota inet routerguard q_dev1_aa" not in deleted
    assert {"delete chain inet routerguard dev_3", "delete chain inet routerguard mark_2",
            "delete chain inet routerguard captive", "delete limit inet routerguard lim_dev_3_128_up"} <= set(deleted)
    assert script.index("delete ") > script.index("add rule")  # nothing refers to them any more


def test_a_recounted_quota_is_made_anew_before_anything_refers_to_it():
    script = ruleset.update(SMALLER, ruleset.present_after(RULES), recount=frozenset({"q_dev1_aa"}))
    assert script.index("delete quota inet routerguard q_dev1_aa") < script.index("add quota inet routerguard q_dev1_aa")
    assert script.index("flush table") < script.index("delete quota inet routerguard q_dev1_aa")


@pytest.mark.lab
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("unshare"),
                    reason="nft -c needs root and a throwaway network namespace (unshare)")
@pytest.mark.parametrize("script", [
    ruleset.create(RULES),
    ruleset.create(ruleset.probe("br-lan", ("wan0",))),
    ruleset.create(SMALLER) + ruleset.update(RULES, ruleset.present_after(SMALLER))
    + ruleset.update(SMALLER, ruleset.present_after(RULES), recount=frozenset({"q_dev1_aa"})),
    ruleset.create(dataclasses.replace(RULES, wan_ifs=())),  # every uplink free: the DNS guard and counters still
], ids=["create", "probe", "create-then-updates", "no-metered-uplink"])
def test_nft_accepts_the_scripts(script):
    proc = subprocess.run(["unshare", "--net", "nft", "-c", "-f", "-"], input=script, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_flowtables_and_hardware_offload_are_found_in_the_listing():
    listing = """table inet fw4 {
\tflowtable ft {
\t\thook ingress priority filter
\t\tdevices = { br-lan, wan }
\t\tflags offload
\t\tcounter
\t}
}
table ip other {
\tflowtable soft {
\t\thook ingress priority filter
\t\tdevices = { eth0 }
\t}
}
"""
    assert parse_flowtables(listing) == ["inet fw4 ft (hardware)", "ip other soft"]
    assert parse_flowtables("") == []


# --- the desired state, from a real Core (config file + SQLite) ----------------------

UNMETERED_UPLINK = """
config uplink
\toption ifname 'wlan-sta'
\toption metered '0'
"""


class Wall:
    """A settable wall clock for the Core's Clock: periods roll over when a test says so."""

    def __init__(self) -> None:
        self.now = NOON

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def wall():
    return Wall()


@pytest.fixture
def service(tmp_path, wall):
    path = tmp_path / "routerguard"
    path.write_text(CONFIG.format(data=tmp_path / "data", a=A, b=B, c=C) + UNMETERED_UPLINK)
    core = Core(str(path))
    core.clock = Clock(wall=wall, monotonic=wall)
    service = Service(core)
    service.patch_device(B, {"exempt": True})
    return service


def desired(service):
    return build(service.core, Marks(service.core.db), None)


def charge(service, mac, nbytes):
    service.core.ledger.add(mac, 0, nbytes, service.core.now())


def device(rules, mac):
    return next(d for d in rules.devices if d.mac == mac)


def quota(rules, name):
    return next(q for q in rules.quotas if q.name == name)


def test_group_members_share_one_quota_and_an_exempt_member_only_spends_it(service):
    rules = desired(service)
    a, b = device(rules, A).guard, device(rules, B).guard
    group = [name for name in a.cuts if name.startswith("q_grp_zhang_")]
    assert group and group[0] in b.counts and not b.cuts
    assert rules.plan in a.cuts and rules.plan in b.counts
    assert quota(rules, group[0]).allowance == 50_000_000


def test_a_topup_keeps_the_quota_object_and_raises_its_limit(service):
    charge(service, C, 10_000_000)
    before = desired(service)
    assert device(before, C).guard.blocked
    service.topup(C, {"bytes": 5_000_000})
    after = desired(service)
    (own,) = [name for name in device(after, C).guard.cuts if name.startswith("q_dev")]
    assert own in {q.name for q in before.quotas}
    assert quota(after, own).allowance == 15_000_000 and not device(after, C).guard.blocked


def test_a_reset_or_a_new_period_starts_a_new_quota_from_the_ledger(service, wall):
    charge(service, C, 4_000_000)
    first = {q.name for q in desired(service).quotas}
    service.reset(C)
    after_reset = desired(service)
    (own,) = [name for name in device(after_reset, C).guard.cuts if name.startswith("q_dev")]
    assert own not in first and quota(after_reset, own).used == 0
    charge(service, C, 1_000_000)
    wall.now += DAY
    next_day = desired(service)
    (own_tomorrow,) = [name for name in device(next_day, C).guard.cuts if name.startswith("q_dev")]
    assert own_tomorrow != own and quota(next_day, own_tomorrow).used == 0
    assert next_day.plan == after_reset.plan  # the monthly plan goes on


def test_a_device_never_seen_gets_the_default_cap_and_newcomers_share_one(service):
    charge(service, X, 1000)
    rules = desired(service)
    ((own, kbit),) = device(rules, X).guard.throttles
    assert own.startswith("q_dev") and kbit == 256 and quota(rules, own).allowance == 100_000_000
    ((newcomers, _),) = rules.newcomer.throttles
    assert newcomers.startswith("q_newcomers_") and rules.plan in rules.newcomer.cuts


def test_a_device_that_passed_by_keeps_its_id_under_the_newcomers_guard_until_it_is_given_back(service, wall):
    core = service.core
    service.set_plan(None)  # only daily caps: yesterday's usage is in no period in force today
    marks = Marks(core.db)
    charge(service, X, 1000)
    x_id = device(build(core, marks, None), X).id
    wall.now += DAY
    core.ledger.keep_windows(starts_in_force(core.config, core.now(), core.zone))
    assert X not in core.known_macs()
    later = build(core, marks, None)
    assert device(later, X).id == x_id and device(later, X).guard == later.newcomer
    wall.now += RELEASE_AFTER  # longer than any flow of it can live
    assert X not in {d.mac for d in build(core, marks, None).devices} and X not in marks.macs()


def test_each_device_is_found_by_the_addresses_it_has_now_except_link_local_ones(service):
    lease = Lease(A, "192.168.8.23", None, 0)
    service.core.directory.refresh([Neighbour("fd00:8::23", A, 5), Neighbour("fe80::23", A, 5)], [lease], 5, NOON)
    assert device(desired(service), A).addresses == ("192.168.8.23", "fd00:8::23")
    service.core.directory.refresh([Neighbour("fd00:8::24", A, 5)], [], 5, NOON)
    assert device(desired(service), A).addresses == ("fd00:8::24",)  # not every address it ever had
    assert device(desired(service), C).addresses == ()


def test_a_manual_block_and_an_exhausted_plan_are_the_daemons_own_decisions(service):
    service.patch_device(A, {"blocked": True})
    charge(service, "router", 10**9)
    rules = desired(service)
    assert device(rules, A).guard.blocked and device(rules, C).guard.blocked
    assert not device(rules, B).guard.blocked  # exempt


def test_usage_alone_changes_nothing_the_kernel_holds(service):
    """Every reading builds the wanted state; only a change of allowance, basis or decision reaches nft."""
    before = desired(service)
    charge(service, C, 1_000_000)
    charge(service, A, 1_000_000)
    assert desired(service) == before


def test_device_ids_are_stable_across_restarts(service):
    ids = {d.mac: d.id for d in desired(service).devices}
    marks = Marks(service.core.db)
    assert {mac: marks.id_for(mac, 0) for mac in ids} == ids
    assert marks.mac_of_mark(mark_of(ids[C]) | 0x80003F00) == C  # other tools' bits do not matter
    assert marks.mac_of_mark(0x3F00) is None


def test_only_metered_uplinks_are_guarded(service):
    assert metered_uplinks(service.core.config) == ("wwan0",)


def test_without_nft_the_daemon_carries_on_and_says_so_once(service, monkeypatch, caplog):
    monkeypatch.setattr(nft, "NFT", "/nonexistent/nft")
    enforcer = Enforcer(service.core)
    enforcer.start(None)
    enforcer.sync()
    enforcer.sync()
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "could not update the kernel's caps" in errors[0].getMessage()
    enforcer.close()


def test_the_redirect_is_only_served_on_an_address_the_kernel_can_send_devices_to():
    assert Responder((("127.0.0.1", 8080), ("0.0.0.0", 8080), ("::", 8080))).start() is None
