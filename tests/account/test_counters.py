"""Usage from the kernel's counters: the difference between two readings, per ledger line."""

from routerguard.account import counters
from routerguard.account.counters import Line
from routerguard.read.nftcounters import Counts

TABLE = "boot-1/7"
LINES = [Line("aa:aa:aa:aa:aa:01", "c_dev_1_up", "c_dev_1_down"), Line("router", "c_router_up", "c_router_down")]


def test_a_reading_charges_what_each_counter_moved_since_the_last() -> None:
    before = Counts(TABLE, {"c_dev_1_up": 100, "c_dev_1_down": 5_000, "c_router_up": 7, "c_router_down": 9})
    now = Counts(TABLE, {"c_dev_1_up": 160, "c_dev_1_down": 5_000, "c_router_up": 7, "c_router_down": 19})
    moved = counters.moved(before, now)
    assert moved == {"c_dev_1_up": 60, "c_router_down": 10}
    assert counters.per_line(moved, LINES) == {"aa:aa:aa:aa:aa:01": [60, 0], "router": [0, 10]}


def test_a_counter_made_since_the_last_reading_counted_from_zero() -> None:
    before = Counts(TABLE, {"c_router_up": 7})
    assert counters.moved(before, Counts(TABLE, {"c_router_up": 7, "c_dev_2_up": 300})) == {"c_dev_2_up": 300}


def test_a_table_made_anew_counts_every_counter_from_zero() -> None:
    """A firewall flush, our table put back: what the old one counted after the last reading is not known."""
    before = Counts(TABLE, {"c_dev_1_up": 10**9})
    assert counters.moved(before, Counts("boot-1/8", {"c_dev_1_up": 500})) == {"c_dev_1_up": 500}
    assert counters.moved(None, Counts(TABLE, {"c_dev_1_up": 500})) == {"c_dev_1_up": 500}


def test_a_count_that_went_down_is_the_next_readings_start_not_a_negative_charge() -> None:
    assert counters.moved(Counts(TABLE, {"c_dev_1_up": 900}), Counts(TABLE, {"c_dev_1_up": 40})) == {}


def test_two_lines_of_one_mac_add_up() -> None:
    """An id given back and given again: the new counters are another line of the same MAC only in a race."""
    lines = LINES + [Line("aa:aa:aa:aa:aa:01", "c_dev_9_up", "c_dev_9_down")]
    assert counters.per_line({"c_dev_1_up": 5, "c_dev_9_up": 6, "c_dev_9_down": 1}, lines) == {
        "aa:aa:aa:aa:aa:01": [11, 1]}
