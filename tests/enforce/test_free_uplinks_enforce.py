"""Free uplinks first as kernel state: metered_access in routerguard's table, the policy routing's commands,
mwan3's policy in its UCI file."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from routerguard.config import uci
from routerguard.config.model import load_config
from routerguard.enforce import mwan3, route, ruleset
from routerguard.enforce.ruleset import Device, Guard, Ruleset

A, B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
RULES = Ruleset("br-lan", ("wwan0",), devices=(Device(A, 1, Guard()), Device(B, 2, Guard())), no_metered=(B,))

CONFIG = """config routerguard 'main'
\tlist wan_if 'wwan0'
\toption listen '127.0.0.1:8080'
\toption data_dir '/tmp/unused'

config uplink
\toption ifname 'wwan0'
\toption network 'lte'

config uplink
\toption ifname 'phy1-sta0'
\toption metered '0'
\toption network 'wwan'

config uplink
\toption ifname 'eth1'
\toption metered '0'
"""

MWAN3 = """# mwan3 as shipped, trimmed
config globals 'globals'
\toption mmx_mask '0x3F00'

config interface 'wwan'
\toption enabled '1'
\tlist track_ip '8.8.8.8'

config member 'wwan_m1_w3'
\toption interface 'wwan'
\toption metric '1'

config policy 'balanced'
\tlist use_member 'wwan_m1_w3'

config rule 'https'
\toption sticky '1'
\toption dest_port '443'
\toption use_policy 'balanced'

config rule 'default_rule_v4'
\toption dest_ip '0.0.0.0/0'
\toption use_policy 'balanced'
"""


def forward_rules(script: str) -> list[str]:
    return [line.split(" forward ", 1)[1] for line in script.splitlines() if line.startswith("add rule inet routerguard forward ")]


def test_metered_access_refuses_towards_metered_uplinks_before_any_device_is_charged() -> None:
    rules = forward_rules(ruleset.create(RULES))
    refusal = f'iifname "br-lan" oifname {{ "wwan0" }} ether saddr {{ {B} }} goto cut'
    assert refusal in rules
    assert rules.index(refusal) < next(i for i, r in enumerate(rules) if "jump upstream" in r)
    assert "ether saddr {" not in " ".join(forward_rules(ruleset.create(Ruleset("br-lan", ("wwan0",)))))


@pytest.mark.lab
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("unshare"),
                    reason="nft -c needs root and a throwaway network namespace (unshare)")
def test_nft_accepts_the_metered_access_rule() -> None:
    script = ruleset.create(RULES)
    proc = subprocess.run(["unshare", "--net", "nft", "-c", "-f", "-"], input=script, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_the_routing_commands_touch_only_routerguards_rules_and_table() -> None:
    assert route.rule_commands(socket.AF_INET) == [
        ["-4", "rule", "%s", "priority", "2770", "lookup", "main", "suppress_prefixlength", "0"],
        ["-4", "rule", "%s", "priority", "2771", "lookup", "2770"]]
    assert route.route_command(socket.AF_INET, "hotel0", "192.168.77.1") == [
        "-4", "route", "replace", "default", "via", "192.168.77.1", "dev", "hotel0", "table", "2770"]
    assert route.route_command(socket.AF_INET6, "ppp1", "") == ["-6", "route", "replace", "default", "dev", "ppp1",
                                                               "table", "2770"]
    # a family the free uplink lacks never falls through to the metered uplink
    assert route.unreachable_command(socket.AF_INET6) == ["-6", "route", "replace", "unreachable", "default",
                                                          "table", "2770"]


def test_mwan3_gets_members_free_first_a_policy_and_rules_before_its_own(tmp_path: Path) -> None:
    config_path = tmp_path / "routerguard"
    config_path.write_text(CONFIG)
    config = load_config(str(config_path))
    path = tmp_path / "mwan3"
    path.write_text(MWAN3)
    assert mwan3.write_policy(config, str(path), reload=["true"])
    package = uci.read(str(path))
    members = {s.name: (s.get("interface"), s.get("metric")) for s in package.find("member")}
    assert members == {"wwan_m1_w3": ("wwan", "1"), "rg_wwan": ("wwan", "1"), "rg_lte": ("lte", "2")}
    assert package.first("policy", "rg_free_first").get_list("use_member") == ["rg_wwan", "rg_lte"]
    rules = [s.name for s in package.find("rule")]
    assert rules == ["rg_default_v4", "rg_default_v6", "https", "default_rule_v4"]  # mwan3 takes the first match
    assert package.first("rule", "rg_default_v4").get("use_policy") == "rg_free_first"
    assert package.first("interface", "wwan").get_list("track_ip") == ["8.8.8.8"]  # the rest as it was
    written = path.read_text()
    assert written.startswith("# mwan3 as shipped, trimmed")
    assert not mwan3.write_policy(config, str(path), reload=["false"])  # nothing changes: no rewrite, no reload
    assert path.read_text() == written


def test_mwan3_is_running_only_with_its_config_and_a_tracker(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "42").mkdir(parents=True)
    (proc / "42" / "cmdline").write_bytes(b"/bin/sh\0/usr/sbin/mwan3track\0wwan\0")
    assert not mwan3.running(str(tmp_path / "mwan3"), str(proc))
    (tmp_path / "mwan3").write_text(MWAN3)
    assert mwan3.running(str(tmp_path / "mwan3"), str(proc))
    (proc / "42" / "cmdline").write_bytes(b"/usr/sbin/dnsmasq\0")
    assert not mwan3.running(str(tmp_path / "mwan3"), str(proc))
