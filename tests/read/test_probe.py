"""The uplink probe against real sockets on the loopback: a 204 works, a portal's answer does not, silence is down."""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager
from typing import Iterator

import pytest

from routerguard.read import iproute
from routerguard.read.probe import CAPTIVE, DOWN, OK, Target, probe

LOOPBACK = {socket.AF_INET: "127.0.0.1"}


@contextmanager
def server(answer: bytes | None) -> Iterator[int]:
    """A one-connection-at-a-time server on 127.0.0.1 that sends `answer` (None: reads and says nothing)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(4096)
                    if answer is not None:
                        conn.sendall(answer)
                    else:
                        stop.wait(2)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()


def run(answer: bytes | None, timeout: float = 3.0):
    with server(answer) as port:
        return probe("lo", LOOPBACK, Target(f"http://127.0.0.1:{port}/generate_204"), timeout=timeout)


def test_a_204_is_internet_and_its_bytes_are_counted() -> None:
    result = run(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
    assert (result.verdict, result.status) == (OK, 204)
    assert 300 < result.bytes < 1000  # handshake, request, answer, reset: a few hundred bytes


@pytest.mark.parametrize("answer, status", [
    (b"HTTP/1.1 302 Found\r\nLocation: http://portal.example/login\r\nContent-Length: 0\r\n\r\n", 302),
    (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>Welcome to the hotel: log in</html>" + b"x" * 20000, 200),
    (b"SSH-2.0-OpenSSH\r\n", None),
])
def test_a_portal_answer_is_not_internet(answer: bytes, status: int | None) -> None:
    result = run(answer)
    assert (result.verdict, result.status) == (CAPTIVE, status)
    assert result.bytes < 8000  # the small receive window keeps a portal's big page out


def test_silence_and_a_closed_port_are_down() -> None:
    assert run(None, timeout=0.5).verdict == DOWN
    with server(b"") as port:
        pass  # closed again: nothing listens there now
    assert probe("lo", LOOPBACK, Target(f"http://127.0.0.1:{port}/")).verdict == DOWN


def test_no_address_of_the_family_or_no_interface_is_down_without_leaving() -> None:
    target = Target("http://127.0.0.1/generate_204")
    assert probe("lo", {socket.AF_INET6: "::1"}, target).verdict == DOWN
    assert probe("no-such-if0", LOOPBACK, target).verdict == DOWN


def test_the_target_url() -> None:
    target = Target("http://connectivitycheck.example:8080/generate_204?x=1",
                    resolve=lambda *a: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.7", 8080))])
    assert (target.host, target.port, target.path) == ("connectivitycheck.example", 8080, "/generate_204?x=1")
    assert target.addresses() == [(socket.AF_INET, "192.0.2.7")]
    assert target.request() == (b"GET /generate_204?x=1 HTTP/1.1\r\nHost: connectivitycheck.example:8080\r\n"
                                b"Connection: close\r\n\r\n")
    with pytest.raises(ValueError):
        Target("ftp://example.com/")


def test_a_resolver_hiccup_keeps_the_last_addresses() -> None:
    answers = [[(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.7", 80))]]
    clock = [0.0]

    def resolve(*_):
        if not answers:
            raise socket.gaierror("temporary failure")
        return answers.pop()

    target = Target("http://probe.example/", resolve=resolve, clock=lambda: clock[0])
    assert target.addresses() == [(socket.AF_INET, "192.0.2.7")]
    clock[0] = 7200.0
    assert target.addresses() == [(socket.AF_INET, "192.0.2.7")]


def test_addresses_and_gateways_from_ip_json() -> None:
    links = [{"ifname": "hotel0", "addr_info": [
        {"family": "inet", "local": "192.168.77.2", "scope": "global"},
        {"family": "inet6", "local": "fe80::1", "scope": "link"},
        {"family": "inet6", "local": "2001:db8::2", "scope": "global"}]}]
    assert iproute.addresses_of(links, "hotel0") == {socket.AF_INET: "192.168.77.2", socket.AF_INET6: "2001:db8::2"}
    assert iproute.addresses_of(links, "wan0") == {}
    routes = [{"dst": "default", "gateway": "198.18.0.1", "dev": "wan0", "metric": 10},
              {"dst": "default", "gateway": "192.168.77.9", "dev": "hotel0", "metric": 30},
              {"dst": "default", "gateway": "192.168.77.1", "dev": "hotel0", "metric": 20},
              {"dst": "default", "dev": "ppp0"}]
    assert iproute.gateways_of(routes, "hotel0") == "192.168.77.1"
    assert iproute.gateways_of(routes, "ppp0") == ""  # on-link
    assert iproute.gateways_of(routes, "eth9") is None
