"""What the kernel's counters moved while no daemon read them: pure, no kernel (the lab tests are in
test_faults.py and test_enforce.py)."""

import json

from routerguard.enforce import recovery
from routerguard.enforce.nft import Counts, parse_table

TABLE = "boot-1/7"
A, B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
SAVED = Counts(TABLE, {"c_dev_1_up": 1_000, "c_dev_1_down": 50_000, "c_router_up": 10, "c_router_down": 20})


def test_saved_counts_read_back_and_unknown_or_damaged_ones_read_as_none():
    assert recovery.loads(recovery.dumps(SAVED)) == SAVED
    for text in (None, "", recovery.dumps(None), "{", "[]", '{"table": "x"}', '{"table": "x", "bytes": {"c": "many"}}'):
        assert recovery.loads(text) is None, text


def test_only_what_each_counter_moved_since_the_commit_is_owed():
    now = Counts(TABLE, {"c_dev_1_up": 1_500, "c_dev_1_down": 90_000, "c_dev_2_up": 300, "c_dev_2_down": 4_000,
                         "c_router_up": 10, "c_router_down": 20})
    moved = recovery.moved(SAVED, now)
    assert moved == {"c_dev_1_up": 500, "c_dev_1_down": 40_000, "c_dev_2_up": 300, "c_dev_2_down": 4_000}
    owners = recovery.owners([(A, 1), (B, 2)], "router")
    assert recovery.owed(moved, owners) == {A: (500, 40_000), B: (300, 4_000)}  # the router moved nothing


def test_counts_of_another_table_or_none_saved_owe_nothing():
    """A reboot or a replaced table counts from zero; a database without counts (new, set aside) has nothing to compare."""
    now = Counts(TABLE, {"c_dev_1_up": 10**9})
    assert recovery.moved(Counts("boot-1/3", {"c_dev_1_up": 5}), now) == {}
    assert recovery.moved(Counts("boot-0/7", {"c_dev_1_up": 5}), now) == {}
    assert recovery.moved(None, now) == {}


def test_a_table_noted_at_its_creation_owes_everything_it_counted():
    assert recovery.moved(Counts(TABLE), Counts(TABLE, {"c_dev_1_up": 7, "c_dev_1_down": 0})) == {"c_dev_1_up": 7}


def test_a_counter_that_went_back_owes_nothing():
    assert recovery.moved(SAVED, Counts(TABLE, {"c_dev_1_up": 999, "c_dev_1_down": 50_000})) == {}


LISTING = {"nftables": [
    {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
    {"table": {"family": "inet", "name": "routerguard", "handle": 7}},
    {"counter": {"family": "inet", "name": "c_dev_1_up", "table": "routerguard", "handle": 3, "packets": 4, "bytes": 1500}},
    {"quota": {"family": "inet", "name": "q_dev1_aa", "table": "routerguard", "handle": 2, "bytes": 5000000, "used": 1200}},
    {"limit": {"family": "inet", "name": "lim_dev_1_256_up", "table": "routerguard", "handle": 4}},
    {"chain": {"family": "inet", "table": "routerguard", "name": "dev_1", "handle": 5}},
]}


def test_the_table_listing_gives_objects_counts_and_the_tables_identity():
    state = parse_table(json.dumps(LISTING), "boot-1")
    assert state.counts == Counts("boot-1/7", {"c_dev_1_up": 1500})
    assert state.counted == {"q_dev1_aa": 1200}
    assert state.present.chains == {"dev_1"} and state.present.limits == {"lim_dev_1_256_up"}
    assert state.present.counters == {"c_dev_1_up"} and state.present.quotas == {"q_dev1_aa"}
