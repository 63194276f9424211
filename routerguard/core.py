"""The daemon's state, one owner for each piece, without the loop around it.

Tests and the web app build a Core from a config file and a data_dir and
get the same behaviour the daemon has, minus the kernel readers.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from routerguard.account.adjustments import Adjustments
from routerguard.account.bundle_marks import BundleMarks
from routerguard.account.clock import Clock, describe_behind, describe_jump
from routerguard.account.destinations import Destinations
from routerguard.account.ledger import ROUTER, Ledger
from routerguard.account.rates import Rates
from routerguard.account.uplinks import Uplinks
from routerguard.attribute.directory import Directory
from routerguard.attribute.names import Names
from routerguard.config.file import ConfigFile
from routerguard.decide.limits import Snapshot
from routerguard.decide.periods import Zone, bucket_start
from routerguard.read.offload import Offload
from routerguard.store.alert_log import AlertLog
from routerguard.store.db import Database
from routerguard.store.secrets import Secrets

log = logging.getLogger("routerguard")

CLOCK_KEY = "clock_high_water"


@dataclass
class Health:
    """How the daemon's loop is doing, for /healthz and /metrics: written by the loop (daemon.py) alone."""

    readings: int = 0
    events_lost: int = 0  # conntrack event overruns, each followed by a resync
    unattributed_bytes: int = 0  # bytes from addresses no device ever claimed
    wan_total: int | None = None  # uplink octets over SNMP since the plan period began, when configured
    config_error: str | None = None  # why the last reload was refused, shown until a good one
    offload: Offload = Offload()  # the firewall's flow offloading (read/offload.py), looked at every commit


class Core:
    def __init__(self, config_path: str) -> None:
        self.config_file = ConfigFile(config_path)
        data_dir = self.config.main.data_dir
        self.db = Database(data_dir)
        self.secrets = Secrets(data_dir)
        self._zone = _zone(self.config.main.timezone)
        self._zone_name = self.config.main.timezone
        self.clock = Clock()
        self._clock_lock = threading.Lock()  # the meter loop and the page's threads both ask the time
        self._clock_trusted: bool | None = None  # at the latest now(); None before the first
        self.clock.restore(float(self.db.get_meta(CLOCK_KEY) or 0) or None)
        self.ledger = Ledger(self.db, lambda t: bucket_start(t, self.zone))
        self.adjustments = Adjustments(self.db)
        self.bundle_marks = BundleMarks(self.db)  # where bundle boundaries fell in their hour (the plan as bundles)
        self.directory = Directory()
        self.rates = Rates()
        self.names = Names()  # what each device looked up, from the DNS answers the daemon sees
        self.destinations = Destinations(self.db, self.names)
        self.alerts = AlertLog(self.db)
        self.uplinks = Uplinks()  # bytes on each uplink and which one is in use, since the start
        self.told_metered: dict[str, float] = {}  # MAC -> when a DHCP ack told it the network is metered (leakguard.py's)
        self.health = Health()
        self.started = time.time()
        self.commit: Callable[[], bool] = self.ledger.commit  # the daemon's own (daemon.py), with the kernel's counts
        self._take_effect: Callable[[], None] = lambda: None  # the enforcer's sync: see on_change

    @property
    def on_change(self) -> Callable[[], None]:
        """What every command calls once it has changed state that users rely on (a block, a top-up, a reset,
        a config edit, anything a later command adds): makes it durable, then makes it take effect.

        Durable: the command's own write is (SQLite with synchronous=FULL, the
        config file fsynced and renamed); this commits the usage it was made
        against too, so after a power cut the two agree. Then the hook the
        daemon sets (`core.on_change = hook`: the enforcer's sync and dnsmasq's)
        brings the kernel in line, before the request is answered.
        """
        def changed() -> None:
            self.commit()
            self._take_effect()

        return changed

    @on_change.setter
    def on_change(self, hook: Callable[[], None]) -> None:
        self._take_effect = hook

    @property
    def config(self):
        return self.config_file.config

    @property
    def zone(self) -> Zone:
        """The configured timezone, following a reload that changed it."""
        name = self.config.main.timezone
        if name != self._zone_name:
            self._zone, self._zone_name = _zone(name), name
        return self._zone

    def now(self) -> float:
        """The time usage is charged to (see Clock: an untrusted wall clock never resets a period)."""
        with self._clock_lock:
            now = self.clock.effective_now()
            jump, trusted, wall = self.clock.last_jump, self.clock.trusted(), self.clock.wall() or 0.0
            newly_behind, self._clock_trusted = self._clock_trusted is not False and not trusted, trusted
        if jump is not None:
            log.warning("%s", describe_jump(jump, now, trusted))
        elif newly_behind:  # at start: the router booted with a wrong clock, no jump to tell of
            log.warning("%s", describe_behind(wall, now))
        return now

    def snapshot(self, now: float | None = None) -> Snapshot:
        """Every limit in force now (decide/limits.py), for one decision, one sync or one page."""
        return Snapshot(self.config, self.ledger, self.adjustments, self.zone, self.now() if now is None else now,
                        self.bundle_marks)

    def known_macs(self) -> list[str]:
        """The devices of the present: configured, on the LAN lately, with usage in a period in force, or blocked.

        A MAC that passed by (a phone's random address) drops out once its periods end; its history stays.
        """
        macs = (set(self.config.devices) | set(self.directory.macs()) | set(self.ledger.macs())
                | set(self.adjustments.blocks(self.now())))
        macs.discard(ROUTER)
        return sorted(macs)

    def name_of(self, mac: str) -> str | None:
        """What a person calls the device: its configured name, else the hostname it gave DHCP."""
        configured = self.config.devices.get(mac)
        info = self.directory.info(mac)
        return (configured.name if configured else None) or (info.hostname if info else None)


def _zone(name: str | None) -> Zone:
    zone = Zone(name)
    if zone.unavailable:
        log.warning("timezone %r is not available here (no tz database?): periods follow the system's local time", name)
    return zone
