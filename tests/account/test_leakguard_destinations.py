"""Leak guard: bytes per device and destination, bounded, summing to the device's usage, kept across restarts."""

from __future__ import annotations

import socket

from hypothesis import given, strategies as st

from routerguard.account.destinations import OTHER, Destinations, Tally, summed, view
from routerguard.attribute.categories import Catalog
from routerguard.attribute.names import Names, describe
from routerguard.config.categories import shipped
from routerguard.read.dns import Answer
from routerguard.store.db import Database

PHONE = "02:00:00:00:00:0a"
LAPTOP = "02:00:00:00:00:0b"
DAY = 86400.0


def addr(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)


def charge(found: Destinations, up: int, down: int, window: float) -> None:
    """One reading's bytes of PHONE to 198.18.0.10, charged to the window starting at `window`."""
    found.add(PHONE, addr("198.18.0.10"), up, down)
    found.settle(lambda mac: window)


def commit(db: Database, destinations: Destinations) -> None:
    with db.batch() as tx:
        done = destinations.write(tx)
    done()


def test_bytes_go_to_the_name_the_device_looked_up_else_the_address(tmp_path) -> None:
    names = Names()
    names.learn(PHONE, Answer("video.example", (addr("198.18.0.20"),)))
    found = Destinations(Database(str(tmp_path)), names)
    found.add(PHONE, addr("198.18.0.20"), 100, 5000)
    found.add(PHONE, addr("198.18.0.20"), 10, 500)
    found.add(PHONE, addr("fd00:198:18::10"), 7, 70)
    found.add(PHONE, None, 1, 2)
    assert found.top(PHONE, None) == [("video.example", 110, 5500), ("fd00:198:18::10", 7, 70), (OTHER, 1, 2)]
    assert found.top(LAPTOP, None) == []


def test_a_name_learnt_after_the_bytes_still_names_them(tmp_path) -> None:
    names = Names()
    found = Destinations(Database(str(tmp_path)), names)
    found.add(PHONE, addr("198.18.0.10"), 1, 1000)
    names.learn(PHONE, Answer("dl.example.test", (addr("198.18.0.10"),)))
    found.add(PHONE, addr("198.18.0.10"), 1, 1000)
    found.settle(lambda mac: 0.0)
    assert found.top(PHONE, None) == [("dl.example.test", 2, 2000)]


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 10**6), st.integers(0, 10**6)), max_size=200))
def test_the_top_names_and_other_always_add_up_to_everything(flows) -> None:
    tally = Tally(limit=5)
    for name, up, down in flows:
        tally.add(f"n{name}", up, down)
    assert len([n for n in tally.rows if n != OTHER]) <= 5
    assert sum(r[0] for r in tally.rows.values()) == sum(f[1] for f in flows)
    assert sum(r[1] for r in tally.rows.values()) == sum(f[2] for f in flows)


names_and_bytes = st.dictionaries(st.sampled_from([f"n{i}" for i in range(30)] + [OTHER]),
                                  st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), max_size=30)


@given(earlier=names_and_bytes, rows=names_and_bytes)
def test_many_names_at_once_keep_what_adding_them_biggest_first_keeps(earlier, rows) -> None:
    """A sample of the whole table brings a device many names: once one cannot enter, no smaller one can."""
    at_once, one_by_one = Tally(limit=5), Tally(limit=5)
    for tally in (at_once, one_by_one):
        for name, (up, down) in earlier.items():
            tally.add(name, up, down)
    at_once.add_ranked({name: list(pair) for name, pair in rows.items()})
    for name, (up, down) in sorted(rows.items(), key=lambda item: -sum(item[1])):
        one_by_one.add(name, up, down)
    assert at_once.rows == one_by_one.rows


def test_a_devices_many_flows_are_named_and_summed_by_name(tmp_path) -> None:
    names = Names()
    names.learn(PHONE, Answer("video.example", (addr("198.18.0.20"), addr("198.18.0.21"))))
    found = Destinations(Database(str(tmp_path)), names, limit=1)
    found.add_many(PHONE, [(addr("198.18.0.20"), 100, 5000), (addr("198.18.0.21"), 10, 500),
                           (addr("198.18.0.30"), 7, 70)])
    found.settle(lambda mac: 0.0)
    assert found.top(PHONE, None) == [("video.example", 110, 5500), (OTHER, 7, 70)]


def test_a_big_newcomer_pushes_the_smallest_name_into_other() -> None:
    tally = Tally(limit=2)
    tally.add("a", 0, 100)
    tally.add("b", 0, 10)
    tally.add("c", 0, 5)  # smaller than everything kept: straight to other
    tally.add("d", 0, 1000)
    assert tally.rows == {"a": [0, 100], "d": [0, 1000], OTHER: [0, 15]}


