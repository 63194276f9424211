"""Usage on disk: SQLite in data_dir, schema versioned, written in batches.

A router's flash wears out, so the meter loop never writes per reading: the
ledger hands over a batch every commit_interval and this module writes it
in one transaction. WAL with synchronous=NORMAL keeps the file consistent
after kill -9 (committed batches survive; a power cut can lose the last one).
A file that SQLite cannot read is set aside (never deleted) and a fresh one
started, so a corrupt database never stops the guard.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from typing import Iterable

log = logging.getLogger("routerguard.store")

FILENAME = "usage.db"

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
]

Row = tuple  # rows are plain tuples: the callers know their columns


class Database:
    """One connection, serialised by a lock: the meter loop writes, the page reads."""

    def __init__(self, data_dir: str) -> None:
        os.makedirs(data_dir, mode=0o700, exist_ok=True)
        self.path = os.path.join(data_dir, FILENAME)
        self._lock = threading.RLock()
        self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            conn = self._connect()
            if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
            self._migrate(conn)
            return conn
        except sqlite3.DatabaseError as e:
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
        conn.execute("PRAGMA synchronous=NORMAL")
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
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else default

    def close(self) -> None:
        with self._lock:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
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


def set_meta(tx: sqlite3.Connection, key: str, value: str) -> None:
    tx.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

