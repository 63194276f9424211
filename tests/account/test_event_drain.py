"""EventDrain: DESTROY events reach the flow tracker as they come, and never ahead of a dump read before them.

A fake event socket (a pipe for select, datagrams that name flows) and a
tracker that writes down what it was given, in order, against the dump.
"""

from __future__ import annotations

import os
import threading
from typing import Iterable, Iterator, List, Tuple

import pytest

from routerguard.account import meter
from routerguard.account.meter import EventDrain, Sink
from routerguard_lab.wait import wait_until

WAIT = 5.0


class FakeEvents:
    """DestroyEvents' reading side: `push` queues datagrams (or a loss) and wakes select."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        self._lock = threading.Lock()
        self._queued: List[bytes] = []
        self._lost = False

    def push(self, *datagrams: bytes, lost: bool = False) -> None:
        with self._lock:
            self._queued += datagrams
            self._lost = self._lost or lost
        os.write(self._write, b"!")

    def waiting(self) -> int:
        with self._lock:
            return len(self._queued) + self._lost

    def fileno(self) -> int:
        return self._read

    def receive(self) -> Tuple[List[bytes], bool]:
        with self._lock:
            try:
                os.read(self._read, 4096)
            except BlockingIOError:
                pass
            datagrams, lost, self._queued, self._lost = self._queued, self._lost, [], False
        return datagrams, lost

    def close(self) -> None:
        os.close(self._read)
        os.close(self._write)


class Recorder:
    """A tracker that writes down the events it was handed, and the dumps it was told of."""

    def __init__(self) -> None:
        self.log: List[str] = []

    def ended(self, flows: Iterable[str]) -> None:
        self.log += flows

    def take(self) -> list:
        return []


def decode(datagrams: Iterable[bytes]) -> Iterator[str]:
    """Datagrams name their flow; b"bad" is a message the decoder refuses."""
    for data in datagrams:
        if data == b"bad":
            raise ValueError("conntrack message without id")
        yield data.decode()


@pytest.fixture
def drain(monkeypatch):
    monkeypatch.setattr(meter.conntrack, "decode_events", decode)
    events, tracker = FakeEvents(), Recorder()
    drain = EventDrain(events, [Sink(tracker)])  # type: ignore[arg-type]
    yield drain, events, tracker
    drain.close()


def test_events_between_dumps_reach_the_tracker_at_once(drain) -> None:
    _, events, tracker = drain
    events.push(b"a", b"b")
    wait_until(lambda: tracker.log == ["a", "b"], WAIT, "the events handed over")


def test_events_read_during_a_dump_reach_the_tracker_after_it(drain) -> None:
    drain_, events, tracker = drain
    with drain_.dumping(tracker):
        events.push(b"a")
        wait_until(lambda: events.waiting() == 0, WAIT, "the event read off the socket")
        tracker.log.append("dump")
    assert tracker.log == ["dump", "a"]


def test_events_waiting_when_a_dump_starts_reach_the_tracker_before_it(drain) -> None:
    drain_, events, tracker = drain
    events.push(b"a")  # the thread takes it, or the dump's own drain does: before the dump either way
    with drain_.dumping(tracker):
        tracker.log.append("dump")
    assert tracker.log == ["a", "dump"]


def test_a_loss_is_counted_once(drain) -> None:
    drain_, events, tracker = drain
    events.push(b"a", lost=True)
    wait_until(lambda: tracker.log == ["a"], WAIT, "the events that did arrive")
    wait_until(lambda: drain_.losses == 1, WAIT, "the loss counted")
    with drain_.dumping(tracker):
        pass
    assert drain_.losses == 1


def test_a_message_the_decoder_refuses_is_a_loss_and_the_thread_goes_on(drain) -> None:
    drain_, events, tracker = drain
    events.push(b"bad")
    wait_until(lambda: drain_.losses == 1, WAIT, "the refused message counted as a loss")
    events.push(b"c")
    wait_until(lambda: tracker.log == ["c"], WAIT, "a later event handed over")


def test_events_read_while_two_dumps_overlap_wait_for_both(drain) -> None:
    """The newcomers' dump (the meter's thread) and the whole table's (the sampler's) may overlap."""
    drain, events, tracker = drain
    with drain.dumping(tracker):
        with drain.dumping(tracker):
            events.push(b"a")
            wait_until(lambda: events.waiting() == 0, WAIT, "the event read off the socket")
            tracker.log.append("small dump")
        assert tracker.log == ["small dump"]
        tracker.log.append("big dump")
    assert tracker.log == ["small dump", "big dump", "a"]


def test_a_dump_holds_back_only_its_own_trackers_events(monkeypatch) -> None:
    """The sampler's long dump of the whole table does not hold the newcomers' DESTROY events back."""
    monkeypatch.setattr(meter.conntrack, "decode_events", decode)
    events, newcomers, flows = FakeEvents(), Recorder(), Recorder()
    drain = EventDrain(events, [Sink(newcomers), Sink(flows)])  # type: ignore[arg-type]
    try:
        with drain.dumping(flows):
            events.push(b"a")
            wait_until(lambda: newcomers.log == ["a"], WAIT, "the newcomers' tracker given the event at once")
            assert drain.held_bytes == 1
            flows.log.append("dump")
        assert flows.log == ["dump", "a"] and drain.held_bytes == 0
    finally:
        drain.close()
