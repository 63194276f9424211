"""A slow SNMP agent: answers that come after the poller's timeout are failures, the total holds, and
polling recovers once the agent is quick again; the caller is never kept waiting."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from routerguard.config.model import SnmpSource
from routerguard.account.wan_poller import WanPoller
from routerguard_lab.snmpd import SnmpAgent
from routerguard_lab.wait import wait_until

TIMEOUT, INTERVAL = 0.5, 0.2
QUICK, SLOW = 0.05, 2.0  # seconds the relay holds each packet
WAIT = 15.0
DATAGRAM = 65535
POLL = 0.1  # the relay's threads look at the stop flag this often


class DelayingRelay:
    """A UDP relay in front of the agent that holds every packet for `delay` seconds, both ways."""

    def __init__(self, agent_port: int) -> None:
        self.delay = QUICK
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.connect(("127.0.0.1", agent_port))
        self.port = self.front.getsockname()[1]
        self.client: tuple[str, int] | None = None
        self._stopping = threading.Event()
        for sock in (self.front, self.back):
            sock.settimeout(POLL)
        self._threads = [threading.Thread(target=self._pump, args=(self.front, True), daemon=True),
                         threading.Thread(target=self._pump, args=(self.back, False), daemon=True)]
        for thread in self._threads:
            thread.start()

    def _pump(self, sock: socket.socket, upstream: bool) -> None:
        while not self._stopping.is_set():
            try:
                data, sender = sock.recvfrom(DATAGRAM)
            except socket.timeout:
                continue
            if upstream:
                self.client = sender
                timer = threading.Timer(self.delay, self._send, (self.back.send, data))
            else:
                timer = threading.Timer(self.delay, self._send, (lambda d: self.front.sendto(d, self.client), data))
            timer.daemon = True
            timer.start()

    @staticmethod
    def _send(send, data: bytes) -> None:
        try:
            send(data)
        except OSError:
            pass  # the relay closed meanwhile

    def close(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join()
        for sock in (self.front, self.back):
            sock.close()


@pytest.fixture
def relay():
    with SnmpAgent() as agent:
        relay = DelayingRelay(agent.port)
        try:
            yield relay
        finally:
            relay.close()


def test_a_slow_agent_costs_readings_not_the_total_and_polling_recovers(relay: DelayingRelay) -> None:
    source = SnmpSource(host="127.0.0.1", port=relay.port, community="public", if_name="lo")
    with WanPoller(source, interval=INTERVAL, timeout=TIMEOUT, retries=0) as poller:
        wait_until(lambda: poller.latest() is not None and poller.health().ok, WAIT, "a first reading through the relay")

        relay.delay = SLOW
        wait_until(lambda: poller.health().failures >= 2, WAIT, "polls to time out")
        held, failed = poller.latest(), poller.health().failures
        assert held is not None
        wait_until(lambda: poller.health().failures >= failed + 2, WAIT, "two more polls to time out")
        asked = time.monotonic()
        assert poller.latest() == held  # failed polls leave the total as it was, answered from memory
        assert time.monotonic() - asked < TIMEOUT / 5
        assert "no answer" in str(poller.health().last_error)

        relay.delay = QUICK
        wait_until(lambda: poller.health().failures == 0, WAIT + SLOW, "polling to recover")
        assert poller.latest() >= held
