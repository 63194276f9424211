"""Usage between two writes of the database: an append-only journal in data_dir.

SQLite writes whole pages. Fifty devices' usage committed every minute
dirtied a dozen 4 KiB pages a minute: 19 to 330 MB a day handed to the
router's flash (bench/flash_writes.py). A ledger commit appends one record
of what changed instead, under a kilobyte; the database takes the whole
journal in, in one transaction, when it has grown to FOLD_BYTES, at start
and at a clean stop (see store.db).

Layout: a header (magic and 8 random bytes naming this journal, so the
database can tell a journal it already took in), then records: u32 length,
u32 CRC-32, payload. Every write goes at the end of the last good record, so
a write cut short by a full or read-only disk is overwritten by the next
one; a record torn by a power cut fails its CRC and ends the journal.

Durable by design, not by the kernel's writeback: each record is on the
medium (fdatasync) before append() returns, so a power cut loses no commit
that returned, and the next reading counts on the last one. It costs no
more flash than writeback would have (the same page, written once a commit
instead of 30 s later: bench/flash_writes.py). A record carries only the
meta values that changed since the journal's last record that had them (a
fold applies the records in order, so the sum is the same).
"""

from __future__ import annotations

import logging
import os
import struct
import time
import zlib
from typing import NamedTuple

log = logging.getLogger("routerguard.store")

MAGIC = b"RGJ1"
ID_BYTES = 8
HEADER_SIZE = len(MAGIC) + ID_BYTES
RECORD_HEADER = struct.Struct("<II")  # payload length, CRC-32 of the payload
MAC_TAG = 0  # a key byte 0 is followed by a MAC in 6 bytes; n > 0 by n bytes of UTF-8 (e.g. "router")
MAC_BYTES = 6
MAX_KEY_BYTES = 255

Delta = tuple[str, int, int, int]  # mac, hour, up, down


class Record(NamedTuple):
    rows: list[Delta]
    meta: dict[str, str]


class Journal:
    """One journal file; not thread-safe (the database's lock guards it)."""

    def __init__(self, path: str) -> None:
        self.path = path
        created = not os.path.exists(path)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if created:
            sync_directory(os.path.dirname(os.path.abspath(path)))  # the name too survives a power cut
        self.name, self._end = self._read_header()
        self._meta: dict[str, str] = {}  # the latest value of each meta key this journal's records hold
        self.read()  # finds the end of the last good record: later writes go there

    @property
    def size(self) -> int:
        """Bytes of header and good records."""
        return self._end

    def _read_header(self) -> tuple[str, int]:
        header = os.pread(self._fd, HEADER_SIZE, 0)
        if not header:
            return os.urandom(ID_BYTES).hex(), 0
        if len(header) == HEADER_SIZE and header.startswith(MAGIC):
            return header[len(MAGIC):].hex(), os.fstat(self._fd).st_size
        aside = f"{self.path}.corrupt-{int(time.time())}"
        log.error("the usage journal %s has no valid header: moved it to %s and started a new one", self.path, aside)
        os.replace(self.path, aside)
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return os.urandom(ID_BYTES).hex(), 0

    def read(self) -> list[Record]:
        """Every good record, oldest first; the first damaged one ends the journal."""
        data = os.pread(self._fd, max(self._end - HEADER_SIZE, 0), HEADER_SIZE)
        records, offset = [], 0
        while offset < len(data):
            try:
                length, crc = RECORD_HEADER.unpack_from(data, offset)
                payload = data[offset + RECORD_HEADER.size: offset + RECORD_HEADER.size + length]
                if len(payload) != length or zlib.crc32(payload) != crc:
                    raise ValueError("length or CRC mismatch")
                records.append(decode(payload))
            except (ValueError, struct.error) as e:
                log.error("the usage journal %s is damaged at byte %d (%s): ignoring the rest of it",
                          self.path, HEADER_SIZE + offset, e)
                break
            offset += RECORD_HEADER.size + length
        if data:
            self._end = HEADER_SIZE + offset
        self._meta = {key: value for record in records for key, value in record.meta.items()}
        return records

    def append(self, rows: list[Delta], meta: dict[str, str]) -> None:
        """Write one record after the last good one, on the medium when this returns (fdatasync).

        Of `meta`, only the values that changed since this journal last
        held them are written. OSError (disk full, read-only, a failed
        sync) leaves the journal as if nothing had been written.
        """
        changed = {key: value for key, value in meta.items() if self._meta.get(key) != value}
        payload = encode(rows, changed)
        record = RECORD_HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        if self._end == 0:
            record = MAGIC + bytes.fromhex(self.name) + record
        written = os.pwrite(self._fd, record, self._end)
        if written != len(record):
            raise OSError(f"short write to {self.path}: {written} of {len(record)} bytes")
        os.fdatasync(self._fd)
        self._end += written
        self._meta.update(changed)

    def holds(self, meta: dict[str, str]) -> bool:
        """Whether the journal's records already hold these meta values (a record of them would carry none)."""
        return all(self._meta.get(key) == value for key, value in meta.items())

    def restart(self) -> None:
        """Empty the journal under a new name: the database holds everything it had."""
        os.ftruncate(self._fd, 0)
        self.name, self._end, self._meta = os.urandom(ID_BYTES).hex(), 0, {}

    def close(self) -> None:
        os.close(self._fd)


