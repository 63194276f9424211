"""The uplink's own counters, read over SNMP from the modem or the router's agent.

The carrier bills what crosses the uplink, link-layer bytes included; the
agent that owns the uplink interface counts exactly that. This poller asks
it every few seconds, on a thread and event loop of its own, so a slow or
dead agent never holds up the meter loop: a poll that gets no answer costs
at most timeout x (retries + 1) of this thread's time and nothing else.

pysnmp is imported by the poller's thread when it starts: it costs ~26 MB of
RSS, which configurations without an `snmp` section must not pay.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Sequence

from routerguard.account.wan_total import Reading, WanTotal
from routerguard.config.model import SnmpSource

log = logging.getLogger(__name__)

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_HC_IN_OCTETS = "1.3.6.1.2.1.31.1.1.1.6"
IF_HC_OUT_OCTETS = "1.3.6.1.2.1.31.1.1.1.10"

DEFAULT_INTERVAL = 10.0  # seconds; net-snmp refreshes its interface counters every 3 s anyway
DEFAULT_TIMEOUT = 1.0
DEFAULT_RETRIES = 1
WALK_BATCH = 25  # rows per GETBULK when looking for the interface


class SnmpError(Exception):
    """A poll that failed; the message says what to check."""


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


@dataclass(frozen=True)
class _Interface:
    """Where `if_name` was found: its index and the column (ifName or ifDescr) that holds the name."""

    index: int
    name_column: str


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
        self._interface: _Interface | None = None  # these two belong to the poller's thread
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
            agent = _Agent(self.source, self.timeout, self.retries)
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

    async def _poll(self, agent: "_Agent") -> None:
        try:
            reading = await self._read_uplink(agent)
        except SnmpError as error:
            self._record_failure(str(error))
        except Exception as error:  # a bug or a pysnmp surprise must not end the polling
            log.exception("SNMP poll of %s failed unexpectedly", agent.where)
            self._record_failure(f"{type(error).__name__}: {error}")
        else:
            self._record_success(reading)

    async def _read_uplink(self, agent: "_Agent") -> Reading:
        """Read the counters, looking the interface up again when its row is gone, renamed or idle.

        net-snmp keeps a deleted interface's row, name and frozen counters for
        a while (interface_fadeout), so a re-created uplink first shows as an
        idle one: idle counters are worth one walk of ifName to check.
        """
        if_name = self.source.if_name
        reading = None
        if self._interface is not None:
            reading = await _read_counters(agent, self._interface, if_name)
            if reading is not None and not self._idle(reading):
                return self._remember(reading)
        interface = await _find_interface(agent, if_name)
        if reading is not None and interface == self._interface:
            return self._remember(reading)
        if self._interface is not None:
            log.info("SNMP: %s moved from index %d to %d on %s", if_name, self._interface.index, interface.index, agent.where)
        self._interface = interface
        reading = await _read_counters(agent, interface, if_name)
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


class _Agent:
    """One SNMP agent spoken to with pysnmp, from inside the poller's event loop."""

    def __init__(self, source: SnmpSource, timeout: float, retries: int) -> None:
        from pysnmp.hlapi.v3arch import asyncio as hlapi
        from pysnmp.proto import rfc1902, rfc1905

        self._hlapi = hlapi
        self._missing = (rfc1905.NoSuchObject, rfc1905.NoSuchInstance, rfc1905.EndOfMibView)
        self._counter64 = rfc1902.Counter64
        self._source, self._timeout, self._retries = source, timeout, retries
        self._engine = hlapi.SnmpEngine()
        self._auth = hlapi.CommunityData(source.community, mpModel=1)  # v2c
        self._target: Any = None
        self.where = f"{source.host}:{source.port}"

    def close(self) -> None:
        self._engine.close_dispatcher()

    def is_missing(self, value: Any) -> bool:
        """Whether the agent answered "no such object/instance" rather than a value."""
        return isinstance(value, self._missing)

    def is_counter64(self, value: Any) -> bool:
        return isinstance(value, self._counter64)

    async def get(self, oids: Sequence[str]) -> list[Any]:
        """The values of `oids`, in one request."""
        hlapi = self._hlapi
        varbinds = [hlapi.ObjectType(hlapi.ObjectIdentity(oid)) for oid in oids]
        indication, status, index, answer = await hlapi.get_cmd(
            self._engine, self._auth, await self._transport(), hlapi.ContextData(), *varbinds, lookupMib=False
        )
        self._raise_for(indication, status, index)
        return [value for _name, value in answer]

    async def column(self, oid: str) -> dict[int, str]:
        """A table column indexed by a single integer, as text (ifName, ifDescr)."""
        hlapi = self._hlapi
        prefix = tuple(int(part) for part in oid.split("."))
        rows: dict[int, str] = {}
        async for indication, status, index, answer in hlapi.bulk_walk_cmd(
            self._engine, self._auth, await self._transport(), hlapi.ContextData(), 0, WALK_BATCH,
            hlapi.ObjectType(hlapi.ObjectIdentity(oid)), lookupMib=False, lexicographicMode=False,
        ):
            self._raise_for(indication, status, index)  # a timed-out walk would otherwise retry forever
            for name, value in answer:
                suffix = tuple(name)[len(prefix):]
                if len(suffix) == 1 and not self.is_missing(value):
                    rows[suffix[0]] = str(value)
        return rows

    async def _transport(self) -> Any:
        if self._target is None:
            hlapi, host = self._hlapi, self._source.host
            target_class = hlapi.Udp6TransportTarget if ":" in host else hlapi.UdpTransportTarget
            try:
                self._target = await target_class.create(
                    (host, self._source.port), timeout=self._timeout, retries=self._retries
                )
            except Exception as error:
                raise SnmpError(f"cannot reach SNMP agent {self.where}: {error}; check option host in config snmp") from error
        return self._target

    def _raise_for(self, indication: Any, status: Any, index: Any) -> None:
        if indication:
            raise SnmpError(
                f"no answer from SNMP agent {self.where} ({indication}); check that it runs and that "
                f"community {self._source.community!r} may read from this host"
            )
        if status:
            raise SnmpError(f"SNMP agent {self.where} answered {status.prettyPrint()} at variable {int(index)}")


