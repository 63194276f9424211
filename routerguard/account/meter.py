"""One meter reading: read conntrack → attribute each flow → account per device.

A flow counts when it crosses the router between the internet and a LAN
device (found by the ct mark the enforcement table sets, else by its LAN
address in the neighbour table and the DHCP leases), or between the internet
and the router itself (its own line, "router"). Either side may open it: a
flow opened from the internet (a port forward, an IPv6 connection to a
device) has the device as its responder, so its original direction is the
device's download. Traffic between the LAN and the router (this page) and
inside the LAN crosses no uplink and is not charged to anyone.

Except DNS: the router's resolver forwards what it cannot answer as the
router's own traffic, so a device could move data through it (a DNS tunnel)
that no cap of its own would see. A device's DNS to the router (the LAN side:
its queries up, the answers down) is charged to it, and the same bytes are
moved off the router's line in the same reading, as far as the router's line
moved any: what the cache answered crossed no uplink and is charged to no
one. The plan's total stays exact; the split between a device and the router
is as exact as "the router's upstream DNS of a reading is what its devices
asked for" (see docs/guard.md).
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, NamedTuple, Protocol

from routerguard.account.destinations import Destinations
from routerguard.account.flows import Delta, FlowTracker
from routerguard.account.ledger import ROUTER, Ledger
from routerguard.account.rates import Rates
from routerguard.attribute.directory import Directory
from routerguard.attribute.marks import FREE_ID, id_of_mark
from routerguard.config.model import Config
from routerguard.read import conntrack, neighbours
from routerguard.read.leases import LeaseFile

log = logging.getLogger("routerguard.meter")

UNKNOWN_PATIENCE = 10  # readings to wait for a source address to show up in the neighbour table
Key = tuple  # (opener, responder, ct mark[, dns]): packed addresses, the responder's after any DNAT
DNS_PORT = 53
DNS_PROTOCOLS = (6, 17)  # TCP, UDP
UNKNOWN = "?"  # attribute(): a LAN flow whose device is not known yet


def flow_key(flow: conntrack.Flow) -> Key:
    """A flow's real ends: the reply's source is where a port forward (DNAT) really took it; and whether it is DNS."""
    return flow.src, flow.reply_src, flow.mark, flow.dport == DNS_PORT and flow.proto in DNS_PROTOCOLS


class Accounts(Protocol):
    """What a reading charges into, each piece with its own owner (core.py's Core is one)."""

    ledger: Ledger
    directory: Directory
    rates: Rates
    destinations: Destinations

    @property
    def config(self) -> Config: ...

    def now(self) -> float: ...


class Reading(NamedTuple):
    """What one reading charged, and what it could not."""

    charged: dict[str, tuple[int, int]]  # (up, down) per device, the router as "router"
    events_lost: bool  # conntrack events were lost since the last reading (this one resynchronised)
    unattributed_bytes: int  # bytes of addresses no device claimed in time: charged to no one


class Charge(NamedTuple):
    """Who pays for a flow's bytes, and which way they go for them."""

    payer: str  # a MAC, ROUTER, or UNKNOWN
    address: bytes  # the payer's end of the flow
    remote: bytes  # the other end, on the internet
    inbound: bool  # opened from the internet: the original direction is the payer's download
    relayed: bool = False  # DNS to the router's resolver: charged to the device, moved off the router's line

    def oriented(self, original: int, reply: int) -> tuple[int, int]:
        """A flow's bytes as the payer's (up, down)."""
        return (reply, original) if self.inbound else (original, reply)


def attribute(key: Key, local: set[bytes], lan_mac: Callable[[bytes], str | None],
              mark_mac: Callable[[int], str | None]) -> Charge | None:
    """Who pays for the flow `key`, or None when it crosses no metered uplink.

    `local`: the router's own addresses; `lan_mac`: the device a LAN address
    belongs to; `mark_mac`: the device a ct mark names. A responder on the
    LAN means the flow was opened from outside it.
    """
    opener, responder, mark, *dns = key
    if responder in local:
        payer = (mark_mac(mark) or lan_mac(opener)) if dns and dns[0] else None
        # DNS to the router's resolver: relayed upstream as the router's own. Anything else to the router itself
        # (the page, the redirect) crosses no uplink.
        return Charge(payer, opener, responder, False, relayed=True) if payer else None
    if id_of_mark(mark) == FREE_ID:
        return None  # left by an unmetered uplink: nobody pays
    inbound = lan_mac(responder) is not None
    if inbound and (opener in local or lan_mac(opener) is not None):
        return None  # from the router or inside the LAN
    address, remote = (responder, opener) if inbound else (opener, responder)
    payer = mark_mac(mark) or (ROUTER if opener in local else lan_mac(address) or UNKNOWN)
    return Charge(payer, address, remote, inbound)


def move_relayed(charged: dict[str, list[int]], relayed: dict[str, list[int]]) -> dict[str, tuple[int, int]]:
    """Charge each device the DNS it asked the router for, moving the same bytes off the router's line (as far as the
    router's line moved any this reading: a cached answer crossed no uplink). Devices are served in the order of
    their MACs; up and down are moved separately. Returns what was moved, per device."""
    router = charged.get(ROUTER)
    moved: dict[str, tuple[int, int]] = {}
    if router is None:
        return moved
    for mac in sorted(relayed):
        up, down = (min(relayed[mac][i], router[i]) for i in (0, 1))
        if not up and not down:
            continue
        total = charged.setdefault(mac, [0, 0])
        total[0], total[1] = total[0] + up, total[1] + down
        router[0], router[1] = router[0] - up, router[1] - down
        moved[mac] = (up, down)
    return moved


def enable_accounting() -> None:
    """Turn on conntrack byte counters and events in this network namespace, where allowed."""
    for name, value in conntrack.SYSCTLS.items():
        path = os.path.join(conntrack.SYSCTL_DIR, name)
        try:
            with open(path) as f:
                current = f.read().strip()
            if current != value:
                with open(path, "w") as f:
                    f.write(value)
                log.info("turned on net.netfilter.%s", name)
        except OSError as e:
            log.warning("cannot set net.netfilter.%s=%s (%s): usage may be incomplete; see `routerguard check`", name, value, e)


class EventDrain:
    """DESTROY events handed to the flow tracker as they arrive, by a thread of their own.

    Read only at readings, a churn of short flows (thousands a second)
    overruns the socket's buffer between two of them, and the bytes of flows
    that ended since their last reading are lost; kept as flows until the
    reading, they cost about 550 bytes each (13,000 of them at 5,000 a
    second). So each batch goes to the tracker at once, decoded a datagram at
    a time, except during a dump (`dumping()`): the tracker must take a
    flow's DESTROY after the lines of a dump read before it, so events read
    meanwhile wait, undecoded, until the dump is done. The tracker's contract
    holds: everything the kernel delivered before a dump has been handed
    over when the dump starts.
    """

    def __init__(self, events: conntrack.DestroyEvents, tracker: FlowTracker) -> None:
        self._events = events
        self._tracker = tracker
        self._lock = threading.Lock()  # the tracker's, between this thread and the meter's
        self._held: list[bytes] | None = None  # datagrams read during a dump, for its end
        self._lost = False
        self._wake, self._waker = os.pipe()
        self._thread = threading.Thread(target=self._run, name="conntrack-events", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        """With the lock held: every waiting event to the tracker, or to the held ones during a dump."""
        datagrams, lost = self._events.receive()
        self._lost = self._lost or lost
        if self._held is None:
            self._hand_over(datagrams)
        else:
            self._held += datagrams

    def _hand_over(self, datagrams: list[bytes]) -> None:
        """With the lock held: to the tracker. Events after a message the decoder refuses are lost, so resynced."""
        try:
            self._tracker.ended(conntrack.decode_events(datagrams))
        except ValueError as e:
            log.error("conntrack event refused (%s): the next reading resynchronises", e)
            self._lost = True

    def _run(self) -> None:
        while True:
            ready, _, _ = select.select([self._events.fileno(), self._wake], [], [])
            if self._wake in ready:
                return
            with self._lock:
                try:
                    self._drain()
                except OSError as e:  # the dumps' own drain meets it too, and reports it
                    log.error("conntrack events: %s; reading them at each meter reading only", e)
                    return

    @contextmanager
    def dumping(self) -> Iterator[bool]:
        """The tracker is the caller's for a dump; yields whether events were lost since the last one."""
        with self._lock:
            self._drain()
            lost, self._lost = self._lost, False
            self._held = []
        try:
            yield lost
        finally:
            with self._lock:
                held, self._held = self._held, None
                self._hand_over(held)
                self._drain()

    def take(self) -> list[Delta]:
        """The tracker's bytes since the last take (see FlowTracker.take)."""
        with self._lock:
            return self._tracker.take()

    def close(self) -> None:
        os.write(self._waker, b"x")
        self._thread.join()
        for fd in (self._wake, self._waker):
            os.close(fd)
        self._events.close()


class Meter:
    def __init__(self, accounts: Accounts, mac_of_mark: Callable[[int], str | None] = lambda mark: None,
                 before_baseline: Callable[[], None] = lambda: None) -> None:
        """`before_baseline` runs just before the first dump, where the meter's counting begins: the enforcer
        reads the kernel's counters there (enforce/recovery.py): their count ends where the meter's begins."""
        self.accounts = accounts
        self.mac_of_mark = mac_of_mark
        enable_accounting()
        self.tracker = FlowTracker(key=flow_key)
        self.events = EventDrain(conntrack.DestroyEvents(), self.tracker)
        self.leases = LeaseFile(accounts.config.main.leases)
        self._unknown: dict[tuple[bytes, bytes], list[int]] = {}  # (source, destination) -> [up, down, readings waited]
        self._local: set[bytes] = set()
        self._refresh_directory()
        # Bytes of flows alive now were charged before a restart, or are in the counters before_baseline
        # reads, or predate us: count from here.
        before_baseline()
        with self.events.dumping():
            self.tracker.dump(conntrack.dump_flows(), account=False)

    def _refresh_directory(self) -> None:
        main = self.accounts.config.main
        try:
            lan_index = socket.if_nametoindex(main.lan_if)
        except OSError:
            lan_index = None
        self.accounts.directory.refresh(neighbours.neighbours(), self.leases.leases(), lan_index, self.accounts.now())
        self._local = {socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip.split("%")[0])
                       for ip in neighbours.local_addresses()}

    def read(self) -> Reading:
        """One reading: the bytes charged per device since the last one."""
        with self.events.dumping() as lost:
            if lost:
                log.warning("conntrack events lost since the last reading: resynchronising with this reading's dump")
            self.tracker.dump(conntrack.dump_flows())
        self._refresh_directory()
        now = self.accounts.now()
        charged: dict[str, list[int]] = {}
        relayed: dict[str, list[int]] = {}
        resolver: dict[str, bytes] = {}  # the router's address each device asked (its destination for the breakdown)
        for key, original, reply in self.events.take():
            charge = attribute(key, self._local, self._lan_mac, self.mac_of_mark)
            if charge is None:
                continue
            up, down = charge.oriented(original, reply)
            if charge.relayed:
                asked = relayed.setdefault(charge.payer, [0, 0])
                asked[0] += up
                asked[1] += down
                resolver[charge.payer] = charge.remote
                continue
            if charge.payer is UNKNOWN:
                waiting = self._unknown.setdefault((charge.address, charge.remote), [0, 0, 0])
                waiting[0] += up
                waiting[1] += down
                continue
            total = charged.setdefault(charge.payer, [0, 0])
            total[0] += up
            total[1] += down
            self.accounts.destinations.add(charge.payer, charge.remote, up, down)
        unattributed = self._settle_unknown(charged)
        for mac, (up, down) in move_relayed(charged, relayed).items():
            self.accounts.destinations.add(mac, resolver[mac], up, down)
        for mac, (up, down) in charged.items():
            self.accounts.ledger.add(mac, up, down, now)
            if mac != ROUTER:
                self.accounts.directory.seen(mac, now)
        result = {mac: (up, down) for mac, (up, down) in charged.items()}
        self.accounts.rates.record(now, result)
        return Reading(result, lost, unattributed)

    def _settle_unknown(self, charged: dict[str, list[int]]) -> int:
        """Charge bytes held back for an unknown LAN address once its device is known; give up after a while.

        Returns the bytes given up on."""
        given_up = 0
        for pair in list(self._unknown):
            src, remote = pair
            up, down, waited = self._unknown[pair]
            mac = self._lan_mac(src)
            if mac is not None:
                total = charged.setdefault(mac, [0, 0])
                total[0] += up
                total[1] += down
                self.accounts.destinations.add(mac, remote, up, down)
            elif waited < UNKNOWN_PATIENCE:
                self._unknown[pair][2] += 1
                continue
            else:
                given_up += up + down
                log.warning("no device has address %s: %d bytes not charged to anyone", conntrack.address_text(src), up + down)
            del self._unknown[pair]
        return given_up

    def _lan_mac(self, address: bytes) -> str | None:
        return self.accounts.directory.mac_of(conntrack.address_text(address))

    def close(self) -> None:
        self.events.close()
