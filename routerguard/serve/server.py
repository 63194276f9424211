"""waitress on every `listen` address, in a thread beside the meter loop.

The loop is ours rather than waitress's `run()`, because waitress's public
API cannot stop a server: "Waitress does not currently have a way to shut
down the server programmatically" (its maintainers, Pylons/waitress#372).
Measured with waitress 3.0.2, `create_server(...).run()` in a thread and
`close()` from another: with one keep-alive connection open, `run()` never
returns (the connection's channel stays in the socket map, which `run()`
loops on until it is empty); with none, it returns within a second but the
four task threads stay behind on every stop (`close()` of one server never
shuts its task dispatcher down), and closing a socket under the running
select() can kill the loop with EBADF (Pylons/waitress#468).

One device must not take the page from the others (an outside review held
100 idle connections from one device, waitress's `connection_limit`, for the
120 s of its idle timeout, and the page answered no one). So:
- each device (its MAC from the neighbour table, else its IPv6 /64 or IPv4
  address: serve/auth.py `client_key`) holds at most MAX_PER_CLIENT
  connections; one more is closed as soon as it is accepted. waitress has no
  such option; its servers make each connection's channel through their
  `channel_class`, so ours is a small gate that counts the device's channels
  in the socket map first (the map is ours, below; at most `connection_limit`
  entries, counted only when a connection arrives);
- idle connections close after CHANNEL_TIMEOUT seconds (waitress's default is
  120), checked every CLEANUP_INTERVAL seconds;
- the overall `connection_limit` is CONNECTION_LIMIT, so it takes many
  devices (each with its own MAC) to fill it, each for CHANNEL_TIMEOUT at a time.

So `stop()` sets a flag and wakes the loop through waitress's own trigger
pipe; the loop thread then shuts the task threads down and closes every
socket itself. That uses waitress's socket map (handed to `create_server`,
so it is ours), its `wasyncore` loop and its trigger: not public API, hence
the version pin in setup.cfg, and tests/test_server.py (stop ends the loop
and every thread, a keep-alive connection open) to run on every upgrade.
"""

from __future__ import annotations

import threading
from typing import Callable

from routerguard.serve.front import Front
from routerguard.serve.hosts import client_key
from routerguard.service import Service

WAITRESS_THREADS = 4
# waitress buffers a whole body before the app sees it (in /tmp, RAM on
# OpenWrt); the app refuses anything over 64 KiB, waitress anything over this.
MAX_BUFFERED_BODY = 1024 * 1024
LOOP_TIMEOUT = 1.0  # seconds; stop() wakes the loop at once anyway
STOP_TIMEOUT = 10.0
MAX_PER_CLIENT = 12  # a browser opens 6 per host; two tabs and a script stay under it
CONNECTION_LIMIT = 200  # waitress's default is 100; a channel costs a few KiB
CHANNEL_TIMEOUT = 15  # seconds a connection may idle (waitress: 120)
CLEANUP_INTERVAL = 2  # seconds between waitress's checks for idle connections (waitress: 30)


class ClientGate:
    """Each waitress server's `channel_class`: a device at MAX_PER_CLIENT connections gets no more."""

    def __init__(self, client_of: Callable[[str], str]) -> None:
        from waitress.channel import HTTPChannel

        self._channel = HTTPChannel
        self._client_of = client_of
        self.refused = 0  # connections closed at once (the tests read it)

    def __call__(self, server, conn, addr, adj, map=None):  # noqa: A002 (waitress's keyword)
        try:
            client = self._client_of(addr[0] if isinstance(addr, tuple) else str(addr))
        except Exception:  # noqa: BLE001 (the gate must never stop the server's loop)
            client = str(addr)
        held = sum(1 for channel in list((map or {}).values()) if getattr(channel, "client", None) == client)
        if held >= MAX_PER_CLIENT:
            self.refused += 1
            conn.close()
            return None
        channel = self._channel(server, conn, addr, adj, map=map)
        channel.client = client
        return channel


class Server:
    def __init__(self, service: Service, listen_on: tuple[tuple[str, int], ...]) -> None:
        from waitress import create_server

        listen = " ".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in listen_on)
        self._map: dict = {}  # every socket of every address, and each address's trigger
        self.front = Front(service)  # /healthz at once; the Flask app at the first request that needs it
        self._server = create_server(self.front, map=self._map, listen=listen, threads=WAITRESS_THREADS,
                                     ident="routerguard", max_request_body_size=MAX_BUFFERED_BODY,
                                     connection_limit=CONNECTION_LIMIT, channel_timeout=CHANNEL_TIMEOUT,
                                     cleanup_interval=CLEANUP_INTERVAL)
        mac_of = service.core.directory.mac_of
        self.gate = ClientGate(lambda address: client_key(address, mac_of))
        for dispatcher in list(self._map.values()):
            if hasattr(dispatcher, "channel_class"):  # each listening socket's server
                dispatcher.channel_class = self.gate
        self._stopping = threading.Event()
        self._closing = threading.Lock()  # stop() must not pull the trigger of a loop that closed it
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)

    @property
    def port(self) -> int:
        """The port of the first address (the one picked when asked for port 0)."""
        multi = getattr(self._server, "effective_listen", None)
        return multi[0][1] if multi else self._server.effective_port

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        from waitress import wasyncore

        while not self._stopping.is_set():
            wasyncore.loop(timeout=LOOP_TIMEOUT, map=self._map, use_poll=self._server.adj.asyncore_use_poll, count=1)
        with self._closing:
            self._server.task_dispatcher.shutdown()
            wasyncore.close_all(self._map)

    def stop(self) -> None:
        from waitress.trigger import trigger

        with self._closing:
            self._stopping.set()
            wakers = [channel for channel in list(self._map.values()) if isinstance(channel, trigger)]
            if wakers:
                wakers[0].pull_trigger()
        if self._thread.is_alive():
            self._thread.join(STOP_TIMEOUT)
