"""Free uplinks first where mwan3 runs (OpenWrt's multi-WAN engine): its policy, written into its UCI file.

mwan3 already does policy routing with tracking (mwan3track pings or fetches
through each interface and takes a dead one out of its policies); two engines
fighting over the same packets would be worse than either, so where mwan3
runs routerguard installs no rules of its own and writes mwan3's policy:

    config member 'rg_wwan'          one per uplink with `option network`:
        option interface 'wwan'      its netifd name, which is what mwan3 knows
        option metric '1'            1 unmetered, 2 metered: the lowest metric
        option weight '1'            that is online carries the traffic
    config policy 'rg_free_first'
        list use_member 'rg_wwan' ...
        option last_resort 'unreachable'
    config rule 'rg_default_v4'      (and 'rg_default_v6'), placed before every
        option dest_ip '0.0.0.0/0'   other rule, since mwan3 takes the first
        option family 'ipv4'         rule that matches
        option use_policy 'rg_free_first'

Everything routerguard writes is named `rg_*` and rewritten whole each time;
other sections are left as they are. mwan3's tracking then switches: when the
unmetered interface is offline to mwan3track, the metered member (metric 2)
carries the traffic, and back. The page's "internet" is still routerguard's
own probe (a captive portal fools a ping).
"""

from __future__ import annotations

import logging
import os
import subprocess

from routerguard.config import uci
from routerguard.config.model import Config
from routerguard.decide.uplinks import is_metered

log = logging.getLogger("routerguard.mwan3")

CONFIG = "/etc/config/mwan3"
RELOAD = ["/etc/init.d/mwan3", "reload"]
PREFIX = "rg_"
POLICY = "rg_free_first"
RULES = (("rg_default_v4", "0.0.0.0/0", "ipv4"), ("rg_default_v6", "::/0", "ipv6"))
TRACKER = b"mwan3track"


def running(config_path: str = CONFIG, proc: str = "/proc") -> bool:
    """mwan3 is installed (its config exists) and tracking (a mwan3track process runs)."""
    if not os.path.exists(config_path):
        return False
    for pid in os.listdir(proc):
        if pid.isdigit():
            try:
                with open(os.path.join(proc, pid, "cmdline"), "rb") as f:
                    if TRACKER in f.read(256):
                        return True
            except OSError:
                continue
    return False


def members(config: Config) -> list[tuple[str, str, int]]:
    """(member name, netifd interface, metric) for each uplink mwan3 can know (`option network`), free ones first."""
    found = [(f"{PREFIX}{u.network}", u.network, 2 if is_metered(config, u.ifname) else 1)
             for u in config.uplinks if u.network]
    return sorted(found, key=lambda m: m[2])


def apply_policy(package: uci.Package, config: Config) -> uci.Package:
    """`package` (mwan3's) with routerguard's members, policy and rules in place of any older ones."""
    for section in list(package.sections):
        if section.name and section.name.startswith(PREFIX) and section.type in ("member", "policy", "rule"):
            package.remove(section)
    wanted = members(config)
    if not wanted:
        return package
    for name, interface, metric in wanted:
        member = package.add("member", name)
        member.set("interface", interface)
        member.set("metric", str(metric))
        member.set("weight", "1")
    policy = package.add("policy", POLICY)
    policy.set_list("use_member", [name for name, _, _ in wanted])
    policy.set("last_resort", "unreachable")
    ours = []
    for name, dest, family in RULES:
        rule = package.add("rule", name)
        rule.set("dest_ip", dest)
        rule.set("family", family)
        rule.set("proto", "all")
        rule.set("use_policy", POLICY)
        ours.append(rule)
    # mwan3 takes the first matching rule: ours go before the others
    others = [s for s in package.sections if s not in ours]
    first_rule = next((i for i, s in enumerate(others) if s.type == "rule"), len(others))
    package.sections = others[:first_rule] + ours + others[first_rule:]
    return package


def write_policy(config: Config, path: str = CONFIG, reload: list[str] = RELOAD) -> bool:
    """Write the policy into mwan3's file and reload mwan3 when the file changed; True when it did."""
    if not any(u.network for u in config.uplinks):
        log.warning("mwan3 runs but no `config uplink` names its netifd interface (option network):"
                    " mwan3's own policy is left as it is")
        return False
    before = uci.dumps(uci.read(path))
    text = uci.dumps(apply_policy(uci.read(path), config))
    if text == before:
        return False
    uci.write_atomic(path, text)
    subprocess.run(reload, capture_output=True, timeout=30, check=False)
    log.info("mwan3: policy %s written (unmetered members first); mwan3 reloaded", POLICY)
    return True
