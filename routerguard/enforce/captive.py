"""The "quota reached" redirect: blocked devices' plain HTTP lands here and is sent to the page.

The kernel rewrites a blocked device's tcp/80 connections to the internet to
this responder (ruleset.py, `captive`), which answers every request with a
302 to `http://<page address>/blocked`. The browser then asks the page by
the router's own address, so the page's Host check (DNS rebinding) never
sees a foreign Host. HTTPS cannot be redirected without a certificate
warning; it is rejected at once instead, like every other connection.

It reads a request line and headers and answers; no more HTTP than that,
so it stands on socketserver, not http.server (whose header parsing brings
the email package, http.client and ssl: 4.6 MiB the daemon otherwise never
needs until someone opens the page).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import socketserver
import threading

from routerguard.enforce.ruleset import Captive

log = logging.getLogger("routerguard.captive")

CAPTIVE_PORT = 8081
BLOCKED_PATH = "/blocked"
IDLE_SECONDS = 5  # a connection that sends nothing is dropped, so idle sockets cannot pile up threads
MAX_LINE = 8192
MAX_HEADERS = 100


def page_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}{BLOCKED_PATH}" if ":" in host else f"http://{host}:{port}{BLOCKED_PATH}"


class _Redirect(socketserver.StreamRequestHandler):
    """Any method, any path, any Host: 302 to the page's blocked view."""

    timeout = IDLE_SECONDS
    location = ""  # set per server

    def handle(self) -> None:
        try:
            self._handle()
        except OSError:  # timed out, or the device went away
            pass

    def _handle(self) -> None:
        line = self.rfile.readline(MAX_LINE)
        if not line.strip():
            return  # nothing asked
        parts = line.split()
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            self._answer("400 Bad Request", {})
            return
        for _ in range(MAX_HEADERS):  # read to the blank line: closing with a request unread would reset the connection
            header = self.rfile.readline(MAX_LINE)
            if header in (b"\r\n", b"\n", b""):
                break
        self._answer("302 Found", {"Location": self.location, "Cache-Control": "no-store"})

    def _answer(self, status: str, headers: dict[str, str]) -> None:
        lines = [f"HTTP/1.0 {status}", *(f"{name}: {value}" for name, value in headers.items()),
                 "Content-Length: 0", "Connection: close", "", ""]
        self.wfile.write("\r\n".join(lines).encode("latin-1"))


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class Responder:
    """One redirecting server per address family the page listens on."""

    def __init__(self, listen: tuple[tuple[str, int], ...], port: int = CAPTIVE_PORT) -> None:
        self.listen, self.port = listen, port
        self._servers: list[_Server] = []

    def start(self) -> Captive | None:
        """Bind and serve; the addresses the kernel may send blocked devices to (None if none could bind)."""
        bound: dict[str, str] = {}
        for host, page_port in self.listen:
            family = "ipv6" if ":" in host else "ipv4"
            address = ipaddress.ip_address(host)
            if family in bound or address.is_unspecified or address.is_loopback:
                continue  # the kernel can send a forwarded connection only to an address of the router on the LAN
            handler = type("Redirect", (_Redirect,), {"location": page_url(host, page_port)})
            try:
                server = (_Server6 if family == "ipv6" else _Server)((host, self.port), handler)
            except OSError as e:
                log.error("cannot serve the quota-reached redirect on %s port %d (%s): blocked devices' web requests"
                          " are refused instead", host, self.port, e.strerror)
                continue
            threading.Thread(target=server.serve_forever, name=f"captive-{family}", daemon=True).start()
            self._servers.append(server)
            bound[family] = host
        return Captive(self.port, bound.get("ipv4"), bound.get("ipv6")) if bound else None

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()
