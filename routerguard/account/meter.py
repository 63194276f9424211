"""One meter reading: the kernel's per-device counters → usage per device; the flows beside it → destinations.

Usage comes from routerguard's own table (account/counters.py): each
registered device's chain counts its bytes up and down, the router's own
traffic has its pair, and each device's DNS to the router's resolver its
pair. One netlink dump of a millisecond reads them all, whatever the number
of flows: a reading costs O(devices), not O(flows).

What the counters cannot tell apart is a MAC not registered yet: newcomers
share one chain. Their flows carry the newcomers' ct mark, so each reading
asks the kernel for those flows only (a dump filtered by mark, none at all
while the newcomers' counters stand still) and charges them as the whole
table's flows were charged before, by their LAN address (neighbour table,
DHCP leases); a newcomer becomes a device within a reading or two, and its
flows take its own mark at their next packet up. What a flow moved between
the last dump and that packet is in the newcomers' counters only: the
reading charges it to the flows that left the dump (account/newcomers.py).

A flow counts when it crosses the router between the internet and a LAN
device, or between the internet and the router itself (its own line,
"router"). Either side may open it: a flow opened from the internet (a port
forward, an IPv6 connection to a device) has the device as its responder, so
its original direction is the device's download. Traffic between the LAN and
the router (this page) and inside the LAN crosses no uplink and is not
charged to anyone.

Except DNS: the router's resolver forwards what it cannot answer as the
router's own traffic, so a device could move data through it (a DNS tunnel)
that no cap of its own would see. A device's DNS to the router (the LAN side:
its queries up, the answers down) is charged to it, and the same bytes are
moved off the router's line in the same reading, as far as the router's line
moved any: what the cache answered crossed no uplink and is charged to no
one. The plan's total stays exact; the split between a device and the router
is as exact as "the router's upstream DNS of a reading is what its devices
asked for" (see docs/guard.md).

Where each device's bytes went (the leak guard's destinations) needs every
flow: the Sampler dumps the whole table in a thread of its own, at a cadence
set by what a dump costs (at most SAMPLE_SHARE of a core), never holding up
a reading.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, NamedTuple, Protocol

from routerguard.account import counters
from routerguard.account.counters import Line
from routerguard.account.destinations import Destinations
from routerguard.account.flows import Delta, FlowTracker
from routerguard.account.ledger import ROUTER, Ledger
from routerguard.account.newcomers import Unseen
from routerguard.account.pacing import Pacer
from routerguard.account.rates import Rates
from routerguard.attribute.directory import Directory
from routerguard.attribute.marks import FREE_ID, MARK_MASK, NEWCOMER_ID, id_of_mark, mark_of
from routerguard.config.model import Config
from routerguard.read import conntrack, neighbours
from routerguard.read.leases import LeaseFile
from routerguard.read.nftcounters import Counts

log = logging.getLogger("routerguard.meter")

UNKNOWN_PATIENCE = 10  # readings to wait for a source address to show up in the neighbour table
Key = tuple  # (opener, responder, ct mark[, dns]): packed addresses, the responder's after any DNAT
DNS_PORT = 53
DNS_PROTOCOLS = (6, 17)  # TCP, UDP
UNKNOWN = "?"  # attribute(): a LAN flow whose device is not known yet
NEWCOMER_MARK = mark_of(NEWCOMER_ID)  # the ct mark (id bits) of a flow whose MAC is not registered yet
SAMPLE_SHARE = 0.005  # of one core, at most, for the whole table's dump that finds the destinations (Sampler)
SAMPLE_MAX_SECONDS = 60.0  # the destinations are never older than this (and a reading), however big the table
SAMPLE_DUTY = 0.1  # of a core at most while a sample runs, in steps of a few ms (account/pacing.py)
HOLD_MAX_BYTES = 1 << 20  # DESTROY events held back during a dump beyond this: the dump hurries to its end
SAMPLE_NICE = 5  # the sampler's thread yields the core to the readings and the page (more would starve it, and
# the interpreter lock it holds, on a busy machine)


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


class Sink(NamedTuple):
    """A flow tracker the DESTROY events go to, and which of them it wants (None: all)."""

    tracker: FlowTracker
    wants: Callable[[conntrack.Flow], bool] | None = None


class EventDrain:
    """DESTROY events handed to the flow trackers as they arrive, by a thread of their own.

    Read only at readings, a churn of short flows (thousands a second)
    overruns the socket's buffer between two of them, and the bytes of flows
    that ended since their last reading are lost; kept as flows until the
    reading, they cost about 550 bytes each (13,000 of them at 5,000 a
    second). So each batch goes to the trackers at once, decoded a datagram
    at a time, except to a tracker that is being dumped (`dumping(tracker)`):
    a tracker must take a flow's DESTROY after the lines of a dump read
    before it, so events read meanwhile wait for it, undecoded, until its
    dumps are done. Each tracker waits only for its own: the newcomers' small
    dump (the meter's thread) for the newcomers', the whole table's (the
    sampler's, paced over seconds) for the destinations' tracker, so the
    newcomers' DESTROY events are never a sample late (account/newcomers.py
    counts on them within a reading). The trackers' contract holds:
    everything the kernel delivered before a dump has been handed over to
    that tracker when the dump starts.
    """

    def __init__(self, events: conntrack.DestroyEvents, sinks: list[Sink]) -> None:
        self._events = events
        self._sinks = sinks
        self._lock = threading.Lock()  # the trackers', between this thread, the meter's and the sampler's
        self._dumps = [0] * len(sinks)  # dumps running, per sink
        self._held: list[tuple[list[bytes], set[int]]] = []  # datagrams read during dumps, and the sinks owed them
        self.held_bytes = 0
        self.losses = 0  # times events were lost (a full buffer, a message refused): each tracker's next dump resyncs
        self._wake, self._waker = os.pipe()
        self._thread = threading.Thread(target=self._run, name="conntrack-events", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        """With the lock held: every waiting event to the trackers, held back for those being dumped."""
        datagrams, lost = self._events.receive()
        self.losses += lost
        if not datagrams:
            return
        dumped = {i for i, n in enumerate(self._dumps) if n}
        self._hand_over(datagrams, [i for i in range(len(self._sinks)) if i not in dumped])
        if dumped:
            self._held.append((datagrams, dumped))
            self.held_bytes += sum(map(len, datagrams))

    def _hand_over(self, datagrams: list[bytes], sinks: list[int]) -> None:
        """With the lock held: to those sinks. Events after a message the decoder refuses are lost, so resynced."""
        if not sinks:
            return
        try:
            flows = list(conntrack.decode_events(datagrams))
        except ValueError as e:
            log.error("conntrack event refused (%s): the next reading resynchronises", e)
            self.losses += 1
            return
        for i in sinks:
            tracker, wants = self._sinks[i]
            tracker.ended(flows if wants is None else [flow for flow in flows if wants(flow)])

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
    def dumping(self, tracker: FlowTracker) -> Iterator[None]:
        """`tracker` is the caller's for a dump."""
        sink = next(i for i, (t, _) in enumerate(self._sinks) if t is tracker)
        with self._lock:
            self._drain()
            self._dumps[sink] += 1
        try:
            yield
        finally:
            with self._lock:
                self._dumps[sink] -= 1
                if not self._dumps[sink]:
                    self._release(sink)
                    self._drain()

    def _release(self, sink: int) -> None:
        """With the lock held: what was held for `sink`, in the order it came."""
        kept = []
        for datagrams, owed in self._held:
            if sink in owed:
                self._hand_over(datagrams, [sink])
                owed.discard(sink)
            if owed:
                kept.append((datagrams, owed))
        self._held = kept
        self.held_bytes = sum(len(d) for datagrams, _ in kept for d in datagrams)

    def take(self, tracker: FlowTracker) -> list[Delta]:
        """A tracker's bytes since its last take (see FlowTracker.take)."""
        with self._lock:
            return tracker.take()

    def close(self) -> None:
        os.write(self._waker, b"x")
        self._thread.join()
        for fd in (self._wake, self._waker):
            os.close(fd)
        self._events.close()


