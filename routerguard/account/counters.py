"""Usage per reading from the kernel's own per-device counters: O(devices), whatever the flows.

Each registered device's chain in routerguard's table counts its bytes up
and down in two named counters, the router's own traffic has a pair, and
each device's DNS to the router's resolver a pair (enforce/ruleset.py). They
count packets as they cross, so the bytes of a flow that began and ended
between two readings are in them already, and one netlink dump of a
millisecond reads them all (read/nftcounters.py). A reading charges each
line the difference from the previous reading's counts.

Which counters belong to which line is the enforcer's knowledge (the names
and the ids); this module only takes differences. The previous counts are
keyed by the counter's name, and a name carries the device's id: an id given
back and given again to another MAC names new counters, which count from
zero.
"""

from __future__ import annotations

from typing import NamedTuple

from routerguard.read.nftcounters import Counts


class Line(NamedTuple):
    """Whose bytes a pair of counters counts: a ledger line (a MAC, or the router's) and the counters' names."""

    line: str
    up: str
    down: str


def moved(before: Counts | None, now: Counts) -> dict[str, int]:
    """Bytes each counter counted since `before`.

    A counter `before` lacks, or every counter of a table made since (a
    firewall flush and our table put back, a replaced table), counted from
    zero when it was made. A count that went down (a counter deleted and
    made again under the same name between two readings) is taken as the
    next reading's start: what it counted since is not known.
    """
    base = before.bytes if before is not None and before.table == now.table else {}
    return {name: n - base.get(name, 0) for name, n in now.bytes.items() if n > base.get(name, 0)}


def per_line(moved_bytes: dict[str, int], lines: list[Line]) -> dict[str, list[int]]:
    """[up, down] for each line whose counters moved."""
    result: dict[str, list[int]] = {}
    for line, up_name, down_name in lines:
        up, down = moved_bytes.get(up_name, 0), moved_bytes.get(down_name, 0)
        if up or down:
            total = result.setdefault(line, [0, 0])
            total[0] += up
            total[1] += down
    return result
