"""The `nft` command: apply a script as one transaction, read our quotas and the flowtables back.

One `nft -f -` run is one netlink batch: the kernel applies all of it or
none, so packets never see a half-changed table.
"""

from __future__ import annotations

import json
import subprocess

from routerguard.enforce.ruleset import TABLE, Present

NFT = "nft"
TIMEOUT = 30.0


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


def table_state() -> tuple[Present, dict[str, int]] | None:
    """What our table holds and how many bytes each quota has counted; None when there is no table.

    The kernel reports a quota's count as at most its limit.
    """
    proc = _run(["-j", "list", "table", *TABLE.split()])
    if proc.returncode != 0:
        return None
    items = json.loads(proc.stdout or "{}").get("nftables", [])
    counted = {item["quota"]["name"]: item["quota"].get("used", 0) for item in items if "quota" in item}
    present = Present(frozenset(item["chain"]["name"] for item in items if "chain" in item),
                      frozenset(counted), frozenset(item["limit"]["name"] for item in items if "limit" in item))
    return present, counted


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
