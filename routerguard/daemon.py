"""The daemon: one loop that meters, decides and enforces, and the page beside it.

Signals: SIGTERM and SIGINT stop it after flushing (exit 0), SIGHUP re-reads
the config and keeps the old one if the new one is bad.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

from routerguard.config.file import ConfigFile
from routerguard.config.model import ConfigError

log = logging.getLogger("routerguard")


class Daemon:
    def __init__(self, config_path: str) -> None:
        self.config_file = ConfigFile(config_path)
        self.stopping = threading.Event()
        self._reload = threading.Event()
        self.readings = 0
        self.config_error: str | None = None  # why the last reload was refused, shown until a good one
        self.started = time.time()

    @property
    def config(self):
        return self.config_file.config

    def _on_signal(self, signum: int, _frame) -> None:
        if signum == signal.SIGHUP:
            self._reload.set()
        else:
            self.stopping.set()

    def _reload_config(self) -> None:
        self._reload.clear()
        try:
            self.config_file.reload()
            self.config_error = None
            log.info("config reloaded from %s", self.config_file.path)
        except ConfigError as e:
            self.config_error = str(e)
            log.error("config reload refused, keeping the running settings:\n%s", e)

    def tick(self) -> None:
        """One meter reading; later steps (attribute, account, decide, enforce) hang off it."""
        self.readings += 1

    def run(self) -> int:
        logging.basicConfig(level=logging.INFO, format="routerguard: %(levelname)s %(message)s")
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        from routerguard.serve.server import Server

        server = Server(self)
        server.start()
        log.info("serving on %s", ", ".join(f"{h}:{p}" for h, p in self.config.main.listen))
        try:
            while not self.stopping.is_set():
                if self._reload.is_set():
                    self._reload_config()
                self.tick()
                self.stopping.wait(self.config.main.poll_interval)
        finally:
            server.stop()
            log.info("stopped after %d readings", self.readings)
        return 0
