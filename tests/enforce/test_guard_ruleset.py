"""The DNS guard in the enforcement table: a cut or unapproved device's DNS to the router limited. Pure, plus `nft -c`."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import pytest

from routerguard.attribute.marks import NEWCOMER_ID, mark_of
from routerguard.enforce import recovery, ruleset
from routerguard.enforce.ruleset import Device, Guard, Present
from test_ruleset import A, B, RULES, SMALLER, chain, lines

DNS = 'iifname "br-lan" meta l4proto { tcp, udp } th dport 53'


def test_the_cut_devices_dns_is_limited_per_mac_and_tcp_refused():
    rules = chain(ruleset.create(RULES), "dns_guard")
    assert 'iifname "br-lan" tcp dport 53 ether saddr @blocked reject with tcp reset' in rules
    assert ('iifname "br-lan" udp dport 53 ether saddr @blocked update @dns_rate'
            ' { ether saddr limit rate over 20/second burst 50 packets } drop') in rules
    answers = chain(ruleset.create(RULES), "dns_answers")
    assert answers[0] == ('oifname "br-lan" udp sport 53 ct mark and 0x7fff0000 @held_marks update @dns_down'
                          ' { ct mark and 0x7fff0000 limit rate over 2 kbytes/second burst 4 kbytes } drop')
    assert f"add element inet routerguard held_marks {{ {mark_of(3):#010x} }}" in ruleset.create(RULES)  # C, blocked


def test_under_approve_every_mac_but_the_free_ones_is_held():
    approve = dataclasses.replace(RULES, dns_free=(RULES.devices[1].mac,))
    script = ruleset.create(approve)
    assert all("ether saddr != @dns_free" in rule for rule in chain(script, "dns_guard")[:1])
    assert f"add element inet routerguard dns_free {{ {RULES.devices[1].mac} }}" in script
    assert not lines(ruleset.create(RULES), "add element inet routerguard dns_free")


def test_an_update_keeps_the_dns_chains_and_refills_the_free_set():
    script = ruleset.update(RULES, ruleset.present_after(SMALLER))
    assert "flush set inet routerguard dns_free" in script
    assert {"flush set inet routerguard held_marks", "flush map inet routerguard dns_count_up",
            "flush map inet routerguard dns_count_down"} <= set(script.splitlines())
    assert "delete chain inet routerguard dns_guard" not in script
    assert {"dns_guard", "dns_answers"} <= ruleset.present_after(RULES).chains


def test_under_approve_the_answers_of_the_newcomers_and_of_every_device_not_free_are_held():
    approve = dataclasses.replace(RULES, dns_free=(B,))
    held = ", ".join(f"{mark:#010x}" for mark in (mark_of(NEWCOMER_ID), mark_of(1), mark_of(3)))
    assert f"add element inet routerguard held_marks {{ {held} }}" in ruleset.create(approve)
    free = ruleset.create(dataclasses.replace(RULES, devices=RULES.devices[:2]))
    assert not lines(free, "add element inet routerguard held_marks")  # none blocked: nobody's answers limited


def test_every_devices_dns_to_the_router_is_marked_with_its_id_not_only_the_held_ones():
    rules = chain(ruleset.create(RULES), "dns_guard")
    assert rules[1:3] == [f"{DNS} ct mark and 0x7fff0000 {{ 0x00000000, 0x7fff0000 }} ether saddr vmap @dev_by_mac",
                          f"{DNS} ct mark and 0x7fff0000 0x00000000 ct mark set ct mark and 0x8000ffff or 0x7fff0000"]
    assert not any("@blocked" in rule or "@dns_free" in rule for rule in rules[1:3])
    assert not any("!= 0x00000000" in rule for rule in rules)  # a free device's mark is kept: it picks its counters


def test_each_devices_dns_is_counted_by_its_mark_after_the_limiters_drop():
    script = ruleset.create(RULES)
    queries, answers = chain(script, "dns_guard"), chain(script, "dns_answers")
    assert queries[-1] == f"{DNS} counter name ct mark and 0x7fff0000 map @dns_count_up"
    assert "update @dns_rate" in queries[-2] and queries[-2].endswith(" drop")  # a dropped query is not counted
    assert answers[-1] == ('oifname "br-lan" meta l4proto { tcp, udp } th sport 53'
                           ' counter name ct mark and 0x7fff0000 map @dns_count_down')
    assert "update @dns_down" in answers[0]
    for direction, index in (("up", 0), ("down", 1)):
        elements = ", ".join(f'{mark_of(i):#010x} : "c_dns_{i}_{direction}"' for i in (1, 2, 3))
        newcomers = f'0x7fff0000 : "c_newcomer_{direction}"'  # only a trigger for the meter's newcomer dump
        assert f"add element inet routerguard dns_count_{direction} {{ {elements}, {newcomers} }}" in script
        assert ruleset.dns_counter_names(2)[index] == f"c_dns_2_{direction}"
    assert lines(ruleset.create(dataclasses.replace(RULES, devices=())), "add element inet routerguard dns_count") == [
        'add element inet routerguard dns_count_up { 0x7fff0000 : "c_newcomer_up" }',
        'add element inet routerguard dns_count_down { 0x7fff0000 : "c_newcomer_down" }']


def test_dns_counters_are_made_with_their_device_kept_by_updates_and_deleted_with_it():
    owners = [ruleset.device_chain(i) for i in (1, 2, 3)] + [ruleset.ROUTER_OWNER]
    assert not {name for i in (1, 2, 3) for name in ruleset.dns_counter_names(i)} & {
        name for owner in owners for name in ruleset.counter_names(owner)}
    script = ruleset.update(SMALLER, ruleset.present_after(RULES))
    assert "add counter inet routerguard c_dns_1_up" in script and "delete counter inet routerguard c_dns_1_up" not in script
    assert {"delete counter inet routerguard c_dns_3_up", "delete counter inet routerguard c_dns_3_down"} <= set(
        script.splitlines())
    assert script.index("flush map inet routerguard dns_count_up") < script.index("delete counter")  # unreferenced first


def test_an_update_declares_the_sets_and_maps_before_flushing_them_so_an_older_table_takes_it():
    script = ruleset.update(RULES, Present())
    for name in ("held_marks", "dns_count_up", "dns_count_down"):
        declared = next(i for i, line in enumerate(script.splitlines()) if line.startswith("add ") and f" {name} {{" in line)
        flushed = script.splitlines().index(next(line for line in script.splitlines() if line.endswith(f" {name}")
                                                 and line.startswith("flush ")))
        assert declared < flushed, name


def test_recovery_charges_no_device_its_dns_counters():
    """The router's resolver relays a device's DNS upstream as the router's own traffic, counted by c_router_*."""
    moved = {"c_dns_1_up": 700, "c_dns_1_down": 9_000, "c_dev_2_up": 10}
    assert recovery.owed(moved, recovery.owners([(A, 1), (B, 2)], "router")) == {B: (10, 0)}


