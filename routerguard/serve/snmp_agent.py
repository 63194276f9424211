"""A read-only SNMP agent serving ROUTERGUARD-MIB (routerguard/mibs/), for fleets polled over SNMP.

Off unless `config agent 'snmp'` enables it, and pysnmp (~26 MB resident)
is imported only then. The agent runs its own asyncio loop in its own
thread, beside waitress and the meter loop. Its figures come from the same
Service views as the API's, built at most once a second: a walk is a burst
of requests, and each would otherwise rebuild every device's view.

Instead of pysnmp's MIB objects (a class per column, rows created and
deleted as devices come and go) a small instrumentation controller answers
from one sorted list of (OID, value): GET is a dict look-up, GETNEXT and
GETBULK a bisection.
"""

from __future__ import annotations

import bisect
import importlib.util
import logging
import socket
import struct
import threading
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from routerguard import __version__
from routerguard.config.model import Agent as AgentSettings
from routerguard.decide.policy import STATES as DEVICE_STATES
from routerguard.service import Service, parse_time

if TYPE_CHECKING:
    import asyncio

log = logging.getLogger("routerguard.snmp_agent")

SYSTEM = (1, 3, 6, 1, 2, 1, 1)  # SNMPv2-MIB's system group: what managers read to discover an agent
ROOT = (1, 3, 6, 1, 4, 1, 32473)  # routerguardMIB; 32473 is RFC 5612's documentation number, see the MIB
VIEW = (1, 3, 6, 1)  # what the community and the v3 user may read: everything this agent serves
PLAN = ROOT + (1, 1)
DEVICE_COUNT = ROOT + (1, 2, 1)
DEVICE_ENTRY = ROOT + (1, 2, 2, 1)
STATES = {state: number for number, state in enumerate(DEVICE_STATES, 1)}  # RgState
TRUTH = {True: 1, False: 2}  # TruthValue
CACHE_SECONDS = 1.0
MIN_KEY_LENGTH = 8  # RFC 3414's shortest USM passphrase; net-snmp refuses shorter ones too
GAUGE32_MAX = 2**32 - 1
NAME_OCTETS = 255  # RgUtf8String's size
START_TIMEOUT = 10.0

Oid = tuple[int, ...]
Value = tuple[str, Any]  # (SMI type name, Python value), turned into pysnmp objects at the edge


def _date_and_time(rfc3339: str) -> bytes:
    """SNMPv2-TC DateAndTime in UTC (11 octets, offset +0:0) from an API time."""
    moment = datetime.fromtimestamp(parse_time(rfc3339, "time"), timezone.utc)
    return struct.pack(">HBBBBBBcBB", moment.year, moment.month, moment.day, moment.hour, moment.minute,
                       moment.second, 0, b"+", 0, 0)


def _mac_octets(mac: str) -> bytes:
    return bytes(int(part, 16) for part in mac.split(":"))


def _utf8(text: str, limit: int) -> bytes:
    """At most `limit` octets of UTF-8, never a character cut in half."""
    return text.encode()[:limit].decode(errors="ignore").encode()


def _nonnegative(value: int | None) -> int | None:
    """What is left of a limit; overshoot shows as nothing left (Counter64 has no sign)."""
    return None if value is None else max(0, value)


def _present(values: dict[Oid, Value], oid: Oid, kind: str, value: Any) -> None:
    """Objects whose figure is null in the API have no instance (SNMP's "absent")."""
    if value is not None:
        values[oid] = (kind, value)


def system_objects(uptime_seconds: float) -> dict[Oid, Value]:
    """sysDescr, sysObjectID (routerguardMIB, so a manager knows which MIB to load), sysUpTime, sysName."""
    return {
        SYSTEM + (1, 0): ("OctetString", f"routerguard {__version__}, data-cap guard".encode()),
        SYSTEM + (2, 0): ("ObjectIdentifier", ROOT),
        SYSTEM + (3, 0): ("TimeTicks", int(uptime_seconds * 100)),
        SYSTEM + (5, 0): ("OctetString", socket.gethostname().encode()),
    }


def plan_objects(plan: dict) -> dict[Oid, Value]:
    values: dict[Oid, Value] = {}
    _present(values, PLAN + (1, 0), "Counter64", plan["quota_bytes"])
    _present(values, PLAN + (2, 0), "Counter64", plan["used_bytes"])
    _present(values, PLAN + (3, 0), "Counter64", _nonnegative(plan["remaining_bytes"]))
    _present(values, PLAN + (4, 0), "Counter64", plan["wan_snmp_bytes"])
    for column, key in ((5, "period_start"), (6, "period_end")):
        _present(values, PLAN + (column, 0), "OctetString", plan[key] and _date_and_time(plan[key]))
    return values


