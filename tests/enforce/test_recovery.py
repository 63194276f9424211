"""What the kernel's counters moved while no daemon read them: pure, no kernel (the lab tests are in
tests/router/test_faults.py and test_enforce.py)."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from routerguard.enforce import recovery
from routerguard.enforce.nft import Counts, parse_table
from routerguard.read import nftcounters
from routerguard.read.netlink import NLMSG_DONE, request

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


def test_the_table_listing_gives_its_objects_and_the_quotas_counts():
    state = parse_table(json.dumps(LISTING))
    assert state.counted == {"q_dev1_aa": 1200}
    assert state.present.chains == {"dev_1"} and state.present.limits == {"lim_dev_1_256_up"}
    assert state.present.counters == {"c_dev_1_up"} and state.present.quotas == {"q_dev1_aa"}


# --- the netlink reader of the counters (read/nftcounters.py) ---------------------------------------

def counter_message(name: str, nbytes: int) -> bytes:
    """One NFT_MSG_NEWOBJ as the kernel sends it in a dump of counters."""
    data = nftcounters._attr(nftcounters.NFTA_COUNTER_BYTES | 0x8000, nftcounters.BE64.pack(nbytes))
    payload = (nftcounters.NFGENMSG.pack(1, 0, 0) + nftcounters._string(nftcounters.NFTA_OBJ_TABLE, "routerguard")
               + nftcounters._string(nftcounters.NFTA_OBJ_NAME, name)
               + nftcounters._attr(nftcounters.NFTA_OBJ_DATA | 0x8000, data))
    return request(nftcounters._type(nftcounters.NFT_MSG_NEWOBJ), 2, 2, payload)


DUMP = counter_message("c_dev_1_up", 1500) + counter_message("c_dev_1_down", 2**40) + request(NLMSG_DONE, 2, 2, b"\0" * 4)


def test_a_dump_of_counters_reads_as_names_and_bytes():
    found: dict = {}
    assert nftcounters._counters(DUMP, found)
    assert found == {"c_dev_1_up": 1500, "c_dev_1_down": 2**40}


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_mangled_dump_is_a_value_or_os_error_never_another(data):
    mangled = bytearray(DUMP)
    for _ in range(data.draw(st.integers(1, 8))):
        mangled[data.draw(st.integers(0, len(mangled) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(mangled)))
    try:
        nftcounters._counters(bytes(mangled[:cut]), {})
        nftcounters._table_handle(bytes(mangled[:cut]))
    except (ValueError, OSError):
        pass