@pytest.mark.lab
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("unshare"),
                    reason="nft -c needs root and a throwaway network namespace (unshare)")
def test_nft_accepts_the_approve_mode_scripts():
    approve = dataclasses.replace(RULES, dns_free=(RULES.devices[1].mac,))
    script = ruleset.create(approve) + ruleset.update(RULES, ruleset.present_after(approve))
    proc = subprocess.run(["unshare", "--net", "nft", "-c", "-f", "-"], input=script, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# A resolver and a client on the loopback of a throwaway namespace: lo has no MAC, so the query gets the
# newcomers' mark, which has no counters: the map misses. Prints the answer and the table's counters.
MISS = """
import json, socket, subprocess
server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind(("127.0.0.1", 53))
client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
client.settimeout(5)
client.sendto(b"query", ("127.0.0.1", 53))
data, peer = server.recvfrom(100)
server.sendto(b"answer:" + data, peer)
answer = client.recv(100).decode()
listing = json.loads(subprocess.run(["nft", "-j", "list", "counters", "table", "inet", "routerguard"],
                                    capture_output=True, text=True, check=True).stdout)["nftables"]
counters = {item["counter"]["name"]: item["counter"]["bytes"] for item in listing if "counter" in item}
marks = subprocess.run(["conntrack", "-L", "-p", "udp", "--dport", "53"], capture_output=True, text=True).stdout
print(json.dumps({"answer": answer, "counters": counters, "conntrack": marks}))
"""


@pytest.mark.lab
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("unshare")
                    or not shutil.which("conntrack"), reason="needs root, nft, conntrack and a throwaway namespace")
@pytest.mark.parametrize("approve", [False, True], ids=["allow", "approve"])
def test_a_query_whose_mark_has_no_counters_is_answered_and_counted_nowhere(approve):
    rules = ruleset.Ruleset("lo", (), devices=(Device(A, 1, Guard()),), dns_free=(A,) if approve else None)
    script = ruleset.create(rules)
    proc = subprocess.run(["unshare", "--net", "sh", "-c", f'ip link set lo up && nft -f - && exec "{sys.executable}" -c "$0"',
                           MISS], input=script, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found["answer"] == "answer:query"  # nothing dropped by the missing element (nor, under approve, the limiter)
    assert found["counters"]["c_dns_1_up"] == found["counters"]["c_dns_1_down"] == 0
    assert f"mark={mark_of(NEWCOMER_ID)}" in found["conntrack"]  # the newcomers' mark: the lead's filtered dump finds it
