"""The daemon: one loop that meters, decides and enforces, and the page beside it.

Signals: SIGTERM and SIGINT stop it after flushing (exit 0), SIGHUP re-reads
the config and keeps the old one if the new one is bad; SIGUSR1 (OpenWrt's
hotplug: an uplink went up or down) does the same, so every kernel state
that names interfaces is rebuilt.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
from contextlib import nullcontext

from routerguard.config.model import Config, ConfigError
from routerguard.core import CLOCK_KEY, Core
from routerguard.decide.limits import starts_in_force
from routerguard.enforce import recovery
from routerguard.service import Service
from routerguard.store.db import set_meta

log = logging.getLogger("routerguard")

WAN_STATE_KEY = "wan_snmp_state"
SWITCH_INTERVAL = 0.001  # seconds a thread may hold the interpreter while another waits (see run())
WAN_PERIOD_KEY = "wan_snmp_period"  # the plan period the SNMP total counts from
MIN_REST = 0.1  # s between the end of a loop and the next, when a loop took longer than the poll interval


def with_interface_addresses(config: Config) -> Config:
    """`config` with listen_interface's addresses (read/listen.py) added to `listen`, at listen_port."""
    main = config.main
    if not main.listen_interface:
        return config
    from routerguard.read.listen import interface_addresses

    found = tuple((address, main.listen_port) for address in interface_addresses(main.listen_interface))
    if not found:
        log.error("listen_interface %r has no address now: the page waits for one (a reload looks again)",
                  main.listen_interface)
    listen = tuple(dict.fromkeys(main.listen + found))
    return dataclasses.replace(config, main=dataclasses.replace(main, listen=listen))


SYSLOG_SOCKET = "/dev/log"


def setup_logging(syslog: str | None) -> None:
    """Log lines on stderr, or with `syslog` (the socket's path) to the system log as facility daemon at each
    line's own level: procd hands a service's stderr to logd as daemon.err whatever it says, so under procd
    (`run --syslog`) info is daemon.info, a refusal daemon.err. Without the socket (logd not up), stderr."""
    if syslog and os.path.exists(syslog):
        from logging.handlers import SysLogHandler

        try:
            handler: logging.Handler = SysLogHandler(address=syslog, facility=SysLogHandler.LOG_DAEMON)
        except OSError:
            handler = logging.StreamHandler()
        else:
            handler.setFormatter(logging.Formatter(f"routerguard[{os.getpid()}]: %(message)s"))
            logging.basicConfig(level=logging.INFO, handlers=[handler])
            return
    logging.basicConfig(level=logging.INFO, format="routerguard: %(levelname)s %(message)s")


