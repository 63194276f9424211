"""Alerts pushed out: a webhook (JSON) and an ntfy topic, from a thread of their own.

The meter loop must never wait on the network (a travel router's uplink is
often the very thing that is slow or gone), so `push` only queues; a
thread sends, retrying with growing pauses, and gives up with a log line.
Targets come with each alert, so a reloaded config applies to the next one.

Webhook: POST `{"kind", "mac", "message", "time", ...}` as JSON.
ntfy: POST the message as plain text to the topic URL, with a Title header.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.error
import urllib.request
from email.header import Header

from routerguard import __version__
from routerguard.config.model import Notify

log = logging.getLogger("routerguard.notify")

TIMEOUT = 10.0  # seconds per attempt
RETRY_PAUSES = (2.0, 10.0, 30.0)  # before the 2nd, 3rd and 4th attempt
MAX_QUEUED = 100  # alerts waiting to be sent; beyond that new ones are only logged
URGENT_KINDS = {"unusual_rate", "unusual_hour"}
USER_AGENT = f"routerguard/{__version__}"


class Delivery:
    """One HTTP POST to make: where, what, and how it is labelled for logs."""

    def __init__(self, url: str, body: bytes, headers: dict[str, str], label: str) -> None:
        self.url, self.body, self.headers, self.label = url, body, {"User-Agent": USER_AGENT, **headers}, label


def deliveries(notify: Notify, alert: dict) -> list[Delivery]:
    """What `notify` asks to be sent for `alert` (a dict with kind, mac, message, time, ...)."""
    found = []
    if notify.webhook:
        found.append(Delivery(notify.webhook, json.dumps(alert).encode(), {"Content-Type": "application/json"}, "webhook"))
    if notify.ntfy:
        urgent = alert["kind"] in URGENT_KINDS or alert.get("level", 0) >= 100
        headers = {"Title": _header_text(f"routerguard: {alert['kind'].replace('_', ' ')}"), "Tags": "warning",
                   "Priority": "high" if urgent else "default", "Content-Type": "text/plain; charset=utf-8"}
        found.append(Delivery(notify.ntfy, alert["message"].encode(), headers, "ntfy"))
    return found


def _header_text(text: str) -> str:
    """ASCII as is; anything else RFC 2047-encoded (ntfy decodes it), since headers are Latin-1 on the wire."""
    return text if text.isascii() else Header(text, "utf-8").encode()


class Notifier:
    def __init__(self, timeout: float = TIMEOUT, pauses: tuple[float, ...] = RETRY_PAUSES) -> None:
        self.timeout, self.pauses = timeout, pauses
        self._queue: queue.Queue[Delivery | None] = queue.Queue(MAX_QUEUED)  # None: stop
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="routerguard-notify", daemon=True)
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to the target, whatever the environment says

    def start(self) -> None:
        self._thread.start()

    def push(self, notify: Notify, alert: dict) -> None:
        """Queue `alert` for every target of `notify`; returns at once."""
        for delivery in deliveries(notify, alert):
            try:
                self._queue.put_nowait(delivery)
            except queue.Full:
                log.error("%d alerts are waiting to be sent; not sending this one to the %s: %s",
                          MAX_QUEUED, delivery.label, alert["message"])

    def _run(self) -> None:
        while not self._stop.is_set():
            delivery = self._queue.get()
            if delivery is not None:
                self._send(delivery)

    def _send(self, delivery: Delivery) -> None:
        for attempt, pause in enumerate((0.0, *self.pauses)):
            if self._stop.wait(pause):
                return
            try:
                request = urllib.request.Request(delivery.url, delivery.body, delivery.headers, method="POST")
                with self._opener.open(request, timeout=self.timeout):
                    return
            except urllib.error.HTTPError as e:
                if e.code < 500 and e.code != 429:
                    log.error("the %s at %s refused an alert (HTTP %d); not retrying", delivery.label, delivery.url, e.code)
                    return
                error: Exception = e
            except (OSError, ValueError) as e:  # URLError, timeouts, a bad URL
                error = e
            log.warning("sending an alert to the %s at %s failed (attempt %d): %s", delivery.label, delivery.url, attempt + 1, error)
        log.error("gave up sending an alert to the %s at %s", delivery.label, delivery.url)

    def stop(self) -> None:
        self._stop.set()
        try:
            self._queue.put_nowait(None)  # wakes the thread; a full queue means it is busy and sees the event
        except queue.Full:
            pass
        if self._thread.is_alive():
            self._thread.join(self.timeout + 1)  # an attempt under way ends by its timeout
        if not self._queue.empty():
            log.warning("%d alerts were not sent before stopping", self._queue.qsize())