def test_windows_keep_their_own_rows_and_a_new_period_starts_empty(tmp_path) -> None:
    db = Database(str(tmp_path))
    found = Destinations(db, Names())
    charge(found, 1, 10, DAY)
    commit(db, found)
    charge(found, 2, 20, 2 * DAY)
    assert found.top(PHONE, 2 * DAY) == [("198.18.0.10", 2, 20)]
    assert found.top(PHONE, DAY) == [("198.18.0.10", 3, 30)]
    commit(db, found)
    assert db.query("SELECT start, up FROM destination") == [(2 * DAY, 2)]  # the rolled window is dropped


def test_rolled_windows_within_the_plans_window_stay_for_the_dashboard(tmp_path) -> None:
    """A daily window under a monthly plan: yesterday's rows stay (the plan's sums need them) until the plan rolls."""
    db = Database(str(tmp_path))
    found = Destinations(db, Names())
    month = 0.5 * DAY
    charge(found, 1, 10, DAY)
    found.settle(lambda mac: DAY, keep_since=month)
    commit(db, found)
    found.add(PHONE, addr("198.18.0.10"), 2, 20)
    found.settle(lambda mac: 2 * DAY, keep_since=month)
    commit(db, found)
    assert db.query("SELECT start, up FROM destination ORDER BY start") == [(DAY, 1), (2 * DAY, 2)]
    assert found.top(PHONE, 2 * DAY) == [("198.18.0.10", 2, 20)]  # the device page: its own window only
    assert found.top(PHONE, month) == [("198.18.0.10", 3, 30)]  # the dashboard: the plan's window
    found.add(PHONE, addr("198.18.0.10"), 4, 40)
    found.settle(lambda mac: 3 * DAY, keep_since=3 * DAY)  # the plan rolled too
    commit(db, found)
    assert db.query("SELECT start, up FROM destination") == [(3 * DAY, 4)]


def test_rows_add_up_by_a_key_biggest_first() -> None:
    rows = [{"category": "video", "up_bytes": 1, "down_bytes": 9}, {"category": None, "up_bytes": 0, "down_bytes": 50},
            {"category": "video", "up_bytes": 2, "down_bytes": 8}]
    assert summed(rows, lambda row: row["category"]) == [(None, 0, 50), ("video", 3, 17)]


def test_a_device_idle_between_two_writes_leaves_memory_and_is_read_from_the_table(tmp_path) -> None:
    db = Database(str(tmp_path))
    found = Destinations(db, Names())
    charge(found, 5, 50, DAY)
    commit(db, found)
    commit(db, found)  # no byte since the first: its rows are in the table, not in memory
    assert found._current == {}
    assert found.top(PHONE, DAY) == [("198.18.0.10", 5, 50)]
    charge(found, 1, 1, DAY)
    commit(db, found)
    assert found.top(PHONE, DAY) == [("198.18.0.10", 6, 51)]
    assert db.query("SELECT up, down FROM destination") == [(6, 51)]


def test_destinations_survive_a_restart(tmp_path) -> None:
    db = Database(str(tmp_path))
    found = Destinations(db, Names())
    charge(found, 5, 50, DAY)
    commit(db, found)
    db.close()
    db = Database(str(tmp_path))
    again = Destinations(db, Names())
    assert again.top(PHONE, DAY) == [("198.18.0.10", 5, 50)]
    charge(again, 1, 1, DAY)
    commit(db, again)
    assert Destinations(db, Names()).top(PHONE, DAY) == [("198.18.0.10", 6, 51)]


def test_a_write_not_confirmed_is_written_again(tmp_path) -> None:
    db = Database(str(tmp_path))
    found = Destinations(db, Names())
    charge(found, 5, 50, DAY)
    with db.batch() as tx:
        found.write(tx)  # never confirmed, as when the ledger's transaction fails
    db.execute("DELETE FROM destination")
    commit(db, found)
    assert db.query("SELECT up FROM destination") == [(5,)]
    db.execute("DELETE FROM destination")
    commit(db, found)  # confirmed before: nothing changed, nothing written
    assert db.query("SELECT up FROM destination") == []


def test_the_view_names_services_and_categories() -> None:
    rows = view([("r1.googlevideo.com", 1, 9), ("198.18.0.10", 0, 5), (OTHER, 1, 1)], lambda n: describe(n, Catalog(shipped())))
    assert rows == [
        {"name": "r1.googlevideo.com", "service": "YouTube", "category": "video", "up_bytes": 1, "down_bytes": 9, "total_bytes": 10},
        {"name": "198.18.0.10", "service": None, "category": None, "up_bytes": 0, "down_bytes": 5, "total_bytes": 5},
        {"name": "other", "service": None, "category": None, "up_bytes": 1, "down_bytes": 1, "total_bytes": 2},
    ]
