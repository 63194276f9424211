"""A UDP download whose device speaks up only when told: when its flow takes the device's mark is the test's choice.

A flow takes its device's ct mark at its first packet up after the daemon
registers the MAC; a TCP download acknowledges all the time, so the moment
falls where the registration does. This one sends a datagram up only every
ACK_EVERY bytes received, so the bytes that arrive between the meter's last
look at the newcomers' flows and that packet are a real share of a
download.

The server (on the internet host) answers a datagram `go N` with N bytes in
DATAGRAM-byte datagrams at RATE bytes a second. The client sends `go N`,
then a one-byte datagram each ACK_EVERY bytes, and prints the bytes it got.

Run as `python3 -m routerguard_lab.udpstream serve ADDRESS PORT` or
`... fetch ADDRESS PORT NBYTES`; standard library only.
"""

from __future__ import annotations

import socket
import sys
import time

from routerguard_lab import datagrams

PORT = 5400
DATAGRAM = 1000
RATE = 1_000_000  # bytes a second
ACK_EVERY = 400_000
IDLE_SECONDS = 2.0  # the client stops when nothing came for this long


def _stream(sock: socket.socket, request: bytes, peer: tuple) -> None:
    """`go N`: N bytes to `peer` at RATE; anything else is one of the client's acks."""
    if not request.startswith(b"go "):
        return
    total, started = int(request[3:]), time.monotonic()
    for sent in range(0, total, DATAGRAM):
        ahead = started + sent / RATE - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        sock.sendto(bytes(min(DATAGRAM, total - sent)), peer)


def fetch(address: str, port: int, nbytes: int) -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((address, port))
    sock.settimeout(IDLE_SECONDS)
    sock.send(f"go {nbytes}".encode())
    got, next_ack = 0, ACK_EVERY
    try:
        while got < nbytes:
            got += len(sock.recv(DATAGRAM))
            if got >= next_ack:
                sock.send(b"a")
                next_ack += ACK_EVERY
    except socket.timeout:
        pass  # a datagram lost: the count says how many bytes came
    return got


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        datagrams.serve(argv[1], int(argv[2]), _stream)
    elif argv[:1] == ["fetch"]:
        print(fetch(argv[1], int(argv[2]), int(argv[3])), flush=True)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