class Daemon:
    def __init__(self, config_path: str, syslog: bool = False) -> None:
        self.syslog = syslog
        self.core = Core(config_path)
        self.service = Service(self.core)
        self.stopping = threading.Event()
        self._reload = threading.Event()
        self.wan = None  # the SNMP poller, when `config snmp` is set
        self.enforcer = None  # the kernel's caps, once run() has started them
        self.meter = None  # usage from the kernel's counters, once run() has started it
        self._wan_period: str | None = self.core.db.get_meta(WAN_PERIOD_KEY)
        self._commit_lock = threading.Lock()  # the loop commits, and so does every command (Core.on_change)
        self._blocked_committed: frozenset[int] = frozenset()  # the devices cut off as of the last commit
        self.core.commit = self.commit  # a command's change is durable with the usage it was made against

    def _on_signal(self, signum: int, _frame) -> None:
        if signum in (signal.SIGHUP, signal.SIGUSR1):
            self._reload.set()
        else:
            self.stopping.set()

    def _reload_config(self) -> None:
        self._reload.clear()
        try:
            self.core.config_file.reload()
            self.core.health.config_error = None
            log.info("config reloaded from %s", self.core.config_file.path)
        except ConfigError as e:
            self.core.health.config_error = str(e)
            log.error("config reload refused, keeping the running settings:\n%s", e)
        if self.enforcer:
            self.enforcer.rebuild()
        self._look_at_offload()

    def commit(self) -> bool:
        """Write pending usage, the clock's high-water mark and the SNMP state in one journal record, on the
        medium when this returns, and the kernel's counts that usage was charged up to (the meter's last
        reading: enforce/recovery.py) tied to it, in RAM (store/volatile.py)."""
        with self._commit_lock:
            clock = self.core.clock.state()
            wan = self.wan.state() if self.wan else None
            period = self._wan_period
            blocked = self.enforcer.blocked() if self.enforcer else frozenset()

            def extra(tx) -> None:
                if clock:
                    set_meta(tx, CLOCK_KEY, repr(clock))
                if wan is not None:
                    set_meta(tx, WAN_STATE_KEY, json.dumps(wan))
                    set_meta(tx, WAN_PERIOD_KEY, period or "")

            with self.meter.lock if self.meter else nullcontext():  # the counts of exactly the usage it saves
                if self.meter:
                    self.core.db.stage_volatile(recovery.KEY, recovery.dumps(self.meter.counts))
                saved = self.core.ledger.commit(extra)
            if saved:
                self._blocked_committed = blocked
            self.core.ledger.keep_windows(starts_in_force(self.core.config, self.core.now(), self.core.zone,
                                                          self.core.bundle_marks.seen()))
        self._look_at_offload()  # a minute's delay is fine: fw4 turns it on only on a reload
        return saved

    def _due(self, last_commit: float) -> bool:
        """A commit is due: the commit interval has passed, or a device was cut off since the last one (the
        usage that reached its cap is on the medium at once, so a power cut cannot bring it back online)."""
        if time.monotonic() - last_commit >= self.core.config.main.commit_interval:
            return True
        return self.enforcer is not None and not self.enforcer.blocked() <= self._blocked_committed

    def _look_at_offload(self) -> None:
        """Whether the firewall offloads flows past our rules: for `check`'s twin on the page (service plan view)."""
        from routerguard.enforce import nft
        from routerguard.read.offload import detect

        found = detect(self.core.config.main.firewall_config, nft.flowtables())
        if found != self.core.health.offload and found.on:
            log.warning("flow offloading is on (%s): offloaded connections skip routerguard's counters, quotas and"
                        " limits; see `routerguard check`", ", ".join(found.found))
        self.core.health.offload = found

    def _read(self, meter, leak) -> None:
        """One meter reading; a kernel hiccup is logged and the next reading catches up (counters are cumulative)."""
        leak.before_reading()
        try:
            reading = meter.read()
        except (OSError, ValueError) as e:  # ValueError: a netlink message the decoder refused
            log.error("meter reading failed (%s); retrying at the next interval", e)
            return
        health = self.core.health
        health.events_lost += reading.events_lost
        health.unattributed_bytes += reading.unattributed_bytes
        leak.after_reading(reading.charged)

    def _start_wan(self) -> None:
        source = self.core.config.snmp
        if source is None:
            return
        from routerguard.account.wan_poller import WanPoller

        saved = self.core.db.get_meta(WAN_STATE_KEY)
        try:
            state = json.loads(saved) if saved else None
        except ValueError:
            state = None
        self.wan = WanPoller(source, interval=source.interval, state=state)
        self.wan.start()

    def _read_wan(self) -> None:
        """The carrier-side total since the plan period began; it starts afresh when the period rolls."""
        if self.wan is None:
            return
        plan = self.core.snapshot().plan()
        period = repr(plan.start) if plan else ""
        if period != self._wan_period:
            if self._wan_period is not None:
                self.wan.start_period()
            self._wan_period = period
        self.core.health.wan_total = self.wan.latest()

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(signum, self._on_signal)  # first: a default HUP/USR1 would kill us while importing
        setup_logging(SYSLOG_SOCKET if self.syslog else None)
        # The page's threads, the meter's loop and the flow sampler share one interpreter lock: a thread that
        # wants it waits for the holder's switch interval, at every socket call of a request. 5 ms by default,
        # a page load met by a reading or a sample waited tens of them (four times as long on a router's slower
        # core); 1 ms keeps a request's wait near its own work, at the cost of more frequent switches only while
        # two threads both want the lock.
        sys.setswitchinterval(SWITCH_INTERVAL)
        from routerguard.account.meter import Meter
        from routerguard.enforce.enforcer import Enforcer
        from routerguard.enforce.watch import FlushWatch
        from routerguard.leakguard import LeakGuard
        from routerguard.serve.words import chat_words
        from routerguard.serve.keeper import PageKeeper
        from routerguard.serve.snmp_agent import start_agent
        from routerguard.uplinkguard import UplinkGuard

        core = self.core
        core.config_file.adjust = with_interface_addresses
        core.config_file.readjust()  # listen_interface's addresses, before the kernel's table and the page use them
        enforcer = self.enforcer = Enforcer(core)
        meter = self.meter = Meter(core, enforcer.marks.mac_of_mark, enforcer)
        enforcer.start(meter.start_counts)  # the kernel's caps from the database, before the first reading and serving
        self._blocked_committed = enforcer.blocked()  # those are on the medium already
        flush_watch = FlushWatch(enforcer.restore)
        flush_watch.start()  # a firewall flush (fw4 flush, nft flush ruleset) and our table is back at once
        self._look_at_offload()
        leak = LeakGuard(core)
        leak.notifier.render = chat_words  # the page's words for alerts in the notify section's language

        def on_change() -> None:
            """A change on the page or the API reaches the kernel and dnsmasq before the request returns
            (Core.on_change has made it durable first)."""
            enforcer.sync()  # first: the saver's sets exist before dnsmasq is told to fill them
            leak.sync_dnsmasq()
            self.service.views_changed()  # the page's next request shows the change (service/views.py)

        core.on_change = on_change
        leak.start()
        uplinks = UplinkGuard(core, leak.tell)  # free uplinks first: probes, routing, the `uplink` alerts
        uplinks.start()
        pages = PageKeeper(self.service)
        core.secrets.rotate_cli_token()  # root's `routerguard status` on the router reads data_dir/cli.token
        core.secrets.sessions.key()  # the page's cookie key, made now while data_dir takes writes (the app is made later)
        pages.ensure(core.config.main.listen)  # a page that cannot bind is logged and retried, never fatal
        self._start_wan()
        agent = start_agent(self.service, core.config.agent)
        last_commit = time.monotonic()
        try:
            while not self.stopping.is_set():
                began = time.monotonic()  # readings poll_interval apart, start to start, whatever each costs
                if self._reload.is_set():
                    self._reload_config()
                pages.ensure(core.config.main.listen)
                self._read(meter, leak)
                core.uplinks.poll(core.config.uplink_names)
                # Right after the reading, so the kernel's counts the commit saves are those of its usage.
                if self._due(last_commit) and self.commit():
                    last_commit = time.monotonic()
                enforcer.sync()
                self._read_wan()
                self.service.views_read()  # before the count: a reader waiting for it sees this reading's views
                core.health.readings += 1
                self.stopping.wait(max(MIN_REST, began + core.config.main.poll_interval - time.monotonic()))
        finally:
            self.service.stop_publishing()
            uplinks.stop()  # routerguard's rules and table go: the main table decides again
            pages.stop()
            flush_watch.stop()
            enforcer.close()
            if self.wan:
                self.wan.stop()
            if agent:
                agent.stop()
            self._read(meter, leak)  # the bytes since the last reading: a clean stop loses none
            self.commit()
            leak.stop()
            meter.close()
            core.db.close()
            log.info("stopped after %d readings", core.health.readings)
        return 0
