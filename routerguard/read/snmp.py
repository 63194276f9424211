"""The uplink's own counters, read over SNMP from the modem or the router's agent.

The carrier bills what crosses the uplink, link-layer bytes included; the
agent that owns the uplink interface counts exactly that. This module asks
it (find the interface, read its 64-bit counters); account/wan_poller.py
asks every few seconds and keeps the total.

pysnmp is imported when an AgentClient is made: it costs ~26 MB of RSS,
which configurations without an `snmp` section must not pay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from routerguard.config.model import SnmpSource

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_HC_IN_OCTETS = "1.3.6.1.2.1.31.1.1.1.6"
IF_HC_OUT_OCTETS = "1.3.6.1.2.1.31.1.1.1.10"

WALK_BATCH = 25  # rows per GETBULK when looking for the interface


class SnmpError(Exception):
    """A poll that failed; the message says what to check."""


@dataclass(frozen=True)
class Reading:
    """One answer from the agent: sysUpTime.0 and the interface's 64-bit counters."""

    uptime: int  # sysUpTime.0, ticks since the agent (re)started; wraps after 497 days
    if_index: int
    in_octets: int  # ifHCInOctets
    out_octets: int  # ifHCOutOctets


@dataclass(frozen=True)
class Interface:
    """Where `if_name` was found: its index and the column (ifName or ifDescr) that holds the name."""

    index: int
    name_column: str


class AgentClient:
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


async def find_interface(agent: AgentClient, if_name: str) -> Interface:
    """The index whose ifName, or else whose ifDescr, is `if_name`.

    If several rows match, a deleted interface lingers beside its re-creation:
    the highest index is the newest (Linux never reuses an ifindex soon).
    """
    seen: list[str] = []
    for column in (IF_NAME, IF_DESCR):
        names = await agent.column(column)
        matches = [index for index, name in names.items() if name == if_name]
        if matches:
            return Interface(max(matches), column)
        seen += [name for name in names.values() if name not in seen]
    raise SnmpError(
        f"no interface named {if_name!r} on SNMP agent {agent.where}; it has: {', '.join(seen) or 'none'}. "
        f"Set option if_name in config snmp to one of them"
    )


async def read_counters(agent: AgentClient, interface: Interface, if_name: str) -> Reading | None:
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
