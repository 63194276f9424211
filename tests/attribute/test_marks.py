"""Device ids for the ct mark: kept while a flow may carry them, given back after a long absence."""

from __future__ import annotations

from routerguard.attribute.marks import RELEASE_AFTER, SEEN_WRITE_EVERY, Marks
from routerguard.store.db import Database

A, B, C = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c"
DAY = 86400


def test_an_id_stays_while_its_device_is_present_or_lately_gone(tmp_path) -> None:
    marks = Marks(Database(str(tmp_path)))
    first = marks.id_for(A, 0)
    assert marks.keep([A], 10 * DAY) == [] and marks.id_for(A, 10 * DAY) == first
    assert marks.keep([], 10 * DAY + RELEASE_AFTER - 1) == []
    assert marks.id_for(A, 10 * DAY + RELEASE_AFTER - 1) == first


def test_the_id_of_a_device_gone_longer_than_any_flow_is_given_back_and_reused(tmp_path) -> None:
    db = Database(str(tmp_path))
    marks = Marks(db)
    a, b = marks.id_for(A, 0), marks.id_for(B, 0)
    assert marks.keep([B], RELEASE_AFTER) == [A]
    assert A not in marks.macs() and marks.mac_of_mark(a << 16) is None
    assert marks.id_for(C, RELEASE_AFTER) == a  # the lowest free id again
    assert sorted(Marks(db).ids()) == sorted([(B, b), (C, a)])  # as stored


def test_last_seen_reaches_the_disk_at_most_daily_and_survives_a_restart(tmp_path) -> None:
    db = Database(str(tmp_path))
    marks = Marks(db)
    marks.id_for(A, 0)
    marks.keep([A], SEEN_WRITE_EVERY - 1)
    assert db.query("SELECT last_seen FROM device WHERE mac = ?", (A,)) == [(0,)]  # not yet worth a write
    marks.keep([A], SEEN_WRITE_EVERY)
    assert db.query("SELECT last_seen FROM device WHERE mac = ?", (A,)) == [(SEEN_WRITE_EVERY,)]
    restarted = Marks(db)
    assert restarted.keep([], SEEN_WRITE_EVERY + RELEASE_AFTER - 1) == []  # counted from the stored sighting
    assert restarted.keep([], SEEN_WRITE_EVERY + RELEASE_AFTER) == [A]
