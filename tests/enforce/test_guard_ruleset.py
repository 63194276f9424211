"""The DNS guard in the enforcement table: a cut or unapproved device's DNS to the router limited. Pure, plus `nft -c`."""

import dataclasses
import os
import shutil
import subprocess

import pytest

from routerguard.enforce import ruleset
from test_ruleset import RULES, SMALLER, chain, lines


def test_the_cut_devices_dns_is_limited_per_mac_and_tcp_refused():
    rules = chain(ruleset.create(RULES), "dns_guard")
    assert 'iifname "br-lan" tcp dport 53 ether saddr @blocked reject with tcp reset' in rules
    assert ('iifname "br-lan" udp dport 53 ether saddr @blocked update @dns_rate'
            ' { ether saddr limit rate over 20/second burst 50 packets } drop') in rules
    answers = chain(ruleset.create(RULES), "dns_answers")
    assert answers == ['oifname "br-lan" udp sport 53 ct mark and 0x7fff0000 != 0x00000000 update @dns_down'
                       ' { ct mark and 0x7fff0000 limit rate over 2 kbytes/second burst 4 kbytes } drop']


def test_under_approve_every_mac_but_the_free_ones_is_held():
    approve = dataclasses.replace(RULES, dns_free=(RULES.devices[1].mac,))
    script = ruleset.create(approve)
    assert all("ether saddr != @dns_free" in rule for rule in chain(script, "dns_guard")[:1])
    assert f"add element inet routerguard dns_free {{ {RULES.devices[1].mac} }}" in script
    assert not lines(ruleset.create(RULES), "add element inet routerguard dns_free")


def test_an_update_keeps_the_dns_chains_and_refills_the_free_set():
    script = ruleset.update(RULES, ruleset.present_after(SMALLER))
    assert "flush set inet routerguard dns_free" in script
    assert "delete chain inet routerguard dns_guard" not in script
    assert {"dns_guard", "dns_answers"} <= ruleset.present_after(RULES).chains


@pytest.mark.lab
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("unshare"),
                    reason="nft -c needs root and a throwaway network namespace (unshare)")
def test_nft_accepts_the_approve_mode_scripts():
    approve = dataclasses.replace(RULES, dns_free=(RULES.devices[1].mac,))
    script = ruleset.create(approve) + ruleset.update(RULES, ruleset.present_after(approve))
    proc = subprocess.run(["unshare", "--net", "nft", "-c", "-f", "-"], input=script, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
