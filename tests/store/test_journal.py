"""The usage journal between the ledger and SQLite: small writes, nothing lost, nothing counted twice."""

import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routerguard.account.ledger import ROUTER, Ledger
from routerguard.store import journal as journal_module
from routerguard.store.db import FILENAME, JOURNAL_FILENAME, JOURNAL_KEY, MIGRATIONS, Database, set_meta
from routerguard.store.journal import Journal, decode, encode

HOUR = 3600
T0 = 1_760_000_400  # inside an hour: hour buckets are T0 // HOUR * HOUR
DEVICES = [f"02:00:00:00:01:{i:02x}" for i in range(50)]
MAX_COMMIT_BYTES = 1024  # one minute of 50 busy devices, as bench/flash_writes.py assumes


def hourly(t: float) -> int:
    return int(t // HOUR * HOUR)


def add_and_commit(ledger: Ledger, mac: str, up: int, down: int) -> bool:
    ledger.add(mac, up, down, T0)
    return ledger.commit()


def reopen(tmp_path) -> Ledger:
    """The ledger of a daemon started again on the same data_dir."""
    return Ledger(Database(str(tmp_path)), hourly)


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    return reopen(tmp_path)


def sizes(folder) -> dict[str, int]:
    return {name: os.path.getsize(os.path.join(folder, name)) for name in os.listdir(folder)}


def test_a_commit_of_fifty_devices_appends_under_a_kilobyte_and_leaves_sqlite_alone(ledger, tmp_path):
    before = sizes(tmp_path)
    for n, mac in enumerate(DEVICES):
        ledger.add(mac, 50_000 + n, 900_000 + n, T0)
    assert ledger.commit(lambda meta: set_meta(meta, "clock_high_water", repr(T0 + 0.5)))
    after = sizes(tmp_path)
    assert {name: size for name, size in after.items() if name != JOURNAL_FILENAME} == \
        {name: size for name, size in before.items() if name != JOURNAL_FILENAME}
    assert 0 < after[JOURNAL_FILENAME] - before.get(JOURNAL_FILENAME, 0) < MAX_COMMIT_BYTES


def test_usage_and_meta_of_a_killed_process_are_read_back_from_the_journal(tmp_path):
    script = textwrap.dedent(f"""
        import os, signal
        from routerguard.account.ledger import Ledger
        from routerguard.store.db import Database, set_meta
        ledger = Ledger(Database({str(tmp_path)!r}), lambda t: int(t // {HOUR} * {HOUR}))
        ledger.add("{DEVICES[0]}", 3, 4, {T0})
        ledger.add("{ROUTER}", 5, 6, {T0 + HOUR})
        assert ledger.commit(lambda meta: set_meta(meta, "k", "v"))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert subprocess.run([sys.executable, "-c", script]).returncode == -9
    ledger = reopen(tmp_path)
    assert ledger.usage(DEVICES[0], hourly(T0)) == (3, 4)
    assert ledger.usage(ROUTER, None) == (5, 6)
    assert ledger.db.get_meta("k") == "v"
    assert os.path.getsize(tmp_path / JOURNAL_FILENAME) == 0  # taken in at start


def test_a_crash_after_the_fold_but_before_the_journal_is_emptied_counts_nothing_twice(ledger, tmp_path, monkeypatch):
    assert add_and_commit(ledger, DEVICES[0], 10, 20)

    def crash(self) -> None:
        raise OSError("killed")

    monkeypatch.setattr(Journal, "restart", crash)
    with pytest.raises(OSError):
        ledger.db.fold()
    monkeypatch.undo()
    again = reopen(tmp_path)  # the journal is still there, already taken in
    assert again.usage(DEVICES[0], hourly(T0)) == (10, 20)
    assert again.db.get_meta(JOURNAL_KEY) is not None


def test_a_write_cut_short_is_overwritten_by_the_next_commit(ledger, tmp_path, monkeypatch):
    assert add_and_commit(ledger, DEVICES[0], 1, 1)
    real_pwrite = os.pwrite

    def half(fd: int, data: bytes, offset: int) -> int:
        return real_pwrite(fd, data[:len(data) // 2], offset)  # as a disk that fills up midway

    monkeypatch.setattr(journal_module.os, "pwrite", half)
    assert not add_and_commit(ledger, DEVICES[0], 2, 2)
    monkeypatch.undo()
    assert add_and_commit(ledger, DEVICES[0], 4, 4)
    assert add_and_commit(ledger, DEVICES[1], 8, 8)
    again = reopen(tmp_path)
    assert again.usage(DEVICES[0], None) == (7, 7) and again.usage(DEVICES[1], None) == (8, 8)


def test_a_torn_last_record_is_dropped_and_the_rest_kept(tmp_path):
    path = str(tmp_path / JOURNAL_FILENAME)
    journal = Journal(path)
    journal.append([(DEVICES[0], 0, 1, 2)], {})
    journal.append([(DEVICES[0], 0, 4, 8)], {})
    journal.close()
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 3)  # a power cut in the middle of the second write
    again = Journal(path)
    assert [record.rows for record in again.read()] == [[(DEVICES[0], 0, 1, 2)]]
    again.append([(DEVICES[1], 0, 16, 32)], {})  # goes where the torn record began
    assert [record.rows for record in again.read()] == [[(DEVICES[0], 0, 1, 2)], [(DEVICES[1], 0, 16, 32)]]
    again.close()


def test_a_journal_with_a_garbage_header_is_set_aside(tmp_path):
    (tmp_path / JOURNAL_FILENAME).write_bytes(b"garbage" * 10)
    ledger = reopen(tmp_path)
    assert any(name.startswith(JOURNAL_FILENAME + ".corrupt-") for name in os.listdir(tmp_path))
    assert add_and_commit(ledger, DEVICES[0], 1, 2)
    assert reopen(tmp_path).usage(DEVICES[0], None) == (1, 2)


def test_the_first_schema_migrates_keeping_usage(tmp_path):
    conn = sqlite3.connect(tmp_path / FILENAME, isolation_level=None)
    conn.executescript("BEGIN;" + MIGRATIONS[0] + "PRAGMA user_version = 1;COMMIT;")
    conn.executemany("INSERT INTO usage (mac, hour, up, down) VALUES (?, ?, ?, ?)",
                     [(DEVICES[0], 0, 1, 2), (DEVICES[0], HOUR, 3, 4), (DEVICES[1], 0, 5, 6)])
    conn.close()
    ledger = reopen(tmp_path)
    assert ledger.db.schema_version == len(MIGRATIONS)
    assert ledger.usage(DEVICES[0], 0) == (4, 6)
    assert ledger.db.query("SELECT hour, mac FROM usage") == [(0, DEVICES[0]), (0, DEVICES[1]), (HOUR, DEVICES[0])]


keys = st.one_of(st.sampled_from(DEVICES + [ROUTER]), st.text(min_size=1, max_size=40).filter(lambda k: len(k.encode()) <= 255))
counts = st.integers(min_value=0, max_value=2**64)
rows = st.lists(st.tuples(keys, st.integers(min_value=0, max_value=2**40), counts, counts), max_size=20)
metas = st.dictionaries(st.text(max_size=20), st.text(max_size=60), max_size=4)


@settings(max_examples=300, deadline=None)
@given(rows, metas)
def test_a_record_decodes_to_what_was_encoded(rows, meta):
    record = decode(encode(rows, meta))
    assert sorted(record.rows) == sorted(rows) and record.meta == meta


def test_fold_writers_write_in_the_folds_transaction_and_hear_when_it_committed(ledger):
    db = ledger.db
    committed = []

    def write(tx):
        tx.execute("INSERT INTO block (mac, until) VALUES (?, NULL)", (DEVICES[0],))
        return lambda: committed.append(db.query("SELECT mac FROM block"))

    db.fold_writers.append(write)
    db.close()
    assert committed == [[(DEVICES[0],)]]


def test_usage_reads_the_same_across_a_fold_with_deltas_not_yet_journaled(ledger):
    assert add_and_commit(ledger, DEVICES[0], 1, 2)
    ledger.add(DEVICES[0], 4, 8, T0 + HOUR)  # not committed yet
    before = ledger.usage(DEVICES[0], hourly(T0)), ledger.series(DEVICES[0], 0, T0 + 2 * HOUR, hourly)
    ledger.fold()
    assert (ledger.usage(DEVICES[0], hourly(T0)), ledger.series(DEVICES[0], 0, T0 + 2 * HOUR, hourly)) == before
    assert ledger.commit()
    ledger.fold()
    assert ledger.db.query("SELECT SUM(up), SUM(down) FROM usage") == [(5, 10)]
