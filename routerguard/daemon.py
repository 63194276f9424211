"""The daemon: one loop that meters, decides and enforces, and the page beside it.

Signals: SIGTERM and SIGINT stop it after flushing (exit 0), SIGHUP re-reads
the config and keeps the old one if the new one is bad.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

from routerguard.config.model import ConfigError
from routerguard.core import CLOCK_KEY, Core
from routerguard.service import Service
from routerguard.store.db import set_meta

log = logging.getLogger("routerguard")


class Daemon:
    def __init__(self, config_path: str) -> None:
        self.core = Core(config_path)
        self.service = Service(self.core)
        self.stopping = threading.Event()
        self._reload = threading.Event()

    def _on_signal(self, signum: int, _frame) -> None:
        if signum == signal.SIGHUP:
            self._reload.set()
        else:
            self.stopping.set()

    def _reload_config(self) -> None:
        self._reload.clear()
        try:
            self.core.config_file.reload()
            self.core.config_error = None
            log.info("config reloaded from %s", self.core.config_file.path)
        except ConfigError as e:
            self.core.config_error = str(e)
            log.error("config reload refused, keeping the running settings:\n%s", e)

    def commit(self) -> bool:
        """Write pending usage and the clock's high-water mark in one transaction."""
        clock = self.core.clock.state()
        return self.core.ledger.commit(lambda tx: set_meta(tx, CLOCK_KEY, repr(clock)) if clock else None)

    def run(self) -> int:
        logging.basicConfig(level=logging.INFO, format="routerguard: %(levelname)s %(message)s")
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        from routerguard.account.meter import Meter
        from routerguard.serve.server import Server

        core = self.core
        meter = Meter(core)
        server = Server(self.service, core.config.main.listen)
        server.start()
        log.info("serving on %s", ", ".join(f"{h}:{p}" for h, p in core.config.main.listen))
        last_commit = time.monotonic()
        try:
            while not self.stopping.is_set():
                if self._reload.is_set():
                    self._reload_config()
                meter.read()
                core.readings += 1
                if time.monotonic() - last_commit >= core.config.main.commit_interval and self.commit():
                    last_commit = time.monotonic()
                self.stopping.wait(core.config.main.poll_interval)
        finally:
            server.stop()
            self.commit()
            meter.close()
            core.db.close()
            log.info("stopped after %d readings", core.readings)
        return 0
