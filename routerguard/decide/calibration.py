"""The plan's count set to what the carrier says: pure arithmetic, no clock, no I/O.

Carriers count differently from the router (their own overheads, rounding
to 1 KB or 1 MB per session, traffic before the router was on), so after a
while "used 6.9 GB" here is "used 7.2 GB" in the carrier's app. The admin
types what the app (or the USSD answer) says; from then on the plan's count
is what routerguard meters plus the difference at that moment, the offset:

    count  = max(0, counted + offset)
    offset = said_used - counted                      (the carrier says "used U")
           = (allowance - said_left) - counted        (the carrier says "left L")

`counted` is the scope's usage in its window after a manual reset, before
any offset; `allowance` its quota plus this period's top-ups. An offset may
be negative (routerguard counted more than the carrier). It belongs to one
period: a new period starts from zero again.
"""

from __future__ import annotations

USED, LEFT = "used", "left"


def count(counted: int, offset: int) -> int:
    """The scope's count with its calibration: never below zero."""
    return max(0, counted + offset)


def offset_for(counted: int, said: str, said_bytes: int, allowance: int | None = None) -> int:
    """The offset that makes the count equal what the carrier says now.

    "left" needs the allowance it is left of (the plan's quota plus top-ups).
    """
    if said == USED:
        return said_bytes - counted
    if said == LEFT:
        if allowance is None:
            raise ValueError("a calibration by what is left needs the allowance it is left of")
        return allowance - said_bytes - counted
    raise ValueError(f"said must be {USED!r} or {LEFT!r}, not {said!r}")