class Kernel(Protocol):
    """What the kernel counts per device, in routerguard's table (the enforcer knows the names; enforcer.py)."""

    def counts(self) -> Counts | None:
        """The table's counters now; None when there is no table (or it cannot be read)."""

    def lines(self) -> list[Line]:
        """The counters of each registered device's forwarded bytes, and of the router's own."""

    def relays(self) -> list[Line]:
        """The counters of each registered device's DNS to the router's resolver."""

    def newcomer_names(self) -> tuple[str, ...]:
        """The counters that move when a MAC not registered yet moves bytes (its flows then need the dump)."""


class Sampler:
    """The whole table's flows, at a cadence of their own: the destinations each device's bytes went to.

    A dump of every flow costs CPU in proportion to the flows (about 17 µs
    a flow here with the tracker and the attribution, 1.1 s at 65,536), so it
    runs in a thread of its own, at a lower CPU priority (a thread's nice
    value is its own on Linux: a page request or a reading that wants the
    core gets it first, three times as much), paced (account/pacing.py: in
    steps of a few ms, at most SAMPLE_DUTY of a core while it runs, so a page
    request under a CPU quota finds the period's budget unspent), as often as
    SAMPLE_SHARE of one core allows (right after a reading, at most SAMPLE_MAX_SECONDS apart), and
    never holds up a reading: usage comes from the counters. The destinations'
    bookkeeping (names, each device's top names) is done here too. Between
    two samples a device's destinations add up to the bytes its flows moved,
    as conntrack counts them; the counters count the same packets, after the
    router's routing decision (see docs/benchmarks.md for where the two
    differ).
    """

    def __init__(self, meter: "Meter") -> None:
        self._meter = meter
        self._poked = threading.Event()  # a reading is done: a sample may be due
        self._stopping = False
        self.samples = 0
        self._thread = threading.Thread(target=self._run, name="flow-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SAMPLE_NICE)
        except OSError as e:
            log.info("the flow sampler runs at the daemon's priority (%s)", e)
        account, due = False, 0.0  # the first sample learns the table: its flows' bytes were charged or predate us
        while not self._stopping:
            if time.monotonic() >= due:
                started, cpu = time.monotonic(), time.thread_time()
                try:
                    self.sample(account, Pacer(SAMPLE_DUTY, self._hurry))
                except (OSError, ValueError) as e:
                    log.error("conntrack dump for the destinations failed (%s); retrying", e)
                account = True
                self.samples += 1
                due = started + min((time.thread_time() - cpu) / SAMPLE_SHARE, SAMPLE_MAX_SECONDS)
            self._poked.wait()
            self._poked.clear()

    def poke(self) -> None:
        """A reading is done: sample now if it is time (right after a reading, so the destinations of a small
        table are never more than a reading behind its usage)."""
        self._poked.set()

    def _hurry(self) -> bool:
        """The DESTROY events held back for the dump's end grow too large to wait for a paced dump."""
        return self._meter.events.held_bytes > HOLD_MAX_BYTES

    def sample(self, account: bool = True, pace: Pacer | None = None) -> None:
        """One sample: the whole table's dump, and what each device's flows moved since, to its destinations;
        `pace`d in steps (the sampler's thread), or flat out (a benchmark timing it)."""
        meter = self._meter
        paced = pace.paced if pace is not None else iter
        with meter.events.dumping(meter.flows):
            meter.flows.dump(paced(conntrack.dump_flows()), account=account)
        by_device: dict[str, list[tuple[bytes, int, int]]] = {}
        for mac, remote, up, down in meter.where_to(paced(meter.events.take(meter.flows))):
            by_device.setdefault(mac, []).append((remote, up, down))
        for mac, flows in by_device.items():
            meter.accounts.destinations.add_many(mac, paced(flows))

    def stop(self) -> None:
        self._stopping = True
        self._poked.set()
        self._thread.join()


class Meter:
    """Each reading: the kernel's counters (O(devices)) and the newcomers' flows; the destinations beside it."""

    def __init__(self, accounts: Accounts, mac_of_mark: Callable[[int], str | None], kernel: Kernel) -> None:
        """Counting begins here: `start_counts` are the kernel's counts it starts from (the enforcer
        charges what they moved since the last commit: enforce/recovery.py), and the newcomers' flows alive
        now were charged before a restart, or predate us."""
        self.accounts = accounts
        self.mac_of_mark = mac_of_mark
        self.kernel = kernel
        enable_accounting()
        self.newcomers = FlowTracker(key=flow_key)  # flows of MACs not registered yet: no counters of their own
        self.flows = FlowTracker(key=flow_key)  # every flow, for the destinations (Sampler)
        self.events = EventDrain(conntrack.DestroyEvents(),
                                 [Sink(self.newcomers, _is_newcomer), Sink(self.flows)])
        self.leases = LeaseFile(accounts.config.main.leases)
        self._unknown: dict[tuple[bytes, bytes], list[int]] = {}  # (source, destination) -> [up, down, readings waited]
        self._local: set[bytes] = set()
        self._refresh_directory()
        self.lock = threading.Lock()  # the counts and the usage charged up to them, for a commit (daemon.py)
        self.start_counts = self.counts = self.kernel.counts()
        self.unseen = Unseen({})  # the bytes of newcomers' flows that took a device's mark (each dump tells it)
        with self.events.dumping(self.newcomers):
            self.newcomers.dump(self._newcomer_flows(), account=False)
        self._losses = 0  # the event drain's losses as of the last reading
        self.sampler = Sampler(self)

    def _newcomer_flows(self) -> Iterator[conntrack.Flow]:
        """The flows of MACs not registered yet, filtered by the kernel: few, and none at all most of the time.
        A dump read to its end tells `unseen` which flows it found."""
        dumped: dict[bytes, tuple[Key, int]] = {}
        for flow in conntrack.dump_flows(mark=NEWCOMER_MARK, mask=MARK_MASK):
            dumped[flow.orig_tuple] = (flow_key(flow), flow.orig_bytes + flow.reply_bytes)
            yield flow
        self.unseen.dumped(dumped)

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
        now_counts = self.kernel.counts()
        moved = counters.moved(self.counts, now_counts) if now_counts is not None else {}
        # No newcomer moved a byte since the last reading (their counters stood still, DNS included): their flows'
        # counts are as the last dump left them, and any that ended came as events. Unknown counts: dump anyway.
        counted = tuple(moved.get(name, 0) for name in self.kernel.newcomer_names())  # the newcomers' (up, down)
        newcomers_moved = now_counts is None or any(counted)
        lost, self._losses = self.events.losses != self._losses, self.events.losses
        if lost:  # usage is the counters': only the newcomers' bytes and the destinations are touched
            log.warning("conntrack events lost since the last reading: the next dumps resynchronise")
        with self.events.dumping(self.newcomers):
            if newcomers_moved:
                self.newcomers.dump(self._newcomer_flows())
        self._refresh_directory()
        now = self.accounts.now()
        charged = counters.per_line(moved, self.kernel.lines())
        relayed = counters.per_line(moved, self.kernel.relays())
        newcomers = [0, 0]  # what the newcomers' flows were charged
        for key, original, reply in self.events.take(self.newcomers):
            charge = attribute(key, self._local, self._lan_mac, self.mac_of_mark)
            if charge is not None:
                up, down = charge.oriented(original, reply)
                newcomers[0], newcomers[1] = newcomers[0] + up, newcomers[1] + down
                self._charge(charge, up, down, charged, relayed)
        for key, up, down in self.unseen.settle(counted, newcomers):
            charge = attribute(key, self._local, self._lan_mac, self.mac_of_mark)
            if charge is not None:
                self._charge(charge, up, down, charged, relayed)
        unattributed = self._settle_unknown(charged)
        move_relayed(charged, relayed)
        with self.lock:  # a commit saves the counts together with exactly the usage charged up to them
            if now_counts is not None:
                self.counts = now_counts
            for mac, (up, down) in charged.items():
                self.accounts.ledger.add(mac, up, down, now)
        for mac in charged:
            if mac != ROUTER:
                self.accounts.directory.seen(mac, now)
        result = {mac: (up, down) for mac, (up, down) in charged.items()}
        self.accounts.rates.record(now, result)
        self.sampler.poke()
        return Reading(result, lost, unattributed)

    def where_to(self, deltas: list[Delta]) -> list[tuple[str, bytes, int, int]]:
        """(device, remote, up, down) of a sample's flows; DNS to the router as the device's to its resolver, as
        far as the router's own flows moved any (move_relayed). In the sampler's thread."""
        found: dict[tuple[str, bytes], list[int]] = {}
        charged: dict[str, list[int]] = {}
        relayed: dict[str, list[int]] = {}
        resolver: dict[str, bytes] = {}
        for key, original, reply in deltas:
            charge = attribute(key, self._local, self._lan_mac, self.mac_of_mark)
            if charge is None or charge.payer is UNKNOWN:
                continue
            up, down = charge.oriented(original, reply)
            if charge.relayed:
                resolver[charge.payer] = charge.remote
                into = relayed.setdefault(charge.payer, [0, 0])
            else:
                into = charged.setdefault(charge.payer, [0, 0])
                pair = found.setdefault((charge.payer, charge.remote), [0, 0])
                pair[0] += up
                pair[1] += down
            into[0] += up
            into[1] += down
        for mac, (up, down) in move_relayed(charged, relayed).items():
            pair = found.setdefault((mac, resolver[mac]), [0, 0])
            pair[0] += up
            pair[1] += down
        return [(mac, remote, up, down) for (mac, remote), (up, down) in found.items()]

    def _charge(self, charge: Charge, up: int, down: int,
                charged: dict[str, list[int]], relayed: dict[str, list[int]]) -> None:
        """A newcomer flow's bytes (up and down as its payer's) into the reading's lines; an address no device
        claims yet is held back (_settle_unknown)."""
        if charge.relayed:
            into = relayed.setdefault(charge.payer, [0, 0])
        elif charge.payer is UNKNOWN:
            into = self._unknown.setdefault((charge.address, charge.remote), [0, 0, 0])
        else:
            into = charged.setdefault(charge.payer, [0, 0])
        into[0] += up
        into[1] += down

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
        self.sampler.stop()
        self.events.close()


def _is_newcomer(flow: conntrack.Flow) -> bool:
    return flow.mark & MARK_MASK == NEWCOMER_MARK
