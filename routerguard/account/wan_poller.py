"""The carrier-side total, kept by polling the uplink's agent over SNMP (read/snmp.py).

The poller asks every few seconds, on a thread and event loop of its own, so
a slow or dead agent never holds up the meter loop: a poll that gets no
answer costs at most timeout x (retries + 1) of this thread's time and
nothing else. Its readings go into a WanTotal (wan_total.py), which turns
wrapping, restarting counters into bytes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from routerguard.account.wan_total import WanTotal
from routerguard.config.model import SnmpSource
from routerguard.read.snmp import AgentClient, Interface, Reading, SnmpError, find_interface, read_counters

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 10.0  # seconds; net-snmp refreshes its interface counters every 3 s anyway
DEFAULT_TIMEOUT = 1.0
DEFAULT_RETRIES = 1


@dataclass(frozen=True)
class SnmpHealth:
    """How the poller is doing, for /healthz and the status page."""

    last_success: float | None = None  # time.time() of the last good reading
    last_error: str | None = None  # why the most recent failed poll failed (kept after recovery)
    last_error_at: float | None = None
    failures: int = 0  # polls failed in a row; 0 once one succeeds
    if_index: int | None = None  # the agent's index of `if_name`, once found

    @property
    def ok(self) -> bool:
        return self.last_success is not None and self.failures == 0


class WanPoller:
    """Polls one agent for the uplink's counters and keeps the carrier-side total.

    `state` is what `state()` returned before the daemon restarted: the total
    goes on from there, the gap covered by the next reading.
    """

    def __init__(
        self,
        source: SnmpSource,
        interval: float = DEFAULT_INTERVAL,
        state: dict[str, Any] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        self.source = source
        self.interval, self.timeout, self.retries = interval, timeout, retries
        self._total = WanTotal.from_state(state) if state is not None else WanTotal()
        self._health = SnmpHealth()
        self._lock = threading.Lock()
        self._interface: Interface | None = None  # these two belong to the poller's thread
        self._last_reading: Reading | None = None
        self._loop = asyncio.new_event_loop()
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._thread_main, name="routerguard-snmp", daemon=True)

    # --- what the daemon and the page read (any thread) ---

    def latest(self) -> int | None:
        """In+out octets since the baseline, or None before the first reading."""
        with self._lock:
            return self._total.total if self._total.started else None

    def health(self) -> SnmpHealth:
        with self._lock:
            return self._health

    def state(self) -> dict[str, Any]:
        """The accumulator's state, for the daemon to persist."""
        with self._lock:
            return self._total.state()

    def start_period(self) -> None:
        """Count from zero again from the latest reading: a new billing period began."""
        with self._lock:
            self._total.start_period()

    # --- life cycle ---

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop once the poll under way ends: with a dead agent, one request's timeout x (retries + 1)."""
        if self._loop.is_closed():
            return
        self._stopping = True
        self._loop.call_soon_threadsafe(self._wake_up)
        if self._thread.ident is not None:
            self._thread.join()
        self._loop.close()

    def __enter__(self) -> "WanPoller":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _wake_up(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _thread_main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._run())

    async def _run(self) -> None:
        self._wake = asyncio.Event()
        try:
            agent = AgentClient(self.source, self.timeout, self.retries)
        except ImportError as error:
            self._record_failure(f"cannot read SNMP: {error}; install pysnmp 7 (pip install 'pysnmp>=7,<8'; OpenWrt: opkg install routerguard-snmp)")
            return
        try:
            while not self._stopping:
                next_poll = time.monotonic() + self.interval
                await self._poll(agent)
                await self._sleep(next_poll - time.monotonic())
        finally:
            agent.close()

    async def _sleep(self, seconds: float) -> None:
        assert self._wake is not None
        try:
            await asyncio.wait_for(self._wake.wait(), max(seconds, 0))
        except asyncio.TimeoutError:
            pass

    # --- one poll ---

    async def _poll(self, agent: "AgentClient") -> None:
        try:
            reading = await self._read_uplink(agent)
        except SnmpError as error:
            self._record_failure(str(error))
        except Exception as error:  # a bug or a pysnmp surprise must not end the polling
            log.exception("SNMP poll of %s failed unexpectedly", agent.where)
            self._record_failure(f"{type(error).__name__}: {error}")
        else:
            self._record_success(reading)

    async def _read_uplink(self, agent: "AgentClient") -> Reading:
        """Read the counters, looking the interface up again when its row is gone, renamed or idle.

        net-snmp keeps a deleted interface's row, name and frozen counters for
        a while (interface_fadeout), so a re-created uplink first shows as an
        idle one: idle counters are worth one walk of ifName to check.
        """
        if_name = self.source.if_name
        reading = None
        if self._interface is not None:
            reading = await read_counters(agent, self._interface, if_name)
            if reading is not None and not self._idle(reading):
                return self._remember(reading)
        interface = await find_interface(agent, if_name)
        if reading is not None and interface == self._interface:
            return self._remember(reading)
        if self._interface is not None:
            log.info("SNMP: %s moved from index %d to %d on %s", if_name, self._interface.index, interface.index, agent.where)
        self._interface = interface
        reading = await read_counters(agent, interface, if_name)
        if reading is None:
            raise SnmpError(f"interface {if_name!r} vanished from {agent.where} while being read")
        return self._remember(reading)

    def _idle(self, reading: Reading) -> bool:
        last = self._last_reading
        return last is not None and (last.in_octets, last.out_octets) == (reading.in_octets, reading.out_octets)

    def _remember(self, reading: Reading) -> Reading:
        self._last_reading = reading
        return reading

    def _record_success(self, reading: Reading) -> None:
        with self._lock:
            if self._health.failures:
                log.info("SNMP: %s answers again", self.source.host)
            self._total.add(reading)
            self._health = replace(self._health, last_success=time.time(), failures=0, if_index=reading.if_index)

    def _record_failure(self, message: str) -> None:
        with self._lock:
            if message != self._health.last_error or not self._health.failures:
                log.warning("SNMP: %s", message)
            self._total.add(None)
            self._health = replace(
                self._health, last_error=message, last_error_at=time.time(), failures=self._health.failures + 1
            )
