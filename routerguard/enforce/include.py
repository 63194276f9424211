"""The table as last built, in a file OpenWrt's fw4 includes: caps hold from the firewall's start at boot.

fw4 puts every `/usr/share/nftables.d/ruleset-post/*.nft` into the script
it loads on start, restart and reload (as pbr does for its table), before
any Python daemon runs. The file must be safe to load again and again
beside a live table: it declares every map and set first (`add` of an
existing object is a no-op), then does what an in-place update does (flush
the rules and maps, add everything again): existing quota objects keep their
count, new ones start from the usage written in the file. So an `fw4
reload` (hotplug runs one on every ifup) changes nothing, and a boot starts
from the usage of the last change. fw4 loads its ruleset as one
transaction: a file nft refused would take the whole firewall down, so the
file is checked with `nft -c` before it replaces the old one.

Off unless `option fw4_include PATH` is set (the OpenWrt package sets it).
"""

from __future__ import annotations

import os

from routerguard.config import uci
from routerguard.enforce import nft, ruleset
from routerguard.enforce.ruleset import TABLE, Present, Ruleset

HEADER = "# routerguard's table as last built (enforce/include.py); rewritten by the daemon, do not edit\n"


def script(rules: Ruleset) -> str:
    """A script that loads over nothing or over a live table of ours alike."""
    declared = [line for line in ruleset.create(rules).splitlines()
                if line.startswith((f"add table {TABLE}", f"add map {TABLE}", f"add set {TABLE}"))]
    return HEADER + "\n".join(declared) + "\n" + ruleset.update(rules, Present())


def write(path: str, rules: Ruleset) -> None:
    """Check, then replace the file atomically; raises nft.NftError (file unchanged) when nft refuses it."""
    text = script(rules)
    try:
        with open(path) as f:
            if f.read() == text:
                return  # the same table: no flash write
    except OSError:
        pass
    refused = nft.refusal(text)
    if refused:
        raise nft.NftError(f"not writing {path}: {refused}")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    uci.write_atomic(path, text)
