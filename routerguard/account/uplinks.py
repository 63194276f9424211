"""Bytes on each uplink and which one carries the default route, kept across readings.

An interface's own counters (read/links.py) start again whenever the
interface is re-created: a USB modem that re-enumerates, a PPP session that
redials, an interface renamed back and forth. Kept as they are, the page's
figures would jump back to 0; so each reading adds what moved since the one
before, and a counter that started again (a new interface index, a value
below the last one, or an interface back after it was gone) adds what it
counts from its own start. The totals never go backwards.

The totals count from the daemon's start (kept in memory, not stored): the
first reading of an interface present at that time is the baseline. They are
link-layer bytes of everything the interface carried, the router's own
traffic included, so they can differ from the LAN's charged usage and from
the carrier's count.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from routerguard.read.links import LinkReading, read_link
from routerguard.read.uplink import default_interface


@dataclass(frozen=True)
class UplinkStatus:
    link: bool
    in_use: bool  # carries the default route
    since: float | None  # when in_use last changed, None until a change was seen
    up_bytes: int  # sent (tx) since counting began
    down_bytes: int  # received (rx)
    internet: bool | None = None  # the probes' verdict (decide/uplinks.py Health); None: not probed
    probe_bytes: int = 0  # IP-layer bytes the probes cost since the start
    probes: int = 0
    verdict: str = ""  # the last probe's: ok, captive, down


class _Counter:
    """One interface's totals and the reading they were last brought up to."""

    def __init__(self) -> None:
        self.last: LinkReading | None = None
        self.restarted = False  # absent at a reading: when it is back, its counters count from its new start
        self.up = self.down = 0
        self.in_use: bool | None = None
        self.since: float | None = None
        self.internet: bool | None = None
        self.probe_bytes = self.probes = 0
        self.verdict = ""

    def add(self, reading: LinkReading | None) -> None:
        if reading is None:
            self.last, self.restarted = None, True
            return
        last = self.last
        if last is not None and reading.ifindex == last.ifindex and reading.tx_bytes >= last.tx_bytes \
                and reading.rx_bytes >= last.rx_bytes:
            self.up += reading.tx_bytes - last.tx_bytes
            self.down += reading.rx_bytes - last.rx_bytes
        elif last is not None or self.restarted:  # started again since the last reading: all it counts is new
            self.up += reading.tx_bytes
            self.down += reading.rx_bytes
        self.last, self.restarted = reading, False

    def use(self, in_use: bool, now: float) -> None:
        if self.in_use is not None and in_use != self.in_use:
            self.since = now
        self.in_use = in_use


class Uplinks:
    """The uplinks' counters; `poll` from the daemon's loop and before a view, `status` for the page."""

    def __init__(self, read: Callable[[str], LinkReading | None] = read_link,
                 route: Callable[[], str | None] = default_interface, clock: Callable[[], float] = time.time) -> None:
        self._read, self._route, self._clock = read, route, clock
        self._lock = threading.Lock()  # the loop and the page's threads both poll
        self._counters: dict[str, _Counter] = {}
        self._chosen: str | None = None  # the unmetered uplink routerguard routes by (uplinkguard.py), if any

    def choose(self, name: str | None) -> None:
        """Traffic leaves by `name` (routerguard's own routing), or by the main table's default route (None)."""
        self._chosen = name

    def in_use(self) -> str | None:
        """The uplink default traffic leaves by now: routerguard's choice, else the main table's default route."""
        return self._chosen or self._route()

    def probed(self, name: str, internet: bool | None, verdict: str, probe_bytes: int) -> None:
        """A probe's outcome: the health it leaves the uplink in, and what it cost."""
        with self._lock:
            counter = self._counters.setdefault(name, _Counter())
            counter.internet, counter.verdict = internet, verdict or counter.verdict
            counter.probe_bytes += probe_bytes
            counter.probes += 1 if verdict else 0

    def poll(self, names: Iterable[str]) -> None:
        """Bring each named interface's totals and in-use flag up to now."""
        in_use, now = self.in_use(), self._clock()
        with self._lock:
            for name in names:
                counter = self._counters.setdefault(name, _Counter())
                counter.add(self._read(name))
                counter.use(name == in_use, now)

    def status(self, name: str) -> UplinkStatus:
        with self._lock:
            counter = self._counters.get(name) or _Counter()
            last = counter.last
            return UplinkStatus(bool(last and last.link), bool(counter.in_use), counter.since, counter.up, counter.down,
                                counter.internet, counter.probe_bytes, counter.probes, counter.verdict)
