"""A UDP server for the lab's internet host: the stand-ins for a tunnel's server and a streaming source."""

from __future__ import annotations

import socket
from typing import Callable, NoReturn

Handler = Callable[[socket.socket, bytes, tuple], None]


def serve(address: str, port: int, handle: Handler) -> NoReturn:
    """Bind `address`:`port`, say "ready" on stdout (the tests wait for it), then hand each datagram and its
    sender to `handle` (with the socket, to answer), one at a time, until killed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, port))
    print("ready", flush=True)
    while True:
        request, peer = sock.recvfrom(4096)
        handle(sock, request, peer)
