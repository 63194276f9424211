"""A DNS tunnel, both ends, for testing that a cut device cannot use one through the router's resolver.

The server (run on the internet host) answers every TXT query for a name
under its zone with TUNNEL_PAYLOAD bytes of TXT data, as iodine or dnscat2's
servers do; the router's dnsmasq is told to forward that zone to it. The
client (run on a LAN device) sends random-name TXT queries to the router as
fast as it can for a while, and prints how many answers and answer bytes
came back: what a tunnel would have carried down.

Run as `python3 -m routerguard_lab.dnstunnel serve ADDRESS PORT` or
`... flood ROUTER ZONE SECONDS`; both need nothing beyond the standard library.
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import sys
import time

from routerguard_lab import datagrams

ZONE = "t.tunnel.test"
PORT = 5353
TUNNEL_PAYLOAD = 1000  # bytes of TXT data per answer: under the 1232 of a plain EDNS answer
TXT, IN = 16, 1
CHUNK = 255  # a TXT character-string's longest


def query(name: str, ident: int) -> bytes:
    """A recursive TXT query for `name`."""
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + struct.pack("!HH", TXT, IN)


def answer(request: bytes) -> bytes | None:
    """The tunnel server's reply to a query: TUNNEL_PAYLOAD bytes of TXT."""
    if len(request) < 12:
        return None
    ident, _, qdcount = struct.unpack_from("!HHH", request)
    end = 12
    while end < len(request) and request[end]:
        end += request[end] + 1
    question = request[12:end + 5]
    data = os.urandom(TUNNEL_PAYLOAD // 2).hex().encode()
    rdata = b"".join(bytes([len(data[i:i + CHUNK])]) + data[i:i + CHUNK] for i in range(0, len(data), CHUNK))
    record = b"\xc0\x0c" + struct.pack("!HHIH", TXT, IN, 0, len(rdata)) + rdata
    return struct.pack("!HHHHHH", ident, 0x8180, qdcount, 1, 0, 0) + question + record


def _reply(sock: socket.socket, request: bytes, peer: tuple) -> None:
    reply = answer(request)
    if reply:
        sock.sendto(reply, peer)


def flood(router: str, zone: str, seconds: float) -> dict:
    """Random-name TXT queries to `router` for `seconds`; what came back."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((router, 53))
    sock.setblocking(False)
    sent = answers = answer_bytes = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        name = f"{os.urandom(20).hex()}.{zone}"
        try:
            sock.send(query(name, sent & 0xFFFF))
            sent += 1
        except BlockingIOError:
            pass
        while select.select([sock], [], [], 0.0005)[0]:
            try:
                data = sock.recv(65535)
            except (BlockingIOError, ConnectionRefusedError):
                break
            answers += 1
            answer_bytes += len(data)
    drain_end = time.monotonic() + 1.0  # answers still on their way
    while time.monotonic() < drain_end and select.select([sock], [], [], 0.1)[0]:
        try:
            answer_bytes += len(sock.recv(65535))
            answers += 1
        except (BlockingIOError, ConnectionRefusedError):
            break
    return {"sent": sent, "answers": answers, "answer_bytes": answer_bytes, "seconds": seconds}


def tcp_query(router: str, name: str) -> int:
    """One TXT query for `name` over TCP; the answer's length in bytes, or -1 when refused or unanswered."""
    request = query(name, 1)
    try:
        with socket.create_connection((router, 53), timeout=3) as sock:
            sock.sendall(struct.pack("!H", len(request)) + request)
            head = sock.recv(2)
            return struct.unpack("!H", head)[0] if len(head) == 2 else -1
    except OSError:
        return -1


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        datagrams.serve(sys.argv[2], int(sys.argv[3]), _reply)
    elif sys.argv[1] == "flood":
        print(json.dumps(flood(sys.argv[2], sys.argv[3], float(sys.argv[4]))))
    elif sys.argv[1] == "tcp":
        print(tcp_query(sys.argv[2], sys.argv[3]))
