"""The page kept up beside the meter: one waitress server per listen address, never the meter's downfall.

An address that cannot be bound (the LAN was renumbered and `listen` names the
old address, the interface is not up yet, the port is taken) is logged and
tried again every RETRY seconds; the others serve meanwhile, and the meter,
the caps and the commits go on whatever the page does. `ensure` is called from
the daemon's loop with the addresses in force, so a reload that changes them
(listen_interface's addresses after a renumbering) moves the page.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from routerguard.service import Service

log = logging.getLogger("routerguard")

RETRY = 10.0  # seconds between tries of an address that would not bind

Address = tuple[str, int]


def _shown(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class PageKeeper:
    def __init__(self, service: Service, make: Callable[[Service, tuple[Address, ...]], object] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if make is None:
            from routerguard.serve.server import Server
            make = Server
        self._service, self._make, self._clock = service, make, clock
        self._servers: dict[Address, object] = {}
        self._failed: dict[Address, tuple[float, str]] = {}  # address -> (when to try again, the error logged)
        self._warned_none = False

    @property
    def serving(self) -> tuple[Address, ...]:
        return tuple(self._servers)

    def ensure(self, listen: tuple[Address, ...]) -> None:
        """Serve on exactly `listen`: stop what is no longer wanted, bind what is not bound yet (due retries)."""
        wanted = tuple(dict.fromkeys(listen))
        for address in [a for a in self._servers if a not in wanted]:
            self._servers.pop(address).stop()  # type: ignore[attr-defined]
            log.info("page no longer served on %s", _shown(address))
        for address in [a for a in self._failed if a not in wanted]:
            del self._failed[address]
        if not wanted:
            if not self._warned_none:
                log.error("no address to serve the page on (listen_interface has none yet?): metering goes on")
                self._warned_none = True
            return
        self._warned_none = False
        now = self._clock()
        for address in wanted:
            if address in self._servers or (address in self._failed and now < self._failed[address][0]):
                continue
            try:
                server = self._make(self._service, (address,))
                server.start()  # type: ignore[attr-defined]
            except OSError as e:
                error = e.strerror or str(e)
                if self._failed.get(address, (0.0, ""))[1] != error:
                    log.error("cannot serve the page on %s (%s): metering and caps go on; trying again every %d s",
                              _shown(address), error, RETRY)
                self._failed[address] = (now + RETRY, error)
                continue
            self._servers[address] = server
            if address in self._failed:
                del self._failed[address]
            log.info("serving on %s", _shown(address))

    def stop(self) -> None:
        for server in self._servers.values():
            server.stop()  # type: ignore[attr-defined]
        self._servers.clear()