def device_objects(device: dict, index: int) -> dict[Oid, Value]:
    """One row of rgDeviceTable: column OIDs are DEVICE_ENTRY + (column, index)."""
    usage, rate = device["usage"], device["rate"]
    columns: list[tuple[str, Any]] = [
        ("OctetString", _mac_octets(device["mac"])),                      # 2 rgDeviceMac
        ("OctetString", _utf8(device["name"] or "", NAME_OCTETS)),        # 3 rgDeviceName
        ("Counter64", usage["up_bytes"]),                                 # 4
        ("Counter64", usage["down_bytes"]),                               # 5
        ("Counter64", usage["total_bytes"]),                              # 6
        ("Integer", STATES[device["state"]]),                             # 7 rgDeviceState
        ("Counter64", device["allowance_bytes"]),                         # 8
        ("Counter64", _nonnegative(device["remaining_bytes"])),           # 9
        ("Gauge32", min(rate["up_bps"], GAUGE32_MAX)),                    # 10
        ("Gauge32", min(rate["down_bps"], GAUGE32_MAX)),                  # 11
        ("Integer", TRUTH[bool(device["online"])]),                       # 12 rgDeviceOnline
        ("Counter64", device["lifetime_bytes"]),                          # 13
    ]
    values: dict[Oid, Value] = {}
    for column, (kind, value) in enumerate(columns, start=2):
        _present(values, DEVICE_ENTRY + (column, index), kind, value)
    return values


