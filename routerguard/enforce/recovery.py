"""Bytes the kernel counted while no daemon was reading them: charged when the daemon starts.

The meter charges what it reads and the ledger keeps what it has committed,
so a kill -9 loses the readings since the last commit, and what live flows
move while the daemon is away is never read (the meter's first dump after a
start is taken as already charged). The kernel sees all of it: each
device's chain, and the router's, counts its bytes up and down in named
counters (ruleset.py), and the table outlives the daemon. Every commit
saves those counts tied to the usage it saves (by the commit's number: the
database's volatile values, kept in RAM like the table itself, since a
reboot ends both; journaled they were most of a commit's flash writes), so
the two always agree; a daemon that starts and finds the same table charges
each device what its counters moved since. No byte the kernel counted is
lost, none is charged twice.

The counts are read after the reading a commit saves: what crosses in the
milliseconds between is missed, never counted twice. Bytes are charged to
the hour the daemon starts in. A device not registered yet when the daemon
stopped (a newcomer, counted only as such) is not recovered.

Only each owner's `counter_names` are charged: a device's DNS counters
(`dns_counter_names`, its DNS to the router's own resolver) are not its
forwarded usage, and the router's counters already count what the resolver
relayed upstream for it, so `owed` ignores them.
"""

from __future__ import annotations

import json
from typing import Iterable

from routerguard.account import counters
from routerguard.account.counters import Line
from routerguard.enforce.nft import Counts
from routerguard.enforce.ruleset import ROUTER_OWNER, counter_names, device_chain

KEY = "kernel_counts"  # volatile (store/volatile.py): the counts as of the last commit, "" when unknown


def dumps(counts: Counts | None) -> str:
    """The meta value a commit saves: "" when the kernel's counts are unknown, so none are recovered against."""
    return json.dumps({"table": counts.table, "bytes": counts.bytes}, sort_keys=True) if counts else ""


def loads(text: str | None) -> Counts | None:
    """The counts a commit saved; None for none or a value this version cannot read."""
    try:
        value = json.loads(text) if text else None
        counts = Counts(str(value["table"]), {str(k): int(v) for k, v in value["bytes"].items()}) if value else None
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return counts


def moved(saved: Counts | None, now: Counts) -> dict[str, int]:
    """Bytes each counter counted since `saved`; none unless both are counts of the same table."""
    if saved is None or saved.table != now.table:
        return {}
    return counters.moved(saved, now)


def owners(ids: Iterable[tuple[str, int]], router_line: str) -> list[tuple[str, str]]:
    """(ledger line, counter owner) for each device (mac, id) and for the router's own line."""
    return [(mac, device_chain(device_id)) for mac, device_id in ids] + [(router_line, ROUTER_OWNER)]


def owed(moved_bytes: dict[str, int], lines: Iterable[tuple[str, str]]) -> dict[str, tuple[int, int]]:
    """(up, down) to charge each ledger line, from the bytes its counters moved (as a meter reading does)."""
    charged = counters.per_line(moved_bytes, [Line(line, *counter_names(owner)) for line, owner in lines])
    return {line: (up, down) for line, (up, down) in charged.items()}
