"""Usage bookkeeping over real SQLite: pending plus committed, batched, never lost."""

import os
import sqlite3
from datetime import datetime

import pytest

from routerguard.account.adjustments import Adjustments
from routerguard.account.ledger import Ledger
from routerguard.daemon import Daemon
from routerguard.decide.limits import starts_in_force
from routerguard.store.db import FILENAME, MIGRATIONS, Database

HOUR = 3600
A, B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"


def hourly(t: float) -> int:
    return int(t // HOUR * HOUR)


@pytest.fixture
def db(tmp_path):
    database = Database(str(tmp_path))
    yield database
    database.close()


def test_schema_is_versioned(db):
    assert db.schema_version == len(MIGRATIONS)


def test_usage_answers_from_pending_and_committed_alike(db):
    ledger = Ledger(db, hourly)
    ledger.add(A, 100, 1000, 10 * HOUR + 5)
    assert ledger.usage(A, 10 * HOUR) == (100, 1000)
    assert ledger.commit()
    ledger.add(A, 1, 2, 11 * HOUR + 5)
    assert ledger.usage(A, 10 * HOUR) == (101, 1002)
    assert ledger.usage(A, 11 * HOUR) == (1, 2)
    assert ledger.usage(A, None) == (101, 1002)
    assert ledger.usage(B, 10 * HOUR) == (0, 0)


def test_a_window_asked_for_before_traffic_keeps_counting(db):
    ledger = Ledger(db, hourly)
    assert ledger.usage(A, 10 * HOUR) == (0, 0)
    ledger.add(A, 5, 7, 10 * HOUR + 1)
    ledger.add(A, 5, 7, 9 * HOUR)  # before the window: not in it
    assert ledger.usage(A, 10 * HOUR) == (5, 7)


def test_usage_survives_a_restart_of_the_ledger(tmp_path):
    db = Database(str(tmp_path))
    ledger = Ledger(db, hourly)
    ledger.add(A, 3, 4, 10 * HOUR)
    ledger.commit()
    db.close()
    again = Ledger(Database(str(tmp_path)), hourly)
    assert again.usage(A, 0) == (3, 4) and again.usage(A, None) == (3, 4)


def test_a_failed_commit_keeps_everything_pending(db, tmp_path):
    ledger = Ledger(db, hourly)
    ledger.add(A, 10, 20, 10 * HOUR)

    def fail(tx):
        raise sqlite3.OperationalError("database or disk is full")

    assert not ledger.commit(fail)
    assert db.query("SELECT COUNT(*) FROM usage")[0][0] == 0
    assert ledger.usage(A, 10 * HOUR) == (10, 20)
    assert ledger.commit()
    ledger.fold()
    assert db.query("SELECT up, down FROM usage")[0] == (10, 20)


def test_series_merges_steps(db):
    ledger = Ledger(db, hourly)
    ledger.add(A, 1, 1, 0)
    ledger.add(A, 2, 2, HOUR)
    ledger.commit()
    ledger.add(A, 4, 4, 2 * HOUR)
    ledger.add(B, 8, 8, 2 * HOUR)
    assert ledger.series(A, 0, 3 * HOUR, lambda h: h) == [(0, A, 1, 1), (HOUR, A, 2, 2), (2 * HOUR, A, 4, 4)]
    assert ledger.series(None, 0, 3 * HOUR, lambda h: 0) == [(0, A, 7, 7), (0, B, 8, 8)]


def cached(ledger: Ledger) -> dict[str, set]:
    """The windows the ledger holds sums for, per device."""
    return {mac: set(windows) for mac, windows in ledger._windows.items()}


def test_windows_of_periods_that_ended_are_forgotten_and_asked_again_from_the_tables(db):
    ledger = Ledger(db, hourly)
    ledger.add(A, 1, 2, 10 * HOUR)
    assert ledger.usage(A, 10 * HOUR) == (1, 2) and ledger.usage(A, None) == (1, 2)
    ledger.commit()
    ledger.keep_windows({10 * HOUR})
    assert cached(ledger) == {A: {10 * HOUR, None}}
    ledger.add(A, 3, 4, 11 * HOUR)
    assert ledger.usage(A, 11 * HOUR) == (3, 4)
    ledger.keep_windows({11 * HOUR})  # the period rolled
    assert cached(ledger) == {A: {11 * HOUR}}  # the lifetime was not asked since: forgotten too
    ledger.add(A, 5, 6, 11 * HOUR)
    assert ledger.usage(A, 10 * HOUR) == (9, 12) and ledger.usage(A, None) == (9, 12)


def test_windows_nobody_asked_for_since_the_last_call_are_forgotten(db):
    ledger = Ledger(db, hourly)
    for mac in (A, B):
        ledger.add(mac, 1, 1, 10 * HOUR)
        ledger.usage(mac, 10 * HOUR)
    ledger.keep_windows({10 * HOUR})
    assert cached(ledger) == {A: {10 * HOUR}, B: {10 * HOUR}}
    ledger.usage(A, 10 * HOUR)  # B passed by and left: nobody asks for it
    ledger.keep_windows({10 * HOUR})
    assert cached(ledger) == {A: {10 * HOUR}}
    assert ledger.usage(B, 10 * HOUR) == (1, 1)


def test_macs_are_the_devices_with_usage_in_a_window_in_force(db):
    ledger = Ledger(db, hourly)
    ledger.add(A, 1, 1, 9 * HOUR)
    ledger.add(B, 1, 1, 10 * HOUR)
    assert ledger.macs() == [A, B]  # not told yet: every device ever
    ledger.keep_windows({10 * HOUR, 12 * HOUR})
    assert ledger.macs() == [B]  # since the earliest start in force, pending usage included
    ledger.commit()
    ledger.fold()
    ledger.add(A, 1, 1, 12 * HOUR)
    assert ledger.macs() == [A, B]  # from the tables now, and new usage joins at once
    ledger.keep_windows({13 * HOUR})
    assert ledger.macs() == []
    ledger.keep_windows({13 * HOUR, None})  # a period that never ends: every device ever
    assert ledger.macs() == [A, B]


def test_a_corrupt_database_is_set_aside_and_a_fresh_one_started(tmp_path):
    path = tmp_path / FILENAME
    path.write_bytes(b"this is not sqlite" * 100)
    db = Database(str(tmp_path))
    assert db.schema_version == len(MIGRATIONS)
    assert any(name.startswith(FILENAME + ".corrupt-") for name in os.listdir(tmp_path))


def test_topups_stack_per_period_and_resets_remember_the_usage(db):
    adj = Adjustments(db)
    adj.topup("device:" + A, 100.0, 5, 101.0)
    adj.topup("device:" + A, 100.0, 7, 102.0)
    adj.topup("device:" + A, 200.0, 1, 201.0)
    assert adj.topups("device:" + A, 100.0) == 12
    assert adj.topups("device:" + A, None) == 0
    adj.reset("device:" + A, None, 10, 20, 50.0)
    adj.reset("device:" + A, None, 30, 40, 60.0)
    assert adj.reset_offset("device:" + A, None) == (30, 40)


def test_blocks_expire(db):
    adj = Adjustments(db)
    adj.block(A, 100.0)
    adj.block(B, None)
    assert adj.blocks(50.0) == {A: 100.0, B: None}
    assert adj.blocks(150.0) == {B: None}
    adj.unblock(B)
    assert adj.blocks(150.0) == {}


def test_each_commit_tells_the_ledger_the_starts_of_the_plan_and_every_cap_now(fleet_config):
    path = fleet_config("\nconfig defaults 'new_device'\n\toption cap '1GB'\n\toption period 'daily'\n"
                        f"\nconfig device\n\toption mac '{A}'\n\toption cap '5GB'\n\toption period 'none'\n")
    daemon = Daemon(str(path))
    core = daemon.core
    zone, now = core.zone, core.zone.to_epoch(datetime(2026, 1, 15, 12))
    core.now = lambda: now
    month, day = zone.to_epoch(datetime(2026, 1, 1)), zone.to_epoch(datetime(2026, 1, 15))
    assert starts_in_force(core.config, now, zone) == {month, day, None}
    core.ledger.usage(B, day - 86400)  # yesterday's window, asked by a page
    core.ledger.usage(B, day)
    assert daemon.commit()
    assert cached(core.ledger) == {B: {day}}
    core.db.close()