class Objects:
    """Every instance the agent serves, rebuilt from the Service at most once per CACHE_SECONDS.

    Device indexes are handed out on first sight and kept while the agent
    runs, so a manager's rows do not shift when a new device appears.
    """

    def __init__(self, service: Service, clock: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self.clock = clock
        self.index: dict[str, int] = {}
        self.oids: list[Oid] = []
        self.values: dict[Oid, Value] = {}
        self._built = float("-inf")
        self._started = clock()

    def refresh(self) -> None:
        if self.clock() - self._built < CACHE_SECONDS:
            return
        devices = self.service.devices()
        values = {**system_objects(self.clock() - self._started), **plan_objects(self.service.plan())}
        values[DEVICE_COUNT + (0,)] = ("Gauge32", len(devices))
        for device in devices:
            index = self.index.setdefault(device["mac"], len(self.index) + 1)
            values.update(device_objects(device, index))
        self.values, self.oids = values, sorted(values)
        self._built = self.clock()

    def next_after(self, oid: Oid) -> Oid | None:
        at = bisect.bisect_right(self.oids, oid)
        return self.oids[at] if at < len(self.oids) else None


def _validate(settings: AgentSettings) -> None:
    if not settings.community and not settings.v3_user:
        raise ValueError("the SNMP agent is enabled but has neither a community nor a v3_user: set one of them")
    if settings.v3_user:
        keys = {"v3_auth_key": settings.v3_auth_key, "v3_priv_key": settings.v3_priv_key}
        if not settings.v3_auth_key:
            raise ValueError("the SNMP agent's v3_user needs a v3_auth_key (at least 8 characters)")
        for name, key in keys.items():
            if key is not None and len(key) < MIN_KEY_LENGTH:
                raise ValueError(f"the SNMP agent's {name} is too short: use at least {MIN_KEY_LENGTH} characters")
        if settings.v3_priv_key and importlib.util.find_spec("cryptography") is None:
            raise ValueError("the SNMP agent's v3_priv_key needs the Python package cryptography for AES "
                             "(pip install cryptography; OpenWrt: opkg install python3-cryptography)")


class SnmpAgent:
    """The agent: `start()` binds the UDP socket (errors surface there) and serves in a thread."""

    def __init__(self, service: Service, settings: AgentSettings) -> None:
        _validate(settings)
        self.settings = settings
        self.objects = Objects(service)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.address: tuple[str, int] | None = None  # where it listens, once started (port 0 picks a free one)

    def start(self) -> None:
        host, port = self.settings.listen
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((host, port))
        except OSError as e:
            sock.close()
            raise OSError(e.errno, f"the SNMP agent cannot listen on udp {host}:{port}: {e.strerror}") from None
        sock.setblocking(False)
        self.address = sock.getsockname()[:2]
        self._thread = threading.Thread(target=self._serve, args=(sock,), name="snmp-agent", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise TimeoutError("the SNMP agent did not start in time")
        if self._error is not None:
            raise self._error
        log.info("SNMP agent on udp %s:%d (ROUTERGUARD-MIB)", *self.address)

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()

    def _serve(self, sock: socket.socket) -> None:
        import asyncio  # here, not at the top: a daemon without the agent is 1.7 MiB smaller without asyncio

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            engine = self._engine(sock, loop)
        except BaseException as e:  # handed to start(), which raises it in the daemon's thread
            self._error = e
            self._ready.set()
            loop.close()
            sock.close()
            return
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            engine.transport_dispatcher.close_dispatcher()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()
            sock.close()

    def _engine(self, sock: socket.socket, loop: asyncio.AbstractEventLoop):
        from pysnmp.carrier.asyncio.dgram import udp
        from pysnmp.entity import config, engine
        from pysnmp.entity.rfc3413 import cmdrsp, context

        settings = self.settings
        snmp_engine = engine.SnmpEngine()
        config.add_transport(snmp_engine, udp.DOMAIN_NAME, udp.UdpAsyncioTransport(loop=loop).open_server_mode(sock=sock))
        if settings.community:
            config.add_v1_system(snmp_engine, "routerguard", settings.community)
            config.add_vacm_user(snmp_engine, 2, "routerguard", "noAuthNoPriv", VIEW)
        if settings.v3_user:
            priv = config.USM_PRIV_CFB128_AES if settings.v3_priv_key else config.USM_PRIV_NONE
            config.add_v3_user(snmp_engine, settings.v3_user, config.USM_AUTH_HMAC96_SHA, settings.v3_auth_key,
                               priv, settings.v3_priv_key)
            config.add_vacm_user(snmp_engine, 3, settings.v3_user, "authPriv" if settings.v3_priv_key else "authNoPriv", VIEW)
        snmp_context = context.SnmpContext(snmp_engine)
        snmp_context.unregister_context_name(b"")
        snmp_context.register_context_name(b"", _instrumentation(self.objects))
        for responder in (cmdrsp.GetCommandResponder, cmdrsp.NextCommandResponder, cmdrsp.BulkCommandResponder):
            responder(snmp_engine, snmp_context)
        snmp_engine.transport_dispatcher.job_started(1)
        return snmp_engine


def _ours(oid: Oid) -> bool:
    return any(oid[:len(subtree)] == subtree for subtree in (SYSTEM, ROOT))


def start_agent(service: Service, settings: AgentSettings) -> SnmpAgent | None:
    """The running agent when `config agent 'snmp'` enables it, else None (pysnmp stays unloaded).

    An agent that cannot start is logged and left off: monitoring is no
    reason to stop metering and enforcing.
    """
    if not settings.enabled:
        return None
    try:
        agent = SnmpAgent(service, settings)
        agent.start()
    except (ValueError, OSError) as e:
        log.error("%s; the SNMP agent stays off", e)
        return None
    return agent


def _instrumentation(objects: Objects):
    """A pysnmp MIB instrumentation controller reading `objects`; made here so pysnmp loads late."""
    from pysnmp.proto.api import v2c
    from pysnmp.smi.instrum import AbstractMibInstrumController

    types = {"Counter64": v2c.Counter64, "Gauge32": v2c.Gauge32, "Integer": v2c.Integer, "OctetString": v2c.OctetString,
             "ObjectIdentifier": v2c.ObjectIdentifier, "TimeTicks": v2c.TimeTicks}

    def value(oid: Oid):
        kind, raw = objects.values[oid]
        return types[kind](raw)

    def hidden(name, val, context: dict) -> bool:
        """VACM: True when the requester may not see this instance (raises when it may see nothing)."""
        check = context.get("acFun")
        return bool(check and check("read", (name, val), **context))

    class Instrumentation(AbstractMibInstrumController):
        def read_variables(self, *var_binds, **context):
            objects.refresh()
            answers = []
            for idx, (name, _) in enumerate(var_binds):
                oid = tuple(name)
                if oid in objects.values and not hidden(name, value(oid), dict(context, idx=idx)):
                    answers.append((name, value(oid)))
                else:
                    answers.append((name, v2c.NoSuchInstance() if _ours(oid) else v2c.NoSuchObject()))
            return answers

        def read_next_variables(self, *var_binds, **context):
            objects.refresh()
            answers = []
            for idx, (name, _) in enumerate(var_binds):
                oid = objects.next_after(tuple(name))
                while oid is not None and hidden(v2c.ObjectIdentifier(oid), value(oid), dict(context, idx=idx)):
                    oid = objects.next_after(oid)
                answers.append((name, v2c.EndOfMibView()) if oid is None else (v2c.ObjectIdentifier(oid), value(oid)))
            return answers

    return Instrumentation()
