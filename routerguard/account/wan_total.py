"""The uplink's carrier-side total: in+out octets summed from SNMP readings.

The agent's counters are not a total by themselves: they wrap, they restart
with the device, a re-created interface starts again from zero, and readings
go missing when the agent does not answer. This accumulator turns successive
readings into bytes that went through the uplink, without counting a byte
twice. It is pure (no I/O, no clock) so every rule is tested without an
agent, and its state is a small dict the daemon persists to carry on after
its own restart.
"""

from __future__ import annotations

from typing import Any

from routerguard.read.snmp import Reading

COUNTER64_MODULUS = 2**64
TICKS_PER_SECOND = 100  # sysUpTime is TimeTicks: hundredths of a second
# Far above any uplink a travel router has: a "wrap" that would need more
# than this between two readings is really a reset of the counters.
MAX_LINK_BYTES_PER_SECOND = 100 * 10**9 // 8
MAX_BYTES_PER_TICK = MAX_LINK_BYTES_PER_SECOND // TICKS_PER_SECOND
STATE_VERSION = 1


class WanTotal:
    """Octets through the uplink since the first reading or the start of the period."""

    def __init__(self) -> None:
        self._total = 0
        self._last: Reading | None = None

    @property
    def total(self) -> int:
        return self._total

    @property
    def started(self) -> bool:
        """Whether a reading has set the baseline; before that the total means nothing."""
        return self._last is not None

    def add(self, reading: Reading | None) -> int:
        """Count the octets since the previous reading; None (no answer) adds nothing and loses nothing."""
        if reading is None:
            return self._total
        if self._last is not None:
            self._total += octets_between(self._last, reading)
        self._last = reading
        return self._total

    def start_period(self) -> None:
        """Count from zero again, from the latest reading on (a new billing period)."""
        self._total = 0

    def state(self) -> dict[str, Any]:
        """A JSON-friendly snapshot; total and baseline together, so a restore never counts twice."""
        last = self._last
        return {
            "version": STATE_VERSION,
            "total_bytes": self._total,
            "last": None if last is None else {
                "uptime": last.uptime,
                "if_index": last.if_index,
                "in_octets": last.in_octets,
                "out_octets": last.out_octets,
            },
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "WanTotal":
        """The accumulator as `state()` left it; ValueError says what is wrong with a bad one."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError(f"WAN total state: expected a dict with version {STATE_VERSION}, got {state!r}")
        accumulator = cls()
        accumulator._total = _non_negative(state, "total_bytes")
        last = state.get("last")
        if last is not None:
            if not isinstance(last, dict):
                raise ValueError(f"WAN total state: 'last' must be a dict or null, got {last!r}")
            accumulator._last = Reading(*(_non_negative(last, key) for key in ("uptime", "if_index", "in_octets", "out_octets")))
        return accumulator


def octets_between(before: Reading, after: Reading) -> int:
    """In+out octets that went through the interface between two readings.

    A counter that went back either wrapped, started again from zero, or
    dipped. The device rebooted if sysUpTime went back too (an agent that
    restarted while the counters went on, only snmpd, counts as usual).
    Otherwise the time between decides: a wrap needs the counter to have
    moved no more than a link can carry meanwhile, a start from zero needs
    the same of the new values. When neither fits, the counter dipped (as
    some drivers' summed counters do): it counts nothing now and its dip
    again when it regains it, never the whole counter once more.
    """
    from_zero = after.in_octets + after.out_octets
    if after.if_index != before.if_index:
        return from_zero  # a new interface: its counters began at 0
    moved = _forward(before.in_octets, after.in_octets), _forward(before.out_octets, after.out_octets)
    dipped = after.in_octets < before.in_octets, after.out_octets < before.out_octets
    if not any(dipped):
        return sum(moved)
    if after.uptime < before.uptime:
        return from_zero
    budget = max(after.uptime - before.uptime, 1) * MAX_BYTES_PER_TICK
    if max(moved) <= budget:
        return sum(moved)
    if from_zero <= budget:
        return from_zero
    return sum(octets for octets, dip in zip(moved, dipped) if not dip)


def _forward(before: int, after: int) -> int:
    """How far a Counter64 moved forward, through a wrap if need be."""
    return (after - before) % COUNTER64_MODULUS


def _non_negative(mapping: dict[str, Any], key: str) -> int:
    value = mapping.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"WAN total state: {key!r} must be a non-negative integer, got {value!r}")
    return value
