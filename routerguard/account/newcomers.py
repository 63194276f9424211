"""Newcomers' bytes no dump of their flows saw: those of a flow that took its device's mark between two dumps.

A MAC not registered yet shares the newcomers' chain, and its flows carry
the newcomers' ct mark, so the meter charges them from a conntrack dump
filtered by that mark (account/meter.py). Once the daemon registers the MAC,
each of its flows takes the device's own mark at its next packet up, and
from then on the device's counters count it. What the flow moved between
the last dump that saw it and that packet (a download does not wait: up to a
reading's worth of bytes) is in the newcomers' counters, but in no dump: the
flow is no longer the newcomers'.

So the meter keeps a balance, per direction: what the newcomers' counters
moved, less what their flows were charged. What it comes to is charged to
the flows that left the newcomers' dump, at the two readings after the one
that found them gone (a flow that left because it ended has its DESTROY
event charged by then, which squares the balance: only a flow that took a
device's mark leaves bytes in it), shared by the bytes each had moved. The plan's total stays exact; with one newcomer at a time (the usual
case) so is the device's. The balance can only be short, never long: what a
flow moved between the counters' reading and the dump (a millisecond) is
charged by the dump first and subtracted.
"""

from __future__ import annotations

from typing import Hashable, Iterable

Flows = dict[Hashable, tuple[Hashable, int]]  # a flow's identity -> (its key, the bytes it had moved)


class Unseen:
    """The newcomers' bytes no dump saw, and the flows they are charged to."""

    def __init__(self, flows: Flows) -> None:
        """`flows`: the newcomers' flows alive now (their bytes were charged before, or predate us)."""
        self._flows = flows
        self._left: list[tuple[Hashable, int]] = []  # (key, bytes) of the flows that left the dump last
        self._readings_since_left = 0  # the balance goes to them the next two readings, then to no one
        self._balance = [0, 0]  # up, down: counted by the newcomers' counters, not charged to any flow

    def dumped(self, flows: Flows) -> None:
        """A dump of the newcomers' flows: those the previous one had and this one lacks have left."""
        left = [pair for identity, pair in self._flows.items() if identity not in flows]
        if left:
            self._left, self._readings_since_left = left, 0
        self._flows = flows

    def settle(self, counted: tuple[int, int], charged: tuple[int, int]) -> list[tuple[Hashable, int, int]]:
        """(key, up, down) to charge beyond the flows' own bytes, given what the newcomers' counters moved
        (`counted`) and what their flows were charged this reading (`charged`)."""
        for i in (0, 1):
            self._balance[i] += counted[i] - charged[i]
        self._readings_since_left += 1
        if self._readings_since_left > 3:  # a flow's last packets as a newcomer are counted by the next reading
            self._left = []
        if not self._left and not self._flows:  # nothing left to owe: whatever stands is a reading's skew
            self._balance = [0, 0]
        left = self._left if self._readings_since_left > 1 else []  # its DESTROY, if it ended, is charged first
        if not left:
            return []
        up, down = (max(b, 0) for b in self._balance)
        self._balance = [self._balance[0] - up, self._balance[1] - down]
        ups, downs = _split(up, left), _split(down, left)
        return [(key, u, d) for (key, _), u, d in zip(left, ups, downs) if u or d]


def _split(total: int, weighed: Iterable[tuple[Hashable, int]]) -> list[int]:
    """`total` in whole bytes, in proportion to the weights (equally if none weighs anything); the rounding's
    remainder to the heaviest."""
    weights = [max(weight, 0) for _, weight in weighed] or [1]
    if not any(weights):
        weights = [1] * len(weights)
    whole = sum(weights)
    parts = [total * w // whole for w in weights]
    parts[weights.index(max(weights))] += total - sum(parts)
    return parts
