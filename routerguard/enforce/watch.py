"""Puts our table back when someone else takes it away: a thread on nftables' change events.

OpenWrt's `/etc/init.d/firewall stop` runs `fw4 flush`, which deletes every
table; `nft flush ruleset`, a Debian `systemctl restart nftables` and an
admin's `nft delete table inet routerguard` do the same to ours. Without it
every capped device is free. The kernel announces each such transaction
(read/nftevents.py), so the table is rebuilt at once (Enforcer.restore: the
quotas made anew carry the counts last read, a cut device stays cut), not at
some later poll. fw4's own reload and restart replace only `inet fw4` and
are ignored, as are our own changes (they always add to the table).
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Callable

from routerguard.enforce.ruleset import TABLE
from routerguard.read import nftcounters, nftevents

log = logging.getLogger("routerguard.enforce")

WAKE = 0.5  # seconds between looks at the stop flag while no event comes


class FlushWatch:
    """Calls `restore(reason)` from its own thread whenever a transaction emptied our table."""

    def __init__(self, restore: Callable[[str], None]) -> None:
        self.restore = restore
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def start(self) -> bool:
        """Listen (in the caller's network namespace); False, with a warning, when the kernel will not tell us."""
        try:
            self._sock = nftevents.open_events()
        except OSError as e:
            log.warning("cannot follow nftables' changes (%s): a flushed table comes back only on SIGHUP", e)
            return False
        self._sock.settimeout(WAKE)
        self._thread = threading.Thread(target=self._run, name="routerguard-flushwatch", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        if self._sock:
            self._sock.close()

    def _run(self) -> None:
        assert self._sock is not None
        watch = nftevents.TableWatch(*TABLE.split())
        while not self._stop.is_set():
            try:
                emptied = nftevents.next_events(self._sock, watch)
            except TimeoutError:
                continue
            except (OSError, ValueError) as e:
                log.error("reading nftables' change events failed (%s); listening on", e)
                self._stop.wait(WAKE)
                continue
            if emptied:
                self._restore("deleted or emptied by another program (a firewall flush?)")
            elif emptied is None and _missing():
                self._restore("gone (found after the kernel's change events overflowed)")

    def _restore(self, reason: str) -> None:
        try:
            self.restore(reason)
        except Exception:  # the thread must go on listening whatever one rebuild did
            log.exception("could not put routerguard's table back")


def _missing() -> bool:
    try:
        return nftcounters.read(*TABLE.split()) is None
    except (OSError, ValueError):
        return False
