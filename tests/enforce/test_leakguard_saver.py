"""Data saver and unmetered uplinks as text: who is kept from what, dnsmasq's lines, nft's rules (checked by nft -c)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from routerguard.config.model import load_config
from routerguard.enforce import dnsmasq, ruleset, saver
from routerguard.attribute.marks import FREE_ID, MARK_MASK, mark_of
from routerguard.enforce.ruleset import Device, Guard, Ruleset
from routerguard.enforce.saver import Block, Saver

A, B, C = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c"
CONFIG = f"""config routerguard 'main'
	option lan_if 'br-lan'
	list wan_if 'wwan0'
	list listen '192.168.8.1:8080'
	option data_dir '/tmp/unused'

config uplink
	option ifname 'wlan-sta'
	option metered '0'

config saver 'saver'
	list block 'os_updates'

config group
	option id 'kids'
	list block 'video'

config device
	option mac '{A}'
	option group 'kids'
	list block 'cloud_backup'

config device
	option mac '{B}'
	option exempt '1'
	list block 'os_updates'

config device
	option mac '{C}'
	option exempt '1'
"""
SAVER = Saver((Block("cloud_backup", (A,)), Block("os_updates", (B,), everyone=True), Block("video", (A,))), (B, C), ("wlan-sta",))
RULES = Ruleset("br-lan", ("wwan0",), devices=(Device(A, 1, Guard()),), saver=SAVER)


def test_block_lists_of_devices_groups_and_everyone(tmp_path: Path) -> None:
    path = tmp_path / "routerguard"
    path.write_text(CONFIG)
    assert saver.desired(load_config(str(path))) == SAVER


def forward_rules(script: str) -> list[str]:
    return [line.split(" forward ", 1)[1] for line in script.splitlines() if line.startswith("add rule inet routerguard forward ")]


def test_rules_reject_concerned_devices_on_metered_uplinks_before_any_device_is_charged() -> None:
    rules = forward_rules(ruleset.create(RULES))
    saver_rules = [r for r in rules if "@saver_" in r]
    assert saver_rules == [
        'iifname "br-lan" oifname { "wwan0" } ether saddr { 02:00:00:00:00:0a } ip daddr @saver_cloud_backup_4 goto cut',
        'iifname "br-lan" oifname { "wwan0" } ether saddr { 02:00:00:00:00:0a } ip6 daddr @saver_cloud_backup_6 goto cut',
        # everyone but the exempt, though an exempt device's own list still counts
        'iifname "br-lan" oifname { "wwan0" } ether saddr != { 02:00:00:00:00:0c } ip daddr @saver_os_updates_4 goto cut',
        'iifname "br-lan" oifname { "wwan0" } ether saddr != { 02:00:00:00:00:0c } ip6 daddr @saver_os_updates_6 goto cut',
        'iifname "br-lan" oifname { "wwan0" } ether saddr { 02:00:00:00:00:0a } ip daddr @saver_video_4 goto cut',
        'iifname "br-lan" oifname { "wwan0" } ether saddr { 02:00:00:00:00:0a } ip6 daddr @saver_video_6 goto cut',
    ]
    assert rules.index(saver_rules[-1]) < next(i for i, r in enumerate(rules) if "jump upstream" in r)


def test_unmetered_flows_carry_the_free_id_and_lose_it_on_a_metered_uplink() -> None:
    script = ruleset.create(RULES)
    free, keep = f"{mark_of(FREE_ID):#010x}", f"{0xFFFFFFFF & ~MARK_MASK:#010x}"
    marks = [f'oifname {{ "wlan-sta" }} ct mark and {MARK_MASK:#010x} != {free} ct mark set ct mark and {keep} or {free}',
             f'oifname {{ "wwan0" }} ct mark and {MARK_MASK:#010x} == {free} ct mark set ct mark and {keep}']
    assert forward_rules(script)[:2] == [f'iifname "br-lan" {m}' for m in marks]
    assert [line.split(f" {saver.OUTPUT_CHAIN} ", 1)[1] for line in script.splitlines()
            if line.startswith(f"add rule inet routerguard {saver.OUTPUT_CHAIN} ")] == marks
    assert saver.OUTPUT_CHAIN in ruleset.present_after(RULES).chains
    plain = dataclasses.replace(RULES, saver=Saver())
    assert "ct mark set" not in " ".join(forward_rules(ruleset.create(plain)))
    assert saver.OUTPUT_CHAIN not in ruleset.present_after(plain).chains


def test_sets_are_declared_with_a_timeout_and_kept_by_updates() -> None:
    update = ruleset.update(RULES, ruleset.present_after(RULES))
    assert "add set inet routerguard saver_video_6 { type ipv6_addr; flags timeout; timeout 1d; }" in update
    assert "delete set" not in update and "flush set inet routerguard saver" not in update


@pytest.mark.lab
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("unshare"),
                    reason="nft -c needs root and a throwaway network namespace (unshare)")
def test_nft_accepts_the_saver_and_the_marks() -> None:
    plain = dataclasses.replace(RULES, saver=Saver())
    script = ruleset.create(RULES) + ruleset.update(plain, ruleset.present_after(RULES))
    proc = subprocess.run(["unshare", "--net", "nft", "-c", "-f", "-"], input=script, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_dnsmasq_feeds_each_domain_to_every_set_it_belongs_to() -> None:
    lines = dnsmasq.nftset_lines({"video": ["a.example", "both.example"], "ads": ["both.example"]})
    assert lines == [
        "nftset=/a.example/4#inet#routerguard#saver_video_4,6#inet#routerguard#saver_video_6",
        "nftset=/both.example/4#inet#routerguard#saver_ads_4,6#inet#routerguard#saver_ads_6,"
        "4#inet#routerguard#saver_video_4,6#inet#routerguard#saver_video_6",
    ]


def test_long_domain_lists_are_split_into_lines_dnsmasq_can_read() -> None:
    domains = [f"host{i}.example.com" for i in range(200)]
    lines = dnsmasq.nftset_lines({"video": domains})
    assert len(lines) > 1 and all(len(line) < 1024 for line in lines)
    assert sorted(d for line in lines for d in line.split("/")[1:-1]) == sorted(domains)


def test_the_snippet_hints_metered_only_while_it_is(tmp_path: Path) -> None:
    metered, free = dnsmasq.snippet({}, metered=True), dnsmasq.snippet({}, metered=False)
    assert "dhcp-option-force=43,ANDROID_METERED\n" in metered and "ANDROID_METERED" not in free
    assert not any(line.startswith("log-facility") for line in metered.splitlines())


def test_the_snippet_is_written_and_dnsmasq_restarted_only_on_change(tmp_path: Path) -> None:
    restarts = tmp_path / "restarts"
    conf_dir = tmp_path / "dnsmasq.d"  # not made yet: dnsmasq may start after routerguard
    snippet = dnsmasq.Snippet(str(conf_dir), f"sh -c 'echo x >> {restarts}'")
    assert snippet.sync("one\n") and snippet.current() == "one\n"
    assert not snippet.sync("one\n")
    assert snippet.sync("two\n")
    assert restarts.read_text() == "x\nx\n"
    assert [p.name for p in conf_dir.iterdir()] == [dnsmasq.SNIPPET]
