"""The internet host's web server: downloads and uploads of any size.

``GET /bytes/N`` streams N bytes; ``GET /generate_204`` answers 204, like
the connectivity checks of phones and of routerguard's uplink probe, and logs
``probe from ADDRESS`` on stderr (the lab's httpd.log), so a test can tell
which uplink each probe came by; ``GET /whoami`` answers the address the
request came from (which uplink's NAT it crossed). ``POST`` (or ``PUT``) to any path reads
the whole body, plain or chunked, discards it and replies with the count.
Nothing is held in memory, so gigabytes cost no RAM. It listens on ``::``
with IPv4 mapped in, so one socket serves both families on every address
of the host. Started as ``python3 -m routerguard_lab.httpd PORT`` inside the
internet namespace; prints ``ready`` once it accepts connections.
"""

from __future__ import annotations

import re
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 64 * 1024
_ZEROS = bytes(CHUNK)
_BYTES_PATH = re.compile(r"^/bytes/(\d+)$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # so that "Expect: 100-continue" is answered

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/generate_204":
            sys.stderr.write(f"probe from {_plain(self.client_address[0])}\n")
            sys.stderr.flush()
            self._head(204, 0, "text/plain")
            return
        if path == "/whoami":
            self._reply(200, _plain(self.client_address[0]).encode())
            return
        match = _BYTES_PATH.match(path)
        if not match:
            self._reply(404, b"try /bytes/N\n")
            return
        remaining = int(match[1])
        self._head(200, remaining, "application/octet-stream")
        while remaining:
            n = min(remaining, CHUNK)
            self.wfile.write(_ZEROS[:n])
            remaining -= n

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            count = self._drain_chunked()
        else:
            count = self._drain(int(self.headers.get("Content-Length") or 0))
        self._reply(200, f"{count}\n".encode())

    do_PUT = do_POST

    def _drain(self, n: int) -> int:
        left = n
        while left:
            got = self.rfile.read1(min(left, CHUNK))
            if not got:
                break
            left -= len(got)
        return n - left

    def _drain_chunked(self) -> int:
        total = 0
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0], 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return total
            total += self._drain(size)
            self.rfile.readline()  # CRLF after the chunk

    def _head(self, status: int, length: int, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if status != 204:
            self.send_header("Content-Length", str(length))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def _reply(self, status: int, body: bytes) -> None:
        self._head(status, len(body), "text/plain")
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the lab runs thousands of requests and reads no log."""


def _plain(address: str) -> str:
    """An IPv4 client as itself, not as the ::ffff: mapped address the dual-stack socket shows."""
    return address[7:] if address.startswith("::ffff:") else address


class DualStackServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    request_queue_size = 128

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main(argv: list[str]) -> int:
    server = DualStackServer(("::", int(argv[0])), Handler)
    print("ready", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
