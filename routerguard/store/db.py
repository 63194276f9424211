"""Usage on disk: SQLite in data_dir, schema versioned, fed through a journal.

A router's flash wears out, so the meter loop never writes per reading, and
the ledger's commit every commit_interval appends a few hundred bytes to the
journal (store.journal) instead of rewriting SQLite pages. The database
takes the journal in, in one transaction, once it reaches FOLD_BYTES (half a
day of fifty busy devices), at start and at a clean stop; the meta value
JOURNAL_KEY names the journal taken in last, so a crash between that
transaction and emptying the journal never counts it twice.

What survives what: each commit's record is on the medium (fdatasync)
before the commit returns, so neither kill -9 nor a power cut loses a
commit that returned: a cut loses at most the usage read since the last
one, one commit interval. A fold is a SQLite transaction in WAL mode with
synchronous=FULL (the WAL is fsynced at every commit: a power-cut test
kept every one of 3,000 commits, NORMAL lost those since the last
checkpoint), fsynced before the journal is emptied, and so is every other
write here (a block, a top-up, a reset: `execute`, `batch`, `put_meta`).
Every journal record carries the commit's number (COMMIT_KEY), which ties
it to the values that live only as long as the kernel's state
(`stage_volatile`, store/volatile.py: kept in RAM, not on flash). A file
that SQLite finds corrupt is set aside (never deleted) and a fresh one
started, so a corrupt database never stops the guard; a busy, unreadable
or read-only one is an error, not corruption.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections import defaultdict
from typing import Callable, Iterable

from routerguard.store.journal import Delta, Journal, Record
from routerguard.store.volatile import Volatile

log = logging.getLogger("routerguard.store")

FILENAME = "usage.db"
JOURNAL_FILENAME = "usage.journal"
JOURNAL_KEY = "journal_taken_in"  # meta: the name of the last journal the tables hold
COMMIT_KEY = "commit"  # meta: the number of the last commit journaled (each record carries its own)
# About 13 hours of 50 devices at one commit a minute. A fold rewrites the
# new usage rows and every device's top destinations (the leak guard's fold
# writer), about 400 kB with the checkpoint: two a day keep usage and
# destinations under 2 MB a day (bench/flash_writes.py), and the journal
# stays quick to read at start.
FOLD_BYTES = 512 * 1024
# SQLite's own page cache, KiB (its default is 2,000, about 1.8 MiB of the
# daemon's RSS once filled). The kernel's page cache holds the file anyway,
# and what is read most (a device's usage since its period began) is summed
# once a period and kept by the ledger.
PAGE_CACHE_KIB = 256

# Each entry moves the schema from version i to i+1; never edit a released one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE device (
        mac TEXT PRIMARY KEY,
        mark INTEGER UNIQUE NOT NULL,
        hostname TEXT,
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL
    );
    CREATE TABLE usage (
        mac TEXT NOT NULL,
        hour INTEGER NOT NULL,
        up INTEGER NOT NULL,
        down INTEGER NOT NULL,
        PRIMARY KEY (mac, hour)
    ) WITHOUT ROWID;
    CREATE INDEX usage_hour ON usage (hour);
    CREATE TABLE lifetime (mac TEXT PRIMARY KEY, up INTEGER NOT NULL, down INTEGER NOT NULL);
    CREATE TABLE adjustment (
        id INTEGER PRIMARY KEY,
        scope TEXT NOT NULL,
        period_start REAL,
        kind TEXT NOT NULL CHECK (kind IN ('topup', 'reset')),
        bytes INTEGER NOT NULL,
        up INTEGER NOT NULL DEFAULT 0,
        down INTEGER NOT NULL DEFAULT 0,
        time REAL NOT NULL
    );
    CREATE INDEX adjustment_scope ON adjustment (scope, period_start);
    CREATE TABLE block (mac TEXT PRIMARY KEY, until REAL);
    CREATE TABLE alert (
        id INTEGER PRIMARY KEY,
        time REAL NOT NULL,
        kind TEXT NOT NULL,
        mac TEXT,
        message TEXT NOT NULL
    );
    """,
    # leak guard: bytes per device, usage window and destination name; which alert was sent for what
    """
    CREATE TABLE destination (
        mac TEXT NOT NULL,
        start REAL NOT NULL,
        name TEXT NOT NULL,
        up INTEGER NOT NULL,
        down INTEGER NOT NULL,
        PRIMARY KEY (mac, start, name)
    ) WITHOUT ROWID;
    CREATE TABLE alert_sent (
        scope TEXT NOT NULL,
        period REAL NOT NULL,
        level INTEGER NOT NULL,
        PRIMARY KEY (scope, period, level)
    ) WITHOUT ROWID;
    CREATE INDEX alert_time ON alert (time);
    """,
    # Hour first: the rows a fold writes are the newest hours, side by side in
    # a few pages, where (mac, hour) spread them over a page per device.
    """
    CREATE TABLE usage_by_hour (
        hour INTEGER NOT NULL,
        mac TEXT NOT NULL,
        up INTEGER NOT NULL,
        down INTEGER NOT NULL,
        PRIMARY KEY (hour, mac)
    ) WITHOUT ROWID;
    INSERT INTO usage_by_hour (hour, mac, up, down) SELECT hour, mac, up, down FROM usage;
    DROP TABLE usage;
    ALTER TABLE usage_by_hour RENAME TO usage;
    """,
    # What an alert is about, so that the page can say it in the reader's language.
    """
    ALTER TABLE alert ADD COLUMN params TEXT;
    """,
    # The plan's count set to what the carrier says: an offset per scope and period, the latest one in force.
    """
    CREATE TABLE calibration (
        id INTEGER PRIMARY KEY,
        scope TEXT NOT NULL,
        period_start REAL,
        bytes INTEGER NOT NULL,
        said TEXT NOT NULL CHECK (said IN ('used', 'left')),
        said_bytes INTEGER NOT NULL,
        time REAL NOT NULL
    );
    """,
]

