"""FlowTracker: conntrack readings in any order become deltas, no byte counted twice."""

from __future__ import annotations

import random
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Hashable, List, Tuple

from hypothesis import given, settings
from hypothesis import strategies as st

from routerguard.account.flows import RETAIN_SECONDS, FlowTracker
from routerguard.read.conntrack import Flow

LAN = [bytes([192, 168, 8, n]) for n in (10, 11, 12)]
SERVER = bytes([198, 18, 0, 1])


def flow(
    uid: int, up: int = 0, down: int = 0, src: bytes = LAN[0], mark: int = 0, ct_id: int = 0, start: int = 0
) -> Flow:
    """A flow as the decoder returns it; ``uid`` picks its original tuple."""
    return Flow(
        id=ct_id or uid,
        family=2,
        proto=6,
        src=src,
        dst=SERVER,
        sport=40000 + uid,
        dport=443,
        reply_src=SERVER,
        reply_dst=src,
        mark=mark,
        status=0,
        orig_packets=0,
        orig_bytes=up,
        reply_packets=0,
        reply_bytes=down,
        start=start,
        orig_tuple=b"tuple-%d" % uid,
    )


def totals(tracker: FlowTracker) -> Dict[Hashable, Tuple[int, int]]:
    return {key: (up, down) for key, up, down in tracker.take()}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_first_dump_counts_every_byte_up_as_original_down_as_reply() -> None:
    tracker = FlowTracker()
    tracker.dump([flow(1, up=100, down=5000), flow(2, up=7, down=9)])
    assert totals(tracker) == {(LAN[0], 0): (107, 5009)}


def test_baseline_dump_counts_only_later_growth() -> None:
    tracker = FlowTracker()
    tracker.dump([flow(1, up=100, down=5000)], account=False)
    assert totals(tracker) == {}
    tracker.dump([flow(1, up=150, down=5100)])
    assert totals(tracker) == {(LAN[0], 0): (50, 100)}


def test_next_dump_counts_only_growth_and_idle_flows_nothing() -> None:
    tracker = FlowTracker()
    tracker.dump([flow(1, 100, 200), flow(2, 10, 20, src=LAN[1])])
    tracker.take()
    tracker.dump([flow(1, 130, 260), flow(2, 10, 20, src=LAN[1])])
    assert totals(tracker) == {(LAN[0], 0): (30, 60)}


def test_deltas_are_keyed_by_source_and_mark() -> None:
    tracker = FlowTracker()
    tracker.dump([flow(1, 1, 2, mark=7), flow(2, 3, 4, mark=8), flow(3, 5, 6, src=LAN[1], mark=7)])
    assert totals(tracker) == {(LAN[0], 7): (1, 2), (LAN[0], 8): (3, 4), (LAN[1], 7): (5, 6)}


def test_take_forgets_what_it_returned() -> None:
    tracker = FlowTracker()
    tracker.dump([flow(1, 1, 1)])
    tracker.take()
    assert tracker.take() == []


def test_destroy_adds_the_remainder_since_the_last_dump_and_forgets_the_flow() -> None:
    tracker = FlowTracker()
    tracker.dump([flow(1, 100, 200)])
    tracker.take()
    tracker.ended([flow(1, 120, 290)])
    assert totals(tracker) == {(LAN[0], 0): (20, 90)}
    assert len(tracker) == 0


def test_flow_born_and_ended_between_dumps_counts_from_its_destroy() -> None:
    tracker = FlowTracker()
    tracker.ended([flow(1, 40, 50)])
    assert totals(tracker) == {(LAN[0], 0): (40, 50)}


def test_destroy_delivered_twice_counts_once() -> None:
    tracker = FlowTracker()
    tracker.dump([flow(1, 10, 10)])
    tracker.ended([flow(1, 15, 20)])
    tracker.ended([flow(1, 15, 20)])
    assert totals(tracker) == {(LAN[0], 0): (15, 20)}


def test_destroy_read_after_the_dump_that_no_longer_lists_the_flow() -> None:
    tracker = FlowTracker()
    tracker.dump([flow(1, 10, 10)])
    tracker.dump([])
    tracker.ended([flow(1, 25, 30)])
    assert totals(tracker) == {(LAN[0], 0): (25, 30)}


