"""A long background job that leaves the core, and a CPU quota's period, to the rest of the daemon.

The sampler's whole-table dump (account/meter.py) costs hundreds of
milliseconds of CPU at 65k flows, several times that on a router's core. Run
flat out it holds the interpreter lock half the time a page request wants it,
and under a CPU quota (a cgroup's CFS period) it spends the period's budget
before a request that arrives later in the period gets any: the request
waits out the period. Paced, it works in steps of a few milliseconds and
sleeps in between, so that its CPU stays under `duty` of the wall time it
has run for: a request finds the lock free and the period's budget mostly
unspent, and the job takes 1/duty times as long.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")

STEP_SECONDS = 0.004  # of CPU between two rests at most: the longest a request waits for the job
EVERY = 64  # items between two looks at the thread's CPU clock (a system call)


class Pacer:
    """Sleeps between a job's steps so that its thread's CPU stays under `duty` of the wall time since it began."""

    def __init__(self, duty: float, hurry: Callable[[], bool] = lambda: False,
                 clock: Callable[[], float] = time.monotonic, cpu: Callable[[], float] = time.thread_time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """`hurry`: when it says so the job runs flat out (e.g. what it holds back grows too large)."""
        self.duty, self._hurry = duty, hurry
        self._clock, self._cpu, self._sleep = clock, cpu, sleep
        self._wall0, self._cpu0 = clock(), cpu()
        self._stepped = self._cpu0
        self._count = 0  # items so far, over every `paced`
        self.slept = 0.0

    def paced(self, items: Iterable[T]) -> Iterator[T]:
        """`items`, a step at a time."""
        for item in items:
            yield item
            self._count += 1
            if self._count % EVERY == 0:
                self.step()

    def step(self) -> None:
        """A point where the job may rest: it does once it has spent STEP_SECONDS of CPU since the last rest."""
        spent = self._cpu()
        if spent - self._stepped < STEP_SECONDS:
            return
        self._stepped = spent
        owed = (spent - self._cpu0) / self.duty - (self._clock() - self._wall0)
        if owed > 0 and not self._hurry():
            self._sleep(owed)
            self.slept += owed
