"""The "quota reached" redirect: blocked devices' plain HTTP lands here and is sent to the page.

The kernel rewrites a blocked device's tcp/80 connections to the internet to
this responder (ruleset.py, `captive`), which answers every request with a
302 to `http://<page address>/blocked`. The browser then asks the page by
the router's own address, so the page's Host check (DNS rebinding) never
sees a foreign Host. HTTPS cannot be redirected without a certificate
warning; it is rejected at once instead, like every other connection.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from routerguard.enforce.ruleset import Captive

log = logging.getLogger("routerguard.captive")

CAPTIVE_PORT = 8081
BLOCKED_PATH = "/blocked"
IDLE_SECONDS = 5  # a connection that sends nothing is dropped, so idle sockets cannot pile up threads
MAX_LINE = 8192


def page_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}{BLOCKED_PATH}" if ":" in host else f"http://{host}:{port}{BLOCKED_PATH}"


class _Redirect(BaseHTTPRequestHandler):
    """Any method, any path, any Host: 302 to the page's blocked view."""

    timeout = IDLE_SECONDS
    location = ""  # set per server

    def handle_one_request(self) -> None:
        self.close_connection = True
        self.raw_requestline = self.rfile.readline(MAX_LINE)
        if not self.raw_requestline or not self.parse_request():
            return
        self.send_response(302)
        self.send_header("Location", self.location)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return  # one line per blocked request would flood the log


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class Responder:
    """One redirecting server per address family the page listens on."""

    def __init__(self, listen: tuple[tuple[str, int], ...], port: int = CAPTIVE_PORT) -> None:
        self.listen, self.port = listen, port
        self._servers: list[ThreadingHTTPServer] = []

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