async def _find_interface(agent: _Agent, if_name: str) -> _Interface:
    """The index whose ifName, or else whose ifDescr, is `if_name`.

    If several rows match, a deleted interface lingers beside its re-creation:
    the highest index is the newest (Linux never reuses an ifindex soon).
    """
    seen: list[str] = []
    for column in (IF_NAME, IF_DESCR):
        names = await agent.column(column)
        matches = [index for index, name in names.items() if name == if_name]
        if matches:
            return _Interface(max(matches), column)
        seen += [name for name in names.values() if name not in seen]
    raise SnmpError(
        f"no interface named {if_name!r} on SNMP agent {agent.where}; it has: {', '.join(seen) or 'none'}. "
        f"Set option if_name in config snmp to one of them"
    )


async def _read_counters(agent: _Agent, interface: _Interface, if_name: str) -> Reading | None:
    """sysUpTime and both 64-bit counters in one GET; None if the index no longer names `if_name`."""
    index = interface.index
    uptime, octets_in, octets_out, name = await agent.get(
        [SYS_UPTIME, f"{IF_HC_IN_OCTETS}.{index}", f"{IF_HC_OUT_OCTETS}.{index}", f"{interface.name_column}.{index}"]
    )
    if agent.is_missing(name) or str(name) != if_name:
        return None
    if agent.is_missing(octets_in) or agent.is_missing(octets_out):
        raise SnmpError(
            f"SNMP agent {agent.where} has no 64-bit counters (IF-MIB ifHCInOctets/ifHCOutOctets) for {if_name!r}; "
            f"routerguard needs an agent that serves ifXTable over SNMPv2c"
        )
    for value in (octets_in, octets_out):
        if not agent.is_counter64(value):  # a 32-bit counter's wrap would read as a reset and count wrongly
            raise SnmpError(
                f"SNMP agent {agent.where} serves ifHCInOctets/ifHCOutOctets for {if_name!r} as {type(value).__name__}, "
                f"not Counter64; routerguard needs an agent whose ifXTable counters are 64-bit"
            )
    return Reading(uptime=int(uptime), if_index=index, in_octets=int(octets_in), out_octets=int(octets_out))
