"""Does an uplink reach the internet? One small HTTP GET sent out of that interface only.

The socket is bound to the interface (SO_BINDTODEVICE) and to one of its
addresses before it connects, so the request leaves by that interface
whatever the routing tables say, or not at all: a probe never crosses another
uplink (a metered one) when the one it checks is broken. The answer must be
a 204 (a generate_204 endpoint); a redirect or a 200 page is a captive
portal's, which is not working internet.

The request is a few dozen bytes, the receive window is small (a portal's
login page cannot pour its whole page in), the connection ends with a reset once the
answer is in (no FIN exchange), and its bytes are the kernel's own count of
the connection (TCP_INFO: payload both ways and segments) plus the IP and
TCP headers of each segment: a probe to a generate_204 endpoint is some
600 bytes at the IP layer (docs/uplinks.md).

The host name is resolved by the system's resolver and kept for an hour: the
lookup is the one thing that may leave by another uplink (a few dozen bytes,
and no probe).
"""

from __future__ import annotations

import errno
import socket
import struct
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

OK, CAPTIVE, DOWN, UNKNOWN = "ok", "captive", "down", ""
TIMEOUT = 2.5  # seconds for the whole exchange: two round trips, even over a slow hotel Wi-Fi
MAX_ANSWER = 4096  # bytes of the answer read: the status line is all that matters
RECEIVE_BUFFER = 2048  # a small receive window: a portal's login page sends a few KB at most before the reset
RESOLVE_TTL = 3600.0
CLOSE_WAIT = 0.3  # seconds to wait for the server's close after the answer (it sends `Connection: close`)
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
TCP_INFO = getattr(socket, "TCP_INFO", 11)
# struct tcp_info (linux/tcp.h): offsets of tcpi_bytes_acked, tcpi_bytes_received (u64) and
# tcpi_segs_out, tcpi_segs_in (u32), stable since Linux 4.2.
BYTES_ACKED, BYTES_RECEIVED, SEGS_OUT, SEGS_IN = 120, 128, 136, 140
TCP_INFO_SIZE = 144
TCP_HEADER = 32  # 20 bytes and the timestamp option, which Linux sends on every segment
IP_HEADER = {socket.AF_INET: 20, socket.AF_INET6: 40}
RESET = 40  # our closing RST: bare headers, not in TCP_INFO's count


@dataclass(frozen=True)
class ProbeResult:
    verdict: str  # OK, CAPTIVE (an answer that is not a 204) or DOWN (no answer)
    status: int | None  # the HTTP status, when one came
    bytes: int  # IP-layer bytes both ways, estimated from the kernel's counts
    detail: str = ""  # why, for the log


class Target:
    """Where the probe goes: the URL's host (resolved, kept RESOLVE_TTL), port and path."""

    def __init__(self, url: str, resolve: Callable[..., list] = socket.getaddrinfo, clock: Callable[[], float] = time.monotonic) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http:// or https:// URL")
        self.url, self.tls = url, parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._resolve, self._clock = resolve, clock
        self._addresses: list[tuple[int, str]] = []
        self._resolved = float("-inf")

    def addresses(self) -> list[tuple[int, str]]:
        """(family, address) of the host; [] when it cannot be resolved now."""
        if self._addresses and self._clock() - self._resolved < RESOLVE_TTL:
            return self._addresses
        try:
            found = self._resolve(self.host, self.port, 0, socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return self._addresses  # keep the last ones: a resolver hiccup is no verdict on the uplink
        self._addresses = list(dict.fromkeys((family, sockaddr[0]) for family, _, _, _, sockaddr in found
                                             if family in IP_HEADER))
        self._resolved = self._clock()
        return self._addresses

    def request(self) -> bytes:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port != (443 if self.tls else 80):
            host += f":{self.port}"
        return f"GET {self.path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("ascii", "replace")


def probe(ifname: str, sources: dict[int, str], target: Target, timeout: float = TIMEOUT) -> ProbeResult:
    """One GET of `target` bound to `ifname` and its address of the target's family (`sources`: family -> address)."""
    candidates = [(family, address) for family, address in target.addresses() if family in sources]
    if not candidates:
        if not target.addresses():  # says nothing of the uplink: no verdict
            return ProbeResult(UNKNOWN, None, 0, f"cannot resolve {target.host}")
        return ProbeResult(DOWN, None, 0, f"{ifname} has no address of the host's family")
    family, address = candidates[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, ifname.encode())
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)  # a portal's big page cannot flood it
        sock.bind((sources[family], 0))
        sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        try:
            sock.connect((address, target.port))
            stream = _tls(sock, target) if target.tls else sock
            stream.sendall(target.request())
            answer = _read_status_line(stream, deadline)
        except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
            return ProbeResult(DOWN, None, _bytes(sock, family, opened=True), _why(e))
        status = _status(answer)
        if status == 204:  # nothing follows but the server's close: wait for it, so the count has it
            _drain(stream, min(deadline, time.monotonic() + CLOSE_WAIT))
        used = _bytes(sock, family, opened=True)
        if status == 204:
            return ProbeResult(OK, 204, used)
        return ProbeResult(CAPTIVE, status, used, f"HTTP {status}" if status else "not an HTTP answer")
    except OSError as e:  # binding: the interface or its address went away
        return ProbeResult(DOWN, None, 0, _why(e))
    finally:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
        except OSError:
            pass
        sock.close()


def _tls(sock: socket.socket, target: Target):
    import ssl  # only an https probe pays for it

    return ssl.create_default_context().wrap_socket(sock, server_hostname=target.host)


def _read_status_line(stream, deadline: float) -> bytes:
    data = b""
    while b"\r\n" not in data and len(data) < MAX_ANSWER:
        left = deadline - time.monotonic()
        if left <= 0:
            raise OSError(errno.ETIMEDOUT, "no answer in time")
        stream.settimeout(left)
        chunk = stream.recv(MAX_ANSWER - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _drain(stream, deadline: float) -> None:
    """Read what is left of the answer until the server closes (a 204 has nothing), within the receive window."""
    try:
        for _ in range(4):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            stream.settimeout(left)
            if not stream.recv(RECEIVE_BUFFER):
                return
    except OSError:
        return


def _status(answer: bytes) -> int | None:
    line = answer.split(b"\r\n", 1)[0].split()
    if len(line) >= 2 and line[0].startswith(b"HTTP/") and line[1].isdigit():
        return int(line[1])
    return None


def _bytes(sock: socket.socket, family: int, opened: bool) -> int:
    """The connection's IP-layer bytes so far: payload both ways plus headers of every segment, and our reset."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, TCP_INFO_SIZE)
    except OSError:
        return 0
    if len(info) < TCP_INFO_SIZE:
        return 0
    acked, received = struct.unpack_from("=QQ", info, BYTES_ACKED)
    segs_out, segs_in = struct.unpack_from("=II", info, SEGS_OUT)
    header = IP_HEADER[family] + TCP_HEADER
    return acked + received + (segs_out + segs_in) * header + (RESET + IP_HEADER[family] - 20 if opened and segs_in else 0)


def _why(e: BaseException) -> str:
    return getattr(e, "strerror", None) or str(e) or type(e).__name__
