"""The `nft` command: apply a script as one transaction, read our quotas and the flowtables back.

One `nft -f -` run is one netlink batch: the kernel applies all of it or
none, so packets never see a half-changed table.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

from routerguard.enforce.ruleset import TABLE, Present
from routerguard.read import nftcounters
from routerguard.read.nftcounters import Counts

NFT = "nft"
TIMEOUT = 30.0
BOOT_ID = "/proc/sys/kernel/random/boot_id"


@dataclass(frozen=True)
class TableState:
    present: Present
    counted: dict[str, int]  # bytes each quota has counted, at most its limit


class NftError(RuntimeError):
    """nft refused a script; the message carries its own explanation."""


def _run(args: list[str], script: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([NFT, *args], input=script, capture_output=True, text=True, timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise NftError(f"cannot run {NFT}: {e}") from None


def apply(script: str) -> None:
    proc = _run(["-f", "-"], script)
    if proc.returncode != 0:
        raise NftError(proc.stderr.strip() or f"nft exited {proc.returncode}")


def refusal(script: str) -> str | None:
    """Why the kernel would refuse `script` (checked with `nft -c`, nothing changes), or None."""
    try:
        proc = _run(["-c", "-f", "-"], script)
    except NftError as e:
        return str(e)
    return None if proc.returncode == 0 else proc.stderr.strip() or f"nft exited {proc.returncode}"


def table_state() -> TableState | None:
    """What our table holds and what its quotas have counted; None when there is no table."""
    proc = _run(["-j", "list", "table", *TABLE.split()])
    if proc.returncode != 0:
        return None
    return parse_table(proc.stdout)


def counts() -> Counts | None:
    """What our table's counters have counted, None when there is no table: over netlink (read/nftcounters.py),
    in a millisecond, for every commit."""
    found = nftcounters.read(*TABLE.split())
    if found is None:
        return None
    handle, counters = found
    return Counts(f"{_boot_id()}/{handle}", counters)


def parse_table(listing: str) -> TableState:
    """`nft -j list table` of our table, read; its counters' counts are left to counts() (over netlink, a
    fortieth of this at 250 devices)."""
    items = json.loads(listing or "{}").get("nftables", [])
    named = {kind: {item[kind]["name"]: item[kind] for item in items if kind in item}
             for kind in ("chain", "quota", "limit", "counter")}
    counted = {name: quota.get("used", 0) for name, quota in named["quota"].items()}
    present = Present(frozenset(named["chain"]), frozenset(counted), frozenset(named["limit"]), frozenset(named["counter"]))
    return TableState(present, counted)


def _boot_id() -> str:
    try:
        with open(BOOT_ID) as f:
            return f.read().strip()
    except OSError:
        return "unknown-boot"


def flowtables() -> list[str]:
    """Every flowtable in the ruleset (see parse_flowtables); none when nft cannot tell."""
    try:
        proc = _run(["list", "flowtables"])
    except NftError:
        return []
    return parse_flowtables(proc.stdout) if proc.returncode == 0 else []


def parse_flowtables(listing: str) -> list[str]:
    """`family table name` of each flowtable in `nft list flowtables`, marked `(hardware)` when it offloads to hardware.

    Read from the text: nft's JSON leaves out a flowtable's flags.
    """
    found: list[str] = []
    table = ""
    for words in (line.split() for line in listing.splitlines()):
        if words[:1] == ["table"] and len(words) >= 3:
            table = f"{words[1]} {words[2]}"
        elif words[:1] == ["flowtable"] and len(words) >= 2:
            found.append(f"{table} {words[1]}")
        elif words[:1] == ["flags"] and "offload" in words and found:
            found[-1] += " (hardware)"
    return found
