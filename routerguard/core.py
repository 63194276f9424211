"""The daemon's state, one owner for each piece, without the loop around it.

Tests and the web app build a Core from a config file and a data_dir and
get the same behaviour the daemon has, minus the kernel readers.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from routerguard.account.adjustments import Adjustments
from routerguard.account.clock import Clock, describe_behind, describe_jump
from routerguard.account.destinations import Destinations
from routerguard.account.ledger import Ledger
from routerguard.account.rates import Rates
from routerguard.attribute.destinations import Names
from routerguard.attribute.directory import Directory
from routerguard.config.file import ConfigFile
from routerguard.decide.periods import Zone, bucket_start
from routerguard.store.db import Database
from routerguard.store.secrets import Secrets

log = logging.getLogger("routerguard")

CLOCK_KEY = "clock_high_water"


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
        self.directory = Directory()
        self.rates = Rates()
        self.names = Names()  # what each device looked up, from the DNS answers the daemon sees
        self.destinations = Destinations(self.db, self.names)
        self.told_metered: dict[str, float] = {}  # MAC -> when a DHCP ack told it the network is metered
        self.readings = 0
        self.events_lost = 0  # conntrack event overruns, each followed by a resync
        self.unattributed_bytes = 0  # bytes from addresses no device ever claimed
        self.wan_total: int | None = None  # uplink octets over SNMP since the plan period began, when configured
        self.config_error: str | None = None  # why the last reload was refused, shown until a good one
        self.started = time.time()
        self.on_change: Callable[[], None] = lambda: None  # the enforcer's sync: a top-up, reset or edit reaches the kernel at once

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


def _zone(name: str | None) -> Zone:
    zone = Zone(name)
    if zone.unavailable:
        log.warning("timezone %r is not available here (no tz database?): periods follow the system's local time", name)
    return zone
