"""Power cuts by design: each commit on the medium, values of the kernel's lifetime in RAM tied to it."""

import os

import pytest

from routerguard.account.ledger import Ledger
from routerguard.store import journal as journal_module
from routerguard.store.db import COMMIT_KEY, JOURNAL_FILENAME, Database, set_meta
from routerguard.store.journal import Journal
from routerguard.store.volatile import Volatile

HOUR = 3600
T0 = 1_760_000_400
MAC = "02:00:00:00:01:01"


def hourly(t: float) -> int:
    return int(t // HOUR * HOUR)


@pytest.fixture
def run_dir(tmp_path):
    folder = tmp_path / "run"
    return (str(folder),)


def open_db(tmp_path, run_dir) -> Database:
    db = Database(str(tmp_path / "data"))
    db._volatile = Volatile(str(tmp_path / "data"), run_dir)
    return db


def test_every_record_is_synced_before_append_returns(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(journal_module.os, "fdatasync", lambda fd: synced.append(fd))
    journal = Journal(str(tmp_path / JOURNAL_FILENAME))
    journal.append([(MAC, 0, 1, 2)], {})
    journal.append([(MAC, 0, 3, 4)], {})
    assert len(synced) == 2


def test_a_failed_sync_writes_nothing_the_next_commit_keeps(tmp_path, monkeypatch):
    journal = Journal(str(tmp_path / JOURNAL_FILENAME))
    journal.append([(MAC, 0, 1, 2)], {})

    def fail(fd):
        raise OSError(5, "EIO")

    monkeypatch.setattr(journal_module.os, "fdatasync", fail)
    with pytest.raises(OSError):
        journal.append([(MAC, 0, 100, 200)], {"k": "lost"})
    monkeypatch.undo()
    journal.append([(MAC, 0, 3, 4)], {"k": "v"})
    records = Journal(journal.path).read()
    assert [r.rows for r in records] == [[(MAC, 0, 1, 2)], [(MAC, 0, 3, 4)]]
    assert records[-1].meta == {"k": "v"}


def test_a_record_carries_only_the_meta_values_that_changed(tmp_path):
    journal = Journal(str(tmp_path / JOURNAL_FILENAME))
    journal.append([], {"clock": "1", "wan": "w"})
    journal.append([], {"clock": "2", "wan": "w"})
    journal.append([], {"clock": "2", "wan": "w"})
    assert [r.meta for r in Journal(journal.path).read()] == [{"clock": "1", "wan": "w"}, {"clock": "2"}, {}]
    journal.restart()  # a new journal repeats every value once
    journal.append([], {"clock": "2", "wan": "w"})
    assert [r.meta for r in Journal(journal.path).read()] == [{"clock": "2", "wan": "w"}]


def test_meta_values_survive_folds_and_restarts_whatever_records_held_them(tmp_path, run_dir):
    ledger = Ledger(open_db(tmp_path, run_dir), hourly)
    ledger.commit(lambda meta: set_meta(meta, "wan", "w"))
    ledger.commit(lambda meta: set_meta(meta, "wan", "w"))
    ledger.db.close()
    db = open_db(tmp_path, run_dir)
    assert db.get_meta("wan") == "w"
    assert db.get_meta(COMMIT_KEY) == "1"  # the second commit had nothing new: no record


def test_volatile_values_are_those_of_the_last_commit_on_the_medium(tmp_path, run_dir):
    db = open_db(tmp_path, run_dir)
    ledger = Ledger(db, hourly)
    db.stage_volatile("counts", "at-1")
    assert ledger.commit()
    db.stage_volatile("counts", "at-2")
    assert ledger.commit()
    assert db.get_volatile("counts") == "at-2"
    # A crash between saving the next commit's values and its journal record: the record never came.
    db._volatile.save(3, {"counts": "at-3"})
    db.close()
    db2 = open_db(tmp_path, run_dir)
    assert db2.get_volatile("counts") == "at-2"


def test_a_failed_commit_stages_its_values_again(tmp_path, run_dir, monkeypatch):
    db = open_db(tmp_path, run_dir)
    ledger = Ledger(db, hourly)
    db.stage_volatile("counts", "at-1")
    assert ledger.commit()
    ledger.add(MAC, 1, 2, T0)

    def fail(rows, meta):
        raise OSError(28, "ENOSPC")

    monkeypatch.setattr(db._journal, "append", fail)
    db.stage_volatile("counts", "at-2-failed")
    assert not ledger.commit()
    monkeypatch.undo()
    assert db.get_volatile("counts") == "at-1"  # what a restart now would use
    db.stage_volatile("counts", "at-2")
    assert ledger.commit()
    db.close()
    assert open_db(tmp_path, run_dir).get_volatile("counts") == "at-2"


def test_no_volatile_value_after_a_reboot_empties_the_run_folder(tmp_path, run_dir):
    db = open_db(tmp_path, run_dir)
    db.stage_volatile("counts", "x")
    assert Ledger(db, hourly).commit()
    db.close()
    for name in os.listdir(run_dir[0]):
        os.unlink(os.path.join(run_dir[0], name))
    assert open_db(tmp_path, run_dir).get_volatile("counts") is None


def test_a_value_put_at_once_belongs_to_the_last_commit(tmp_path, run_dir):
    db = open_db(tmp_path, run_dir)
    db.stage_volatile("counts", "old-table")
    assert Ledger(db, hourly).commit()
    db.put_volatile("counts", "new-table")
    db.close()
    assert open_db(tmp_path, run_dir).get_volatile("counts") == "new-table"


def test_without_a_writable_run_folder_nothing_is_recovered_and_commits_go_on(tmp_path):
    db = Database(str(tmp_path / "data"))
    db._volatile = Volatile(str(tmp_path / "data"), ("/proc/routerguard-no",))
    db.stage_volatile("counts", "x")
    assert Ledger(db, hourly).commit()
    assert db.get_volatile("counts") is None


def test_a_command_commits_the_usage_it_was_made_against_before_it_takes_effect(fleet_config):
    from routerguard.core import Core

    core = Core(str(fleet_config("")))
    seen = []
    core.on_change = lambda: seen.append(Journal(core.db._journal.path).read())  # the daemon's hook: the kernel
    core.ledger.add(MAC, 1, 2, core.now())
    core.on_change()  # what every command calls after its change
    assert len(seen) == 1
    assert [row[0] for record in seen[0] for row in record.rows] == [MAC]  # on the medium before the hook ran


def test_a_commit_with_nothing_new_writes_nothing(tmp_path, run_dir):
    db = open_db(tmp_path, run_dir)
    ledger = Ledger(db, hourly)
    ledger.add(MAC, 1, 2, T0)
    assert ledger.commit(lambda meta: set_meta(meta, "clock", "1"))
    size = os.path.getsize(db._journal.path)
    assert ledger.commit(lambda meta: set_meta(meta, "clock", "1"))  # e.g. a command right after a commit
    assert ledger.commit()
    assert os.path.getsize(db._journal.path) == size
    db.stage_volatile("counts", "c")  # new volatile values are a commit of their own
    assert ledger.commit()
    assert os.path.getsize(db._journal.path) > size