Row = tuple  # rows are plain tuples: the callers know their columns
# Writes its rows into a fold's transaction; returns what to run once it committed.
FoldWriter = Callable[[sqlite3.Connection], Callable[[], None]]


META_UPSERT = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"


class Database:
    """One connection, serialised by a lock: the meter loop writes, the page reads."""

    def __init__(self, data_dir: str) -> None:
        os.makedirs(data_dir, mode=0o700, exist_ok=True)
        self.path = os.path.join(data_dir, FILENAME)
        self._lock = threading.RLock()
        self._conn = self._open()
        self.fold_writers: list[FoldWriter] = []
        self._journal = Journal(os.path.join(data_dir, JOURNAL_FILENAME))
        self._volatile = Volatile(data_dir)
        self._staged: dict[str, str] = {}  # volatile values for the next commit
        try:
            self.fold()
        except (OSError, sqlite3.OperationalError) as e:
            log.error("could not write the usage journal into %s (%s): it stays in %s, and its usage is not shown "
                      "until a restart that can", self.path, e, self._journal.path)
        # The last commit on the medium: the tables' after the fold, or the journal's when that failed.
        records = self._journal.read()
        merged = {key: value for record in records for key, value in record.meta.items()}
        self._commit = int(merged.get(COMMIT_KEY) or self.get_meta(COMMIT_KEY) or 0)

    def _open(self) -> sqlite3.Connection:
        try:
            conn = self._connect()
            if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
            self._migrate(conn)
            return conn
        except sqlite3.OperationalError:
            raise  # locked, unreadable, read-only, full: the file may be fine
        except sqlite3.DatabaseError as e:  # SQLITE_CORRUPT, SQLITE_NOTADB
            aside = f"{self.path}.corrupt-{int(time.time())}"
            log.error("the database %s is unreadable (%s): moved it to %s and started a new one", self.path, e, aside)
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(self.path + suffix):
                    os.replace(self.path + suffix, aside + suffix)
            conn = self._connect()
            self._migrate(conn)
            return conn

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # only folds and admin actions write here
        conn.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise RuntimeError(f"{self.path} has schema {version}, newer than this routerguard knows ({len(MIGRATIONS)}): upgrade routerguard")
        for target in range(version + 1, len(MIGRATIONS) + 1):
            with _transaction(conn):
                conn.executescript("BEGIN;" + MIGRATIONS[target - 1] + f"PRAGMA user_version = {target};COMMIT;")

    @property
    def schema_version(self) -> int:
        return self.query("PRAGMA user_version")[0][0]

    def query(self, sql: str, params: Iterable = ()) -> list[Row]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    def execute(self, sql: str, params: Iterable = ()) -> int:
        """One statement in its own transaction; returns the new row id."""
        with self._lock:
            return self._conn.execute(sql, tuple(params)).lastrowid or 0

    def batch(self) -> "_Batch":
        """`with db.batch() as tx:` runs several statements in one transaction."""
        return _Batch(self)

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """A meta value as of the last fold (what a ledger commit journals shows up after one)."""
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else default

    def put_meta(self, key: str, value: str) -> None:
        """A meta value written at once, not through the journal: rare state that cannot wait for a commit.

        A value journaled earlier and folded later overwrites it.
        """
        self.execute(META_UPSERT, (key, value))

    def stage_volatile(self, key: str, value: str) -> None:
        """A value that lives as long as the kernel's state (store/volatile.py), saved with the next commit."""
        with self._lock:
            self._staged[key] = value

    def put_volatile(self, key: str, value: str) -> None:
        """A volatile value saved at once, as of the last commit on the medium."""
        with self._lock:
            self._volatile.save(self._commit, {key: value})

    def get_volatile(self, key: str) -> str | None:
        """The volatile value saved with the last commit on the medium; None when there is none (after a reboot)."""
        with self._lock:
            return self._volatile.get(self._commit, key)

    @property
    def volatile_path(self) -> str | None:
        """Where the volatile values are, once some were saved (bench/flash_writes.py tells them from flash)."""
        return self._volatile.path

    def append(self, rows: list[Delta], meta: dict[str, str]) -> bool:
        """Journal one commit of usage deltas and meta values, on the medium when this returns; True when a fold
        is due. The staged volatile values are saved first, under the commit's number.

        Raises OSError (disk full, read-only) having written nothing.
        """
        with self._lock:
            if not rows and not self._staged and self._journal.holds(meta):
                return False  # nothing new (a command's commit right after another): no record, no flash
            commit = self._commit + 1
            if self._staged:
                self._volatile.save(commit, self._staged)
            self._journal.append(rows, {**meta, COMMIT_KEY: str(commit)})
            self._commit, self._staged = commit, {}
            return self._journal.size >= FOLD_BYTES

    def fold(self) -> None:
        """Add the journal's sums to the tables in one durable transaction, then empty it.

        The `fold_writers` write in the same transaction: state that, like
        usage, is kept in memory and must not cost SQLite pages every commit.
        """
        with self._lock:
            records = self._journal.read()
            take_in = bool(records) and self.get_meta(JOURNAL_KEY) != self._journal.name
            if take_in or self.fold_writers:
                with self.batch() as tx:
                    if take_in:
                        self._take_in(tx, records)
                    written = [write(tx) for write in self.fold_writers]
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL would hold a fold's pages for weeks
                for done in written:
                    done()
            if self._journal.size:
                self._journal.restart()

    def _take_in(self, tx: sqlite3.Connection, records: list[Record]) -> None:
        usage: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
        lifetime: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        meta: dict[str, str] = {}
        for record in records:
            meta.update(record.meta)
            for mac, hour, up, down in record.rows:
                for sums in (usage[hour, mac], lifetime[mac]):
                    sums[0] += up
                    sums[1] += down
        meta[JOURNAL_KEY] = self._journal.name
        tx.executemany(
            "INSERT INTO usage (hour, mac, up, down) VALUES (?, ?, ?, ?) ON CONFLICT (hour, mac) "
            "DO UPDATE SET up = up + excluded.up, down = down + excluded.down",
            [(hour, mac, up, down) for (hour, mac), (up, down) in usage.items()])
        tx.executemany(
            "INSERT INTO lifetime (mac, up, down) VALUES (?, ?, ?) "
            "ON CONFLICT (mac) DO UPDATE SET up = up + excluded.up, down = down + excluded.down",
            [(mac, up, down) for mac, (up, down) in lifetime.items()])
        tx.executemany(META_UPSERT, meta.items())

    def close(self) -> None:
        """Fold what the journal holds, so a clean stop leaves everything in the tables."""
        with self._lock:
            try:
                self.fold()
            except (OSError, sqlite3.Error) as e:
                log.error("could not write the usage journal into %s at stop (%s): it stays in %s for the next start",
                          self.path, e, self._journal.path)
            finally:
                self._journal.close()
                self._conn.close()


class _Batch:
    def __init__(self, db: Database) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db._lock.acquire()
        self.db._conn.execute("BEGIN IMMEDIATE")
        return self.db._conn

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.db._conn.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.db._lock.release()


class _transaction:
    """Rolls back a failed migration script (executescript commits on its own otherwise)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type and self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


def set_meta(meta: dict[str, str], key: str, value: str) -> None:
    """For a ledger commit's `extra`: the value is journaled with the usage and in the meta table after the next fold."""
    meta[key] = value