def test_dump_that_still_lists_an_ended_flow_adds_nothing() -> None:
    """The kernel sends DESTROY before it unlinks the entry, so a dump can race it."""
    tracker = FlowTracker()
    tracker.ended([flow(1, 25, 30)])
    tracker.dump([flow(1, 25, 30)])
    tracker.dump([])
    assert totals(tracker) == {(LAN[0], 0): (25, 30)}


def test_flow_listed_twice_in_one_dump_counts_once() -> None:
    tracker = FlowTracker()
    tracker.dump([flow(1, 10, 10), flow(2, 1, 1), flow(1, 12, 10)])
    assert totals(tracker) == {(LAN[0], 0): (13, 11)}


def test_counters_going_down_mean_a_new_flow_under_a_reused_name() -> None:
    tracker = FlowTracker()
    tracker.dump([flow(1, 1000, 1000)])
    tracker.ended([flow(1, 1200, 1100)])
    tracker.dump([flow(1, 30, 40)])
    assert totals(tracker) == {(LAN[0], 0): (1230, 1140)}


def test_new_life_read_before_the_old_lifes_destroy_leaves_the_old_its_remainder() -> None:
    tracker = FlowTracker()
    tracker.dump([flow(1, 1000, 1000)])
    tracker.dump([flow(1, 30, 40)])
    tracker.ended([flow(1, 1200, 1100)])
    assert totals(tracker) == {(LAN[0], 0): (1230, 1140)}


def test_start_timestamps_tell_lives_of_one_connection_apart() -> None:
    tracker = FlowTracker()
    tracker.dump([flow(1, 10, 10, start=1)])
    tracker.ended([flow(1, 20, 20, start=1)])
    tracker.dump([flow(1, 500, 500, start=2)])
    assert totals(tracker) == {(LAN[0], 0): (520, 520)}


def test_flows_sharing_an_id_but_not_a_tuple_are_separate() -> None:
    tracker = FlowTracker()
    tracker.dump([flow(1, 100, 100, ct_id=5), flow(2, 7, 7, ct_id=5)])
    tracker.dump([flow(1, 110, 100, ct_id=5), flow(2, 8, 7, ct_id=5)])
    assert totals(tracker) == {(LAN[0], 0): (118, 107)}


def test_same_tuple_with_a_new_id_is_a_new_flow() -> None:
    tracker = FlowTracker()
    tracker.dump([flow(1, 100, 100, ct_id=5)])
    tracker.dump([flow(1, 100, 100, ct_id=6)])
    assert totals(tracker) == {(LAN[0], 0): (200, 200)}


def test_late_destroy_within_the_retention_counts_only_the_remainder() -> None:
    clock = FakeClock()
    tracker = FlowTracker(retain_seconds=30, clock=clock)
    tracker.dump([flow(1, 10, 10)])
    for _ in range(10):
        clock.now += 2.9
        tracker.dump([])
    tracker.ended([flow(1, 12, 10)])
    assert totals(tracker) == {(LAN[0], 0): (12, 10)}


def test_destroy_later_than_the_retention_counts_from_zero() -> None:
    """The documented limit: a flow forgotten is a flow never seen."""
    clock = FakeClock()
    tracker = FlowTracker(retain_seconds=30, clock=clock)
    tracker.dump([flow(1, 10, 10)])
    for _ in range(20):
        clock.now += 5
        tracker.dump([])
    tracker.ended([flow(1, 12, 10)])
    assert totals(tracker) == {(LAN[0], 0): (22, 20)}


def test_destroy_repeated_after_its_reading_was_sealed_counts_once() -> None:
    clock = FakeClock()
    tracker = FlowTracker(clock=clock)
    tracker.dump([flow(1, 10, 10), flow(2, 5, 5)])
    tracker.ended([flow(1, 15, 20)])
    clock.now += 5
    tracker.dump([flow(2, 5, 5)])  # seals the reading of the ended flow
    tracker.ended([flow(1, 15, 20)])
    assert totals(tracker) == {(LAN[0], 0): (20, 25)}


def test_dump_failing_midway_keeps_what_was_read_and_counts_the_rest_later() -> None:
    tracker = FlowTracker()
    tracker.dump([flow(1, 10, 10), flow(2, 10, 10)])

    def broken():
        yield flow(1, 20, 20)
        raise OSError("dump interrupted")

    try:
        tracker.dump(broken())
    except OSError:
        pass
    tracker.dump([flow(1, 25, 20), flow(2, 30, 10)])
    assert totals(tracker) == {(LAN[0], 0): (55, 30)}


def test_memory_per_live_flow_between_dumps_is_about_26_bytes() -> None:
    """Sealed after each dump (the sampler dumps 65,536 flows once a minute and keeps them in between)."""
    rng = random.Random(1)
    flows = [
        flow(n, up=rng.randrange(1 << 20, 1 << 34), down=rng.randrange(1 << 20, 1 << 36), ct_id=rng.getrandbits(32))
        for n in range(65536)
    ]
    tracemalloc.start()
    try:
        tracker = FlowTracker()
        tracker.dump(flows, account=False)
        per_flow = tracemalloc.get_traced_memory()[0] / len(flows)
    finally:
        tracemalloc.stop()
    assert len(tracker) == 65536
    assert per_flow < 32


def test_memory_per_ended_flow_kept_for_late_readings_is_about_26_bytes() -> None:
    """Once their bucket is sealed: 5,000 flows ending a second keep some 50,000 of them."""
    rng = random.Random(1)
    flows = [
        flow(n, up=rng.randrange(1 << 20, 1 << 34), down=rng.randrange(1 << 20, 1 << 36), ct_id=rng.getrandbits(32))
        for n in range(65536)
    ]
    clock = FakeClock()
    tracemalloc.start()
    try:
        tracker = FlowTracker(clock=clock)
        tracker.ended(flows)
        clock.now += 5
        tracker.ended([])
        per_flow = tracemalloc.get_traced_memory()[0] / len(flows)
    finally:
        tracemalloc.stop()
    assert per_flow < 32


# ---- the tracker against a simulated kernel ----

SOURCES = [(LAN[0], 0), (LAN[1], 0), (LAN[1], 3)]


@dataclass
class Connection:
    """One conntrack entry of the simulated kernel."""

    tag: int  # names the original tuple
    ct_id: int
    source: int
    start: int = 0
    up: int = 0
    down: int = 0
    read_up: int = 0  # counters at the tracker's last reading of this entry
    read_down: int = 0

    def reading(self) -> Flow:
        src, mark = SOURCES[self.source]
        self.read_up, self.read_down = self.up, self.down
        return flow(self.tag, self.up, self.down, src=src, mark=mark, ct_id=self.ct_id, start=self.start)


@dataclass
class Kernel:
    """Live entries, their DESTROY events queued, and the bytes really carried."""

    timestamps: bool
    live: List[Connection] = field(default_factory=list)
    ended: List[Connection] = field(default_factory=list)  # ended, still in the table for a racing dump
    queue: List[Flow] = field(default_factory=list)
    queued_before_dump: int = 0
    carried: Counter = field(default_factory=Counter)
    lost: Counter = field(default_factory=Counter)  # bytes the tracker cannot know
    lives: int = 0

    def start(self, source: int, ct_id: int, tag: int = 0) -> None:
        self.lives += 1
        start = self.lives if self.timestamps else 0
        self.live.append(Connection(tag or self.lives, ct_id, source, start))

    def carry(self, which: int, up: int, down: int) -> None:
        if self.live:
            conn = self.live[which % len(self.live)]
            conn.up += up
            conn.down += down
            self.carried[SOURCES[conn.source], "up"] += up
            self.carried[SOURCES[conn.source], "down"] += down

    def end(self, which: int, lost: bool) -> None:
        if not self.live:
            return
        conn = self.live.pop(which % len(self.live))
        if lost:
            self.lost[SOURCES[conn.source], "up"] += conn.up - conn.read_up
            self.lost[SOURCES[conn.source], "down"] += conn.down - conn.read_down
        else:
            self.queue.append(conn.reading())
            self.ended.append(conn)

    def reincarnate(self, which: int, lost: bool) -> None:
        """End an entry and reuse its tuple and id at once, as the slab allocator does."""
        if self.live:
            conn = self.live[which % len(self.live)]
            self.end(which, lost)
            if conn in self.ended:
                self.ended.remove(conn)  # unlinked before its tuple could be used again
            self.start(conn.source, conn.ct_id, conn.tag)

    def dump(self, order: random.Random, twice: bool, racing: bool) -> List[Flow]:
        """Live entries in any order; maybe one twice, maybe ended ones not yet unlinked."""
        shown = list(self.live) + (self.ended if racing else [])
        order.shuffle(shown)
        if twice and shown:
            shown.append(shown[0])
        self.ended = []
        self.queued_before_dump = len(self.queue)
        return [conn.reading() for conn in shown]

    def deliver(self, again: bool = False, hold: bool = False) -> List[Flow]:
        """The queued events, maybe with the first sent again (the kernel retries
        when another listener missed it) before its connection ends once more;
        with ``hold``, those queued since the last dump stay queued."""
        keep = len(self.queue) - self.queued_before_dump if hold else 0
        events, self.queue = self.queue[: len(self.queue) - keep], self.queue[len(self.queue) - keep :]
        self.queued_before_dump = 0
        if again and events and all(later.orig_tuple != events[0].orig_tuple for later in events[1:]):
            events.append(events[0])
        return events


def run_operations(operations: list, seed: int, timestamps: bool = False, tick: float = 0.0) -> Tuple[Kernel, Counter]:
    """Drive kernel and tracker as the daemon's loop does: events are read at
    every tick, and before each dump all but those of flows ending meanwhile.
    The clock moves ``tick`` seconds an operation."""
    clock = FakeClock()
    kernel, tracker, counted = Kernel(timestamps), FlowTracker(clock=clock), Counter[Tuple[object, str]]()
    order = random.Random(seed)
    for operation, *args in operations:
        clock.now += tick
        if operation == "dump":
            twice, racing, hold = args
            tracker.ended(kernel.deliver(hold=hold))
            tracker.dump(kernel.dump(order, twice, racing))
        elif operation == "deliver":
            tracker.ended(kernel.deliver(*args))
        else:
            getattr(kernel, operation)(*args)
        for key, up, down in tracker.take():
            counted[key, "up"] += up
            counted[key, "down"] += down
            assert counted[key, "up"] <= kernel.carried[key, "up"]
            assert counted[key, "down"] <= kernel.carried[key, "down"]
    tracker.ended(kernel.deliver())
    tracker.dump(kernel.dump(order, False, False))
    for key, up, down in tracker.take():
        counted[key, "up"] += up
        counted[key, "down"] += down
    return kernel, counted


def operations(losing: bool, reusing: bool) -> st.SearchStrategy:
    index = st.integers(0, 50)
    amount = st.integers(0, 10**6)
    lost = st.booleans() if losing else st.just(False)
    choices = [
        st.tuples(st.just("start"), st.integers(0, len(SOURCES) - 1), st.integers(1, 3)),
        st.tuples(st.just("carry"), index, amount, amount),
        st.tuples(st.just("end"), index, lost),
        st.tuples(st.just("dump"), st.booleans(), st.booleans(), st.booleans()),
        st.tuples(st.just("deliver"), st.booleans()),
    ]
    if reusing:
        choices.append(st.tuples(st.just("reincarnate"), index, lost))
    return st.lists(st.one_of(choices), max_size=60)


EXAMPLES = settings(max_examples=300, deadline=None)


@EXAMPLES
@given(operations(losing=False, reusing=False), st.integers(0, 1000))
def test_every_byte_is_counted_exactly_once(ops: list, seed: int) -> None:
    """Ids shared between flows (1-3), duplicates, races and repeats: the sum is exact."""
    kernel, counted = run_operations(ops, seed)
    assert +counted == +kernel.carried


@EXAMPLES
@given(operations(losing=False, reusing=False), st.integers(0, 1000))
def test_readings_kept_in_sealed_buckets_count_exactly_once(ops: list, seed: int) -> None:
    """Spread over the retention, the operations see its three buckets sealed, and none dropped."""
    kernel, counted = run_operations(ops, seed, tick=RETAIN_SECONDS / max(len(ops), 1))
    assert +counted == +kernel.carried


@EXAMPLES
@given(operations(losing=True, reusing=False), st.integers(0, 1000))
def test_lost_events_lose_only_the_bytes_since_the_last_reading(ops: list, seed: int) -> None:
    kernel, counted = run_operations(ops, seed)
    assert +counted == +(kernel.carried - kernel.lost)


@EXAMPLES
@given(operations(losing=True, reusing=True), st.integers(0, 1000))
def test_with_start_timestamps_reused_names_change_nothing(ops: list, seed: int) -> None:
    kernel, counted = run_operations(ops, seed, timestamps=True)
    assert +counted == +(kernel.carried - kernel.lost)


@EXAMPLES
@given(operations(losing=True, reusing=True), st.integers(0, 1000))
def test_without_timestamps_reused_names_never_count_a_byte_twice(ops: list, seed: int) -> None:
    run_operations(ops, seed)  # asserts after every step
