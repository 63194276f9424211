"""The quota-reached redirect's few words of HTTP, over a real socket (the lab tests follow it with curl)."""

import socket
import threading

import pytest

from routerguard.enforce import captive


@pytest.fixture
def responder():
    handler = type("Redirect", (captive._Redirect,), {"location": "http://192.168.8.1:8080/blocked"})
    server = captive._Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address
    server.shutdown()
    server.server_close()


def ask(address, request: bytes) -> bytes:
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)  # said all it will say
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    return answer


def test_any_request_is_sent_to_the_page(responder):
    answer = ask(responder, b"GET /video?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n")
    head = answer.split(b"\r\n")
    assert head[0] == b"HTTP/1.0 302 Found"
    assert b"Location: http://192.168.8.1:8080/blocked" in head and b"Connection: close" in head
    assert answer.endswith(b"\r\n\r\n")


def test_a_request_line_that_is_not_http_is_refused(responder):
    assert ask(responder, b"hello\r\n\r\n").startswith(b"HTTP/1.0 400 Bad Request\r\n")


def test_a_connection_that_says_nothing_gets_nothing(responder):
    assert ask(responder, b"") == b""
