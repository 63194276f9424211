"""Alerts pushed to a webhook and an ntfy topic: a real HTTP receiver on 127.0.0.1, retries, no blocking."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from routerguard.config.model import Notify
from routerguard.notify import Notifier
from routerguard_lab.wait import wait_until

ALERT = {"id": 7, "kind": "threshold", "mac": None, "message": "The plan is 80% used (16 GB of 20 GB).",
         "time": "2026-11-25T01:00:00Z", "level": 80}


class Receiver:
    """An HTTP server that records every POST and answers with the statuses it is given, then 200."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((self.path, dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def notifier() -> Iterator[Notifier]:
    n = Notifier(timeout=2.0, pauses=(0.05, 0.05))
    n.start()
    yield n
    n.stop()


def test_the_webhook_gets_the_alert_as_json(receiver: Receiver, notifier: Notifier) -> None:
    notifier.push(Notify(webhook=receiver.url("/hook")), ALERT)
    wait_until(lambda: receiver.requests, 5, "the webhook POST")
    path, headers, body = receiver.requests[0]
    assert path == "/hook" and headers["Content-Type"] == "application/json"
    assert json.loads(body) == ALERT


def test_ntfy_gets_the_message_as_text_with_a_title(receiver: Receiver, notifier: Notifier) -> None:
    notifier.push(Notify(ntfy=receiver.url("/routerguard-topic")), {**ALERT, "kind": "unusual_hour", "level": 0})
    wait_until(lambda: receiver.requests, 5, "the ntfy POST")
    path, headers, body = receiver.requests[0]
    assert path == "/routerguard-topic" and body.decode() == ALERT["message"]
    assert headers["Title"] == "routerguard: unusual hour" and headers["Priority"] == "high"


def test_a_failing_target_is_retried_until_it_answers(receiver: Receiver, notifier: Notifier) -> None:
    receiver.statuses = [503, 500]
    notifier.push(Notify(webhook=receiver.url("/hook")), ALERT)
    notifier.push(Notify(webhook=receiver.url("/after")), ALERT)
    wait_until(lambda: any(path == "/after" for path, _, _ in receiver.requests), 5, "the next alert")
    assert [path for path, _, _ in receiver.requests] == ["/hook"] * 3 + ["/after"]


def test_a_refusal_is_not_retried(receiver: Receiver, notifier: Notifier) -> None:
    receiver.statuses = [404]
    notifier.push(Notify(webhook=receiver.url("/hook"), ntfy=receiver.url("/topic")), ALERT)
    notifier.push(Notify(webhook=receiver.url("/after")), ALERT)
    wait_until(lambda: any(path == "/after" for path, _, _ in receiver.requests), 5, "the next alert")
    assert [path for path, _, _ in receiver.requests] == ["/hook", "/topic", "/after"]


def test_pushing_never_waits_for_an_unreachable_target(notifier: Notifier) -> None:
    started = time.monotonic()
    for _ in range(200):  # more than the queue holds: the rest are logged, not waited for
        notifier.push(Notify(webhook="http://127.0.0.1:9/unreachable"), ALERT)
    assert time.monotonic() - started < 0.5
