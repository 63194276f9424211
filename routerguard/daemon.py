"""The daemon: one loop that meters, decides and enforces, and the page beside it.

Signals: SIGTERM and SIGINT stop it after flushing (exit 0), SIGHUP re-reads
the config and keeps the old one if the new one is bad; SIGUSR1 (OpenWrt's
hotplug: an uplink went up or down) does the same, so every kernel state
that names interfaces is rebuilt.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time

from routerguard.config.model import ConfigError
from routerguard.core import CLOCK_KEY, Core
from routerguard.decide.limits import starts_in_force
from routerguard.enforce import recovery
from routerguard.service import Service
from routerguard.store.db import set_meta

log = logging.getLogger("routerguard")

WAN_STATE_KEY = "wan_snmp_state"
WAN_PERIOD_KEY = "wan_snmp_period"  # the plan period the SNMP total counts from


class Daemon:
    def __init__(self, config_path: str) -> None:
        self.core = Core(config_path)
        self.service = Service(self.core)
        self.stopping = threading.Event()
        self._reload = threading.Event()
        self.wan = None  # the SNMP poller, when `config snmp` is set
        self.enforcer = None  # the kernel's caps, once run() has started them
        self._wan_period: str | None = self.core.db.get_meta(WAN_PERIOD_KEY)

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
        """Write pending usage, the clock's high-water mark, the kernel's counts (after the reading whose usage
        this saves: enforce/recovery.py) and the SNMP state in one transaction."""
        clock = self.core.clock.state()
        wan = self.wan.state() if self.wan else None
        period = self._wan_period
        counts = recovery.dumps(self.enforcer.counts()) if self.enforcer else None

        def extra(tx) -> None:
            if clock:
                set_meta(tx, CLOCK_KEY, repr(clock))
            if counts is not None:
                set_meta(tx, recovery.KEY, counts)
            if wan is not None:
                set_meta(tx, WAN_STATE_KEY, json.dumps(wan))
                set_meta(tx, WAN_PERIOD_KEY, period or "")

        self._look_at_offload()  # a minute's delay is fine: fw4 turns it on only on a reload
        saved = self.core.ledger.commit(extra)
        self.core.ledger.keep_windows(starts_in_force(self.core.config, self.core.now(), self.core.zone))
        return saved

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
        logging.basicConfig(level=logging.INFO, format="routerguard: %(levelname)s %(message)s")
        from routerguard.account.meter import Meter
        from routerguard.enforce.enforcer import Enforcer
        from routerguard.enforce.watch import FlushWatch
        from routerguard.leakguard import LeakGuard
        from routerguard.serve.i18n import chat_words
        from routerguard.serve.server import Server
        from routerguard.serve.snmp_agent import start_agent

        core = self.core
        enforcer = self.enforcer = Enforcer(core)
        meter = Meter(core, mac_of_mark=enforcer.marks.mac_of_mark, before_baseline=enforcer.read_start_counts)
        enforcer.start()  # the kernel's caps from the database, before the first reading and before serving
        flush_watch = FlushWatch(enforcer.restore)
        flush_watch.start()  # a firewall flush (fw4 flush, nft flush ruleset) and our table is back at once
        self._look_at_offload()
        leak = LeakGuard(core)
        leak.notifier.render = chat_words  # the page's words for alerts in the notify section's language

        def on_change() -> None:
            """A change on the page or the API reaches the kernel and dnsmasq before the request returns."""
            enforcer.sync()  # first: the saver's sets exist before dnsmasq is told to fill them
            leak.sync_dnsmasq()
            self.service.views_changed()  # the page's next request shows the change (service/views.py)

        core.on_change = on_change
        leak.start()
        server = Server(self.service, core.config.main.listen)
        core.secrets.rotate_cli_token()  # root's `routerguard status` on the router reads data_dir/cli.token
        server.start()
        self._start_wan()
        agent = start_agent(self.service, core.config.agent)
        log.info("serving on %s", ", ".join(f"{h}:{p}" for h, p in core.config.main.listen))
        last_commit = time.monotonic()
        try:
            while not self.stopping.is_set():
                if self._reload.is_set():
                    self._reload_config()
                self._read(meter, leak)
                core.uplinks.poll(core.config.uplink_names)
                # Right after the reading, so the kernel's counts the commit saves are those of its usage.
                if time.monotonic() - last_commit >= core.config.main.commit_interval and self.commit():
                    last_commit = time.monotonic()
                enforcer.sync()
                self._read_wan()
                self.service.views_changed()  # before the count: a reader waiting for it sees this reading's views
                core.health.readings += 1
                self.stopping.wait(core.config.main.poll_interval)
        finally:
            self.service.stop_publishing()
            server.stop()
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
