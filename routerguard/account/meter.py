"""One meter reading: read conntrack → attribute each flow → account per device.

A flow counts when it leaves the router towards the internet: from a LAN
device (found by the ct mark the enforcement table sets, else by its source
address in the neighbour table and the DHCP leases) or from the router
itself (its own line, "router"). Traffic between the LAN and the router
(DNS to dnsmasq, this page) and inside the LAN crosses no uplink and is not
charged to anyone.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
from typing import Callable

from routerguard.account.flows import FlowTracker
from routerguard.account.ledger import ROUTER
from routerguard.core import Core
from routerguard.enforce.marks import FREE_ID, id_of_mark
from routerguard.read import conntrack, neighbours
from routerguard.read.leases import LeaseFile

log = logging.getLogger("routerguard.meter")

UNKNOWN_PATIENCE = 10  # readings to wait for a source address to show up in the neighbour table
Key = tuple  # (packed source, packed destination, ct mark)
UNKNOWN = "?"  # attribute(): a LAN flow whose device is not known yet


def flow_key(flow: conntrack.Flow) -> Key:
    return flow.src, flow.dst, flow.mark


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
    """DESTROY events read as they arrive, by a thread of their own, handed over at each reading.

    Read only at readings, a churn of short flows (thousands a second)
    overruns the socket's buffer between two of them, and the bytes of flows
    that ended since their last reading are lost. `read()` keeps
    DestroyEvents' contract: every event the kernel delivered before the
    call is in its answer (it drains the socket too, under the thread's
    lock, so no event is still on its way to the list), and EventsLost
    when some were dropped.
    """

    def __init__(self, events: conntrack.DestroyEvents) -> None:
        self._events = events
        self._lock = threading.Lock()
        self._flows: list[conntrack.Flow] = []
        self._lost = False
        self._wake, self._waker = os.pipe()
        self._thread = threading.Thread(target=self._run, name="conntrack-events", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        """With the lock held: move every waiting event to the list."""
        try:
            self._flows += self._events.read()
        except conntrack.EventsLost as lost:
            self._flows += lost.flows
            self._lost = True

    def _run(self) -> None:
        while True:
            ready, _, _ = select.select([self._events.fileno(), self._wake], [], [])
            if self._wake in ready:
                return
            with self._lock:
                try:
                    self._drain()
                except OSError as e:  # the readings' own drain meets it too, and reports it
                    log.error("conntrack events: %s; reading them at each meter reading only", e)
                    return

    def read(self) -> list[conntrack.Flow]:
        with self._lock:
            self._drain()
            flows, lost, self._flows, self._lost = self._flows, self._lost, [], False
        if lost:
            raise conntrack.EventsLost(flows)
        return flows

    def close(self) -> None:
        os.write(self._waker, b"x")
        self._thread.join()
        for fd in (self._wake, self._waker):
            os.close(fd)
        self._events.close()


class Meter:
    def __init__(self, core: Core, mac_of_mark: Callable[[int], str | None] = lambda mark: None) -> None:
        self.core = core
        self.mac_of_mark = mac_of_mark
        enable_accounting()
        self.events = EventDrain(conntrack.DestroyEvents())
        self.tracker = FlowTracker(key=flow_key)
        self.leases = LeaseFile(core.config.main.leases)
        self._unknown: dict[tuple[bytes, bytes], list[int]] = {}  # (source, destination) -> [up, down, readings waited]
        self._local: set[bytes] = set()
        self._refresh_directory()
        # Bytes of flows alive now were charged before a restart (or predate us): count from here.
        self.tracker.dump(conntrack.dump_flows(), account=False)

    def _refresh_directory(self) -> None:
        main = self.core.config.main
        try:
            lan_index = socket.if_nametoindex(main.lan_if)
        except OSError:
            lan_index = None
        self.core.directory.refresh(neighbours.neighbours(), self.leases.leases(), lan_index, self.core.now())
        self._local = {socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip.split("%")[0])
                       for ip in neighbours.local_addresses()}

    def read(self) -> dict[str, tuple[int, int]]:
        """One reading; returns the bytes charged per device (the router as "router")."""
        self._read_events()
        self.tracker.dump(conntrack.dump_flows())
        self._read_events()
        self._refresh_directory()
        now = self.core.now()
        charged: dict[str, list[int]] = {}
        for key, up, down in self.tracker.take():
            mac = self.attribute(key)
            if mac is None:
                continue
            if mac is UNKNOWN:
                waiting = self._unknown.setdefault(key[:2], [0, 0, 0])
                waiting[0] += up
                waiting[1] += down
                continue
            total = charged.setdefault(mac, [0, 0])
            total[0] += up
            total[1] += down
            self.core.destinations.add(mac, key[1], up, down)
        self._settle_unknown(charged)
        for mac, (up, down) in charged.items():
            self.core.ledger.add(mac, up, down, now)
            if mac != ROUTER:
                self.core.directory.seen(mac, now)
        result = {mac: (up, down) for mac, (up, down) in charged.items()}
        self.core.rates.record(now, result)
        return result

    def _settle_unknown(self, charged: dict[str, list[int]]) -> None:
        """Charge bytes held back for an unknown source once its device is known; give up after a while."""
        for pair in list(self._unknown):
            src, dst = pair
            up, down, waited = self._unknown[pair]
            mac = self.core.directory.mac_of(conntrack.address_text(src))
            if mac is not None:
                total = charged.setdefault(mac, [0, 0])
                total[0] += up
                total[1] += down
                self.core.destinations.add(mac, dst, up, down)
            elif waited < UNKNOWN_PATIENCE:
                self._unknown[pair][2] += 1
                continue
            else:
                self.core.unattributed_bytes += up + down
                log.warning("no device has address %s: %d bytes not charged to anyone", conntrack.address_text(src), up + down)
            del self._unknown[pair]

    def _read_events(self) -> None:
        try:
            self.tracker.ended(self.events.read())
        except conntrack.EventsLost as lost:
            self.core.events_lost += 1
            log.warning("%s; resynchronising", lost)
            self.tracker.ended(lost.flows)
            self.tracker.dump(conntrack.dump_flows())

    def attribute(self, key: Key) -> str | None:
        src, dst, mark = key
        if dst in self._local:
            return None  # to the router itself: crosses no uplink
        if id_of_mark(mark) == FREE_ID:
            return None  # left by an unmetered uplink: nobody pays
        by_mark = self.mac_of_mark(mark)
        if by_mark is not None:
            return by_mark
        directory = self.core.directory
        if directory.mac_of(conntrack.address_text(dst)) is not None:
            return None  # inside the LAN
        if src in self._local:
            return ROUTER
        return directory.mac_of(conntrack.address_text(src)) or UNKNOWN

    def close(self) -> None:
        self.events.close()
