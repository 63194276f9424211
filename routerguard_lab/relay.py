"""A TCP relay from the host's loopback into a namespace.

The daemon listens inside the router namespace, where the host's browser
cannot reach; the relay accepts on 127.0.0.1 and opens each onward
connection from a socket made inside the namespace.
"""

from __future__ import annotations

import socket
import threading

from .netns import Namespace

BUFFER = 64 * 1024
BACKLOG = 64


class Relay:
    """Forwards ``listen`` on the host to ``target`` inside ``ns`` until closed."""

    def __init__(self, listen: tuple[str, int], ns: Namespace, target: tuple[str, int]) -> None:
        self.ns = ns
        self.target = target
        self._server = socket.create_server(listen, backlog=BACKLOG)
        self.port: int = self._server.getsockname()[1]
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="lab-relay", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        self._thread.join()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        family = socket.AF_INET6 if ":" in self.target[0] else socket.AF_INET
        upstream = self.ns.socket(family)
        try:
            upstream.connect(self.target)
        except OSError:
            upstream.close()
            conn.close()  # the browser sees a reset, as if nothing listened
            return
        back = threading.Thread(target=_pump, args=(upstream, conn), daemon=True)
        back.start()
        _pump(conn, upstream)
        back.join()
        conn.close()
        upstream.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy until ``src`` ends, then pass the end on (half-close) so replies can finish."""
    try:
        while data := src.recv(BUFFER):
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass
