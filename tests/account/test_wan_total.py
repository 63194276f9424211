"""The carrier-side total: every byte counted once through wraps, timeouts and restarts."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routerguard.account.wan_total import COUNTER64_MODULUS, MAX_BYTES_PER_TICK, TICKS_PER_SECOND, WanTotal
from routerguard.read.snmp import Reading

GB = 10**9
STEP_BYTES_MAX = GB  # per direction per one-second step: 8 Gbit/s, a plausible rate
MAX_STEPS = 40
NO_DEADLINE = settings(deadline=None)  # a busy CI machine must not turn a slow example into a failure


@dataclass
class Agent:
    """A simulated SNMP agent: the interface's counters as the device keeps them."""

    uptime: int = 0
    in_octets: int = 0
    out_octets: int = 0
    if_index: int = 1

    def carry(self, down: int, up: int, seconds: int = 1) -> None:
        self.in_octets = (self.in_octets + down) % COUNTER64_MODULUS
        self.out_octets = (self.out_octets + up) % COUNTER64_MODULUS
        self.uptime += seconds * TICKS_PER_SECOND

    def reboot(self) -> None:
        self.uptime, self.in_octets, self.out_octets = 0, 0, 0

    def recreate_interface(self) -> None:
        self.if_index += 1
        self.in_octets, self.out_octets = 0, 0

    def reading(self) -> Reading:
        return Reading(self.uptime, self.if_index, self.in_octets, self.out_octets)


def restored(total: WanTotal) -> WanTotal:
    """The accumulator after the daemon persisted it as JSON and restarted."""
    return WanTotal.from_state(json.loads(json.dumps(total.state())))


def started_at(agent: Agent) -> WanTotal:
    total = WanTotal()
    total.add(agent.reading())
    return total


# --- examples ------------------------------------------------------------------


def test_first_reading_sets_the_baseline_and_counts_nothing() -> None:
    total = WanTotal()
    assert not total.started
    assert total.add(Reading(500, 2, 10_000, 20_000)) == 0
    assert total.started


def test_counts_in_plus_out_between_readings() -> None:
    agent = Agent(uptime=500, in_octets=10_000, out_octets=20_000)
    total = started_at(agent)
    agent.carry(down=3_000, up=400)
    assert total.add(agent.reading()) == 3_400


def test_missing_readings_add_nothing_and_the_next_one_covers_the_gap() -> None:
    agent = Agent(uptime=500)
    total = started_at(agent)
    agent.carry(1_000, 100)
    assert total.add(None) == 0
    agent.carry(2_000, 200)
    assert total.add(None) == 0
    assert total.add(agent.reading()) == 3_300


def test_counter64_wrap_counts_the_bytes_through_the_wrap() -> None:
    agent = Agent(uptime=500, in_octets=COUNTER64_MODULUS - 100, out_octets=COUNTER64_MODULUS - 1)
    total = started_at(agent)
    agent.carry(down=150, up=10)
    assert agent.in_octets == 50 and agent.out_octets == 9
    assert total.add(agent.reading()) == 160


def test_snmpd_restart_alone_counts_the_normal_delta() -> None:
    agent = Agent(uptime=90_000, in_octets=5 * GB, out_octets=GB)
    total = started_at(agent)
    agent.carry(700, 70)
    agent.uptime = 300  # only snmpd restarted: the kernel's counters went on
    assert total.add(agent.reading()) == 770


def test_device_reboot_counts_the_new_counters_from_zero() -> None:
    agent = Agent(uptime=90_000, in_octets=5 * GB, out_octets=GB)
    total = started_at(agent)
    agent.reboot()
    agent.carry(4_000, 500)
    assert total.add(agent.reading()) == 4_500


def test_counters_cleared_while_agent_ran_count_from_zero() -> None:
    agent = Agent(uptime=90_000, in_octets=5 * GB, out_octets=GB)
    total = started_at(agent)
    agent.in_octets, agent.out_octets = 0, 0  # a wrap this size in 1 s would need an impossible link
    agent.carry(4_000, 500)
    assert total.add(agent.reading()) == 4_500


def test_a_dip_in_a_large_counter_costs_at_most_the_dip() -> None:
    agent = Agent(uptime=90_000, in_octets=2**40, out_octets=2**39)
    total = started_at(agent)
    agent.in_octets -= 200  # neither a wrap nor a count from zero fits one second
    agent.carry(down=0, up=50)
    assert total.add(agent.reading()) == 50
    agent.carry(down=700, up=0)  # the dip regained, and 500 more
    assert total.add(agent.reading()) == 750


def test_recreated_interface_counts_from_zero() -> None:
    agent = Agent(uptime=90_000, in_octets=10 * GB, out_octets=10 * GB)
    total = started_at(agent)
    agent.recreate_interface()
    agent.carry(20 * GB, 20 * GB, seconds=100)  # past the old values: only the index tells
    assert total.add(agent.reading()) == 40 * GB


def test_new_period_counts_from_the_latest_reading() -> None:
    agent = Agent(uptime=500)
    total = started_at(agent)
    agent.carry(1_000, 0)
    total.add(agent.reading())
    total.start_period()
    assert total.total == 0
    agent.carry(250, 50)
    assert total.add(agent.reading()) == 300


def test_state_is_a_small_json_dict() -> None:
    agent = Agent(uptime=500, in_octets=7, out_octets=8, if_index=3)
    total = started_at(agent)
    assert json.loads(json.dumps(total.state())) == {
        "version": 1,
        "total_bytes": 0,
        "last": {"uptime": 500, "if_index": 3, "in_octets": 7, "out_octets": 8},
    }
    assert WanTotal().state()["last"] is None


def test_restart_from_state_neither_double_counts_nor_loses() -> None:
    agent = Agent(uptime=500)
    total = started_at(agent)
    agent.carry(1_000, 100)
    total.add(agent.reading())
    saved = json.dumps(total.state())
    agent.carry(2_000, 200)  # the daemon is down meanwhile
    again = WanTotal.from_state(json.loads(saved))
    assert again.total == 1_100
    assert again.add(agent.reading()) == 3_300


@pytest.mark.parametrize(
    "state",
    [
        None,
        {"version": 99, "total_bytes": 0, "last": None},
        {"version": 1, "total_bytes": -1, "last": None},
        {"version": 1, "total_bytes": "12", "last": None},
        {"version": 1, "total_bytes": 0, "last": {"uptime": 1, "if_index": 1, "in_octets": 1}},
        {"version": 1, "total_bytes": 0, "last": [1, 2, 3, 4]},
    ],
)
def test_a_damaged_state_is_refused_with_the_reason(state: object) -> None:
    with pytest.raises(ValueError, match="WAN total state"):
        WanTotal.from_state(state)  # type: ignore[arg-type]


# --- properties ----------------------------------------------------------------

step_bytes = st.integers(0, STEP_BYTES_MAX)
any_counter = st.integers(0, COUNTER64_MODULUS - 1)
near_wrap = st.integers(COUNTER64_MODULUS - MAX_STEPS * STEP_BYTES_MAX, COUNTER64_MODULUS - 1)
start_uptime = st.integers(0, 2**31)


@NO_DEADLINE
@given(
    start_in=st.one_of(any_counter, near_wrap),
    start_out=st.one_of(any_counter, near_wrap),
    uptime=start_uptime,
    steps=st.lists(st.tuples(step_bytes, step_bytes, st.booleans()), min_size=1, max_size=MAX_STEPS),
)
def test_every_byte_is_counted_once_across_wraps_and_timeouts(start_in, start_out, uptime, steps) -> None:
    agent = Agent(uptime, start_in, start_out)
    total = started_at(agent)
    carried = counted = 0
    for down, up, answered in steps:
        agent.carry(down, up)
        carried += down + up
        if answered:
            total.add(agent.reading())
            counted = carried
        else:
            total.add(None)
        assert total.total == counted