def sync_directory(path: str) -> None:
    """fsync a directory: a file created, renamed or removed in it stays so across a power cut."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def encode(rows: list[Delta], meta: dict[str, str]) -> bytes:
    """meta count, (key, value)...; hour count, (hour, row count, (mac, up, down)...)..."""
    by_hour: dict[int, list[Delta]] = {}
    for row in rows:
        by_hour.setdefault(row[1], []).append(row)
    out = bytearray(_varint(len(meta)))
    for key, value in meta.items():
        out += _text(key) + _text(value)
    out += _varint(len(by_hour))
    for hour, group in by_hour.items():
        out += _varint(hour) + _varint(len(group))
        for mac, _, up, down in group:
            out += _key(mac) + _varint(up) + _varint(down)
    return bytes(out)


def decode(payload: bytes) -> Record:
    """The inverse of encode; ValueError for anything it could not have written."""
    reader = _Reader(payload)
    meta = {}
    for _ in range(reader.varint()):
        key = reader.text()
        meta[key] = reader.text()
    rows = []
    for _ in range(reader.varint()):
        hour = reader.varint()
        for _ in range(reader.varint()):
            rows.append((reader.key(), hour, reader.varint(), reader.varint()))
    if not reader.done():
        raise ValueError("trailing bytes after the record")
    return Record(rows, meta)


def _varint(n: int) -> bytes:
    """LEB128: a minute's bytes of one device fit in 3 or 4 bytes."""
    if n < 0:
        raise ValueError(f"negative count {n}")
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if not n:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def _text(value: str) -> bytes:
    data = value.encode()
    return _varint(len(data)) + data


def _key(mac: str) -> bytes:
    """A MAC in 6 bytes; anything else (the router's own line) as text."""
    try:
        packed = bytes.fromhex(mac.replace(":", ""))
    except ValueError:
        packed = b""
    if _mac_text(packed) == mac:
        return bytes([MAC_TAG]) + packed
    data = mac.encode()
    if not 0 < len(data) <= MAX_KEY_BYTES:
        raise ValueError(f"usage key {mac!r} is not 1-{MAX_KEY_BYTES} bytes")
    return bytes([len(data)]) + data


def _mac_text(packed: bytes) -> str:
    return ":".join(f"{b:02x}" for b in packed) if len(packed) == MAC_BYTES else ""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def take(self, count: int) -> bytes:
        if self.offset + count > len(self.data):
            raise ValueError("record ends early")
        chunk = self.data[self.offset:self.offset + count]
        self.offset += count
        return chunk

    def varint(self) -> int:
        value = shift = 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7

    def text(self) -> str:
        return self.take(self.varint()).decode()

    def key(self) -> str:
        tag = self.take(1)[0]
        if tag == MAC_TAG:
            return _mac_text(self.take(MAC_BYTES))
        return self.take(tag).decode()

    def done(self) -> bool:
        return self.offset == len(self.data)
