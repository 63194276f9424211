"""What a device may do now: a plain function of its limits and usage.

A device is under up to three limits at once: its own cap (or, with none of
its own and no group cap, the default cap, so a new random MAC is no way
around caps), its group's shared cap, and the plan. The strictest one that
is used up decides: block beats throttle beats a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from routerguard.config.model import DEFAULT_THRESHOLDS

OK, WARNED, THROTTLED, BLOCKED, EXEMPT = "ok", "warned", "throttled", "blocked", "exempt"
STATES = (OK, WARNED, THROTTLED, BLOCKED, EXEMPT)  # a device's; the order is the MIB's RgState (1..5)
GROUP_STATES = (OK, WARNED, THROTTLED, BLOCKED)  # a group is never exempt
DEFAULT_WARN_PERCENT = min(DEFAULT_THRESHOLDS)  # "warned" from the first alert threshold


@dataclass(frozen=True)
class Limit:
    """One allowance in force on a device in the current period."""

    scope: str  # "device", "default", "group" or "plan"
    allowance: int  # cap + this period's top-ups
    used: int
    action: str  # block | throttle | notify
    throttle_kbit: int | None = None
    start: float | None = None
    end: float | None = None

    @property
    def remaining(self) -> int:
        return max(0, self.allowance - self.used)

    @property
    def exhausted(self) -> bool:
        return self.used >= self.allowance

    def percent(self) -> float:
        return 100.0 * self.used / self.allowance if self.allowance else 100.0


@dataclass(frozen=True)
class Decision:
    state: str
    binding: Limit | None = None  # the limit that caused the state, if any
    throttle_kbit: int | None = None


def decide(limits: list[Limit], exempt: bool = False, blocked: bool = False, warn_percent: float = DEFAULT_WARN_PERCENT,
           held_kbit: int | None = None) -> Decision:
    """The state of one device.

    Exempt devices are never cut off (their usage still counts towards the
    plan); a manual block applies to everyone else whatever the caps say;
    a held throttle (`held_kbit`, an unusual burst's) slows it whatever the caps say.
    """
    if exempt:
        return Decision(EXEMPT)
    if blocked:
        return Decision(BLOCKED)
    exhausted = [limit for limit in limits if limit.exhausted]
    for limit in exhausted:
        if limit.action == "block":
            return Decision(BLOCKED, limit)
    throttles = [limit for limit in exhausted if limit.action == "throttle"]
    if throttles:
        slowest = min(throttles, key=lambda limit: limit.throttle_kbit or 0)
        if held_kbit and held_kbit < (slowest.throttle_kbit or held_kbit + 1):
            return Decision(THROTTLED, None, held_kbit)
        return Decision(THROTTLED, slowest, slowest.throttle_kbit)
    if held_kbit:
        return Decision(THROTTLED, None, held_kbit)
    warned = [limit for limit in limits if limit.percent() >= warn_percent]
    if warned:
        return Decision(WARNED, max(warned, key=Limit.percent))
    return Decision(OK)


def crossed_thresholds(limit: Limit, thresholds: tuple[int, ...]) -> list[int]:
    """The warning thresholds (percent) this limit has reached, 100 included when used up."""
    reached = [t for t in thresholds if limit.percent() >= t]
    return reached + [100] if limit.exhausted and 100 not in reached else reached