@NO_DEADLINE
@given(
    start_in=st.integers(0, 2**62),
    start_out=st.integers(0, 2**62),
    uptime=start_uptime,
    steps=st.lists(
        st.tuples(step_bytes, step_bytes, st.booleans(), st.one_of(st.none(), st.integers(0, 1_000))),
        min_size=1,
        max_size=MAX_STEPS,
    ),
)
def test_snmpd_restarts_add_and_lose_nothing(start_in, start_out, uptime, steps) -> None:
    agent = Agent(uptime, start_in, start_out)
    total = started_at(agent)
    carried = counted = 0
    for down, up, answered, restarted_at in steps:
        agent.carry(down, up)
        carried += down + up
        if restarted_at is not None:
            agent.uptime = restarted_at
        if answered:
            total.add(agent.reading())
            counted = carried
        assert total.total == counted


events = st.lists(
    st.one_of(
        st.tuples(st.just("carry"), step_bytes, step_bytes),
        st.sampled_from([("read",), ("timeout",), ("reboot",), ("recreate",)]),
    ),
    max_size=MAX_STEPS,
)


@NO_DEADLINE
@given(start_in=st.integers(2**40, 2**62), start_out=st.integers(2**40, 2**62), uptime=start_uptime, events=events)
def test_resets_never_double_count_and_visible_ones_lose_only_unread_bytes(start_in, start_out, uptime, events) -> None:
    """A reset that the readings show (index changed, a counter went back) costs only bytes never read.

    One they cannot show (a second reset whose counters have grown past the
    values read after the first) may cost more, but never counts a byte twice.
    """
    agent = Agent(uptime, start_in, start_out)
    total = started_at(agent)
    last_read = agent.reading()
    carried_at_read = carried = unread = lost_since_read = lost = 0
    reset_since_read = blind = False
    for event in events:
        kind = event[0]
        if kind == "carry":
            agent.carry(event[1], event[2])
            carried += event[1] + event[2]
            unread += event[1] + event[2]
        elif kind in ("reboot", "recreate"):
            if kind == "reboot":
                agent.reboot()
            else:
                agent.recreate_interface()
            lost_since_read += unread
            unread = 0
            reset_since_read = True
        elif kind == "timeout":
            total.add(None)
        else:
            now = agent.reading()
            went_back = now.in_octets < last_read.in_octets or now.out_octets < last_read.out_octets
            # Counters that went back while sysUpTime did not show a fresh start only if the new values fit in what
            # the link could carry in the ticks between the readings (a reboot whose uptime has caught up with the
            # last reading's, after more than that: indistinguishable from a dip, which counts nothing twice).
            fits = now.in_octets + now.out_octets <= max(now.uptime - last_read.uptime, 1) * MAX_BYTES_PER_TICK
            visible = (
                now.if_index != last_read.if_index
                or (went_back and (now.uptime < last_read.uptime or fits))
            )
            blind = blind or (reset_since_read and not visible)
            total.add(now)
            lost += lost_since_read
            last_read, carried_at_read, unread, lost_since_read, reset_since_read = now, carried, 0, 0, False
        assert total.total <= carried_at_read
        if not blind:
            assert total.total == carried_at_read - lost


readings = st.builds(Reading, uptime=st.integers(0, 2**32 - 1), if_index=st.integers(1, 3), in_octets=any_counter, out_octets=any_counter)


@NO_DEADLINE
@given(sequence=st.lists(st.one_of(st.none(), readings), max_size=MAX_STEPS), data=st.data())
def test_persisting_anywhere_changes_nothing_and_the_total_never_falls(sequence, data) -> None:
    split = data.draw(st.integers(0, len(sequence)))
    straight, interrupted = WanTotal(), WanTotal()
    previous = 0
    for position, reading in enumerate(sequence):
        if position == split:
            interrupted = restored(interrupted)
        assert straight.add(reading) >= previous
        previous = straight.total
        interrupted.add(reading)
    assert restored(interrupted).total == straight.total
    assert interrupted.state() == straight.state()
