"""Bytes routerguard writes to data_dir in a day: 50 busy devices, one commit a minute.

Runs the daemon's own commit path (``Daemon.commit``: the ledger's deltas and
the clock's mark, through the journal into SQLite) over simulated time: a
database already holding ``--history`` days, then one day of commits every
``--interval`` seconds for ``--days`` simulated days (folds come every
few hours, so one day would count one or two of them), each after every device has added a minute of usage
(download log-uniform between 10 kB and 5 MB, upload a tenth of it), hour
buckets advancing as the day does; the leak guard (``LeakGuard``) keeps each
device's top destinations meanwhile, the minute's bytes spread over the
``--names`` destinations a device talks to, and writes them with the folds.

Two figures, from this process's /proc/self/io (it writes nothing else):

- handed to the filesystem (``wchar``): the bytes of every write() and
  pwrite(). What a log-structured flash filesystem (JFFS2) stores, before its
  compression, and what routerguard controls.
- page cache dirtied (``write_bytes``): whole 4 KiB pages, each time one goes
  from clean to dirty, including SQLite's memory-mapped -shm file. After
  every commit the filesystem is synced, as the kernel's writeback would
  have done in the real minute between two commits (dirty pages are written
  back after 30 s), so each commit's pages count again. What a block
  filesystem (ext4, UBIFS before compression) writes, without its own
  metadata and journal.

The data_dir must be on a disk-backed filesystem (not tmpfs) for the second
figure to mean anything.

Run:  python3 bench/flash_writes.py [--devices 50] [--interval 60] [--history 30]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import random
import shutil
import sys
import tempfile
import time

from routerguard.daemon import Daemon
from routerguard.leakguard import LeakGuard
from routerguard.store.db import FOLD_BYTES, JOURNAL_FILENAME

DAY = 86400
HOUR = 3600
START = 1_767_225_600  # 2026-01-01T00:00Z
DOWN_RANGE = (10_000, 5_000_000)  # bytes a device downloads in a minute, log-uniform
UP_SHARE = 0.1
NAMES_A_MINUTE = 3  # destinations a device talks to in one minute, drawn from its --names
TARGET_BYTES_PER_DAY = 2_000_000
TMPFS_MAGIC = 0x01021994
CONFIG = """config routerguard 'main'
\toption lan_if 'lo'
\tlist wan_if 'lo'
\toption listen '127.0.0.1:8080'  # never served: the loop does not run
\toption data_dir '{data}'
\toption timezone 'UTC'
"""

_libc = ctypes.CDLL(None, use_errno=True)


def io_counters() -> dict[str, int]:
    with open("/proc/self/io") as f:
        return {key: int(value) for key, value in (line.split(": ") for line in f)}


def sync_fs(fd: int) -> None:
    """Write back every dirty page of the filesystem, as a minute of real time would."""
    if _libc.syncfs(fd) != 0:
        raise OSError(ctypes.get_errno(), "syncfs")


def on_tmpfs(path: str) -> bool:
    class StatFs(ctypes.Structure):
        _fields_ = [("f_type", ctypes.c_long), ("rest", ctypes.c_byte * 120)]

    buf = StatFs()
    return _libc.statfs(path.encode(), ctypes.byref(buf)) == 0 and buf.f_type == TMPFS_MAGIC


class Router:
    """A daemon's state without its loop, charged usage on a simulated clock."""

    def __init__(self, folder: str, devices: int, names: int, seed: int) -> None:
        config = os.path.join(folder, "routerguard.conf")
        with open(config, "w") as f:
            f.write(CONFIG.format(data=os.path.join(folder, "data")))
        self.daemon = Daemon(config)
        self.ledger = self.daemon.core.ledger
        self.macs = [f"02:00:00:00:{n // 256:02x}:{n % 256:02x}" for n in range(devices)]
        self.random = random.Random(seed)
        self.names = [bytes([198, 51, n // 256, n % 256]) for n in range(names)]
        self.core = self.daemon.core
        self.leakguard = LeakGuard(self.daemon.core)  # not started: its writes, not its capture

    def use(self, now: float, minutes: float) -> None:
        """A minute of every device: the ledger's usage and the leak guard's destinations."""
        low, high = DOWN_RANGE
        for mac in self.macs:
            down = int(minutes * low * (high / low) ** self.random.random())
            self.ledger.add(mac, int(down * UP_SHARE), down, now)
            for name in self.random.sample(self.names, NAMES_A_MINUTE):
                self.core.destinations.add(mac, name, int(down * UP_SHARE) // NAMES_A_MINUTE, down // NAMES_A_MINUTE)
        day = now // DAY * DAY
        self.core.destinations.settle(lambda mac: day)


def fill_history(router: Router, start: float, days: int) -> float:
    """Hourly commits and a fold: the tables as a month of use leaves them (not measured)."""
    now = start
    for _ in range(days * 24):
        router.use(now, 60)
        router.daemon.commit()
        now += HOUR
    router.ledger.fold()
    return now


def measure(devices: int, interval: int, history: int, names: int, days: int, seed: int) -> None:
    folder = tempfile.mkdtemp(prefix="rg-flash-", dir="/var/tmp")
    try:
        router = Router(folder, devices, names, seed)
        data = os.path.join(folder, "data")
        if on_tmpfs(data):
            print(f"warning: {data} is on tmpfs: page-cache figures will read 0", file=sys.stderr)
        now = fill_history(router, START, history)
        commits = days * DAY // interval
        journal = os.path.join(data, JOURNAL_FILENAME)
        fd = os.open(data, os.O_RDONLY)
        sync_fs(fd)
        before, started = io_counters(), time.monotonic()
        largest, folds = 0, 0
        for _ in range(commits):
            router.use(now, interval / 60)
            size = os.path.getsize(journal)
            if not router.daemon.commit():
                raise RuntimeError("a commit failed")
            grown = os.path.getsize(journal) - size
            if grown < 0:
                folds += 1
            largest = max(largest, grown)
            sync_fs(fd)
            now += interval
        after, elapsed = io_counters(), time.monotonic() - started
        os.close(fd)
        report(devices, interval, history, days, commits, before, after, largest, folds, elapsed, data)
        router.daemon.core.db.close()
    finally:
        shutil.rmtree(folder)


def report(devices: int, interval: int, history: int, days: int, commits: int, before: dict[str, int],
           after: dict[str, int], largest: int, folds: int, elapsed: float, data: str) -> None:
    handed = (after["wchar"] - before["wchar"]) / days
    dirtied = (after["write_bytes"] - before["write_bytes"]) / days
    print(f"{devices} devices, a commit every {interval} s ({commits} commits in {days} simulated days), "
          f"database already holding {history} days; {elapsed:.1f} s of real time")
    print(f"  handed to the filesystem (write syscalls): {handed / 1e6:6.2f} MB/day, "
          f"{handed * days / commits:5.0f} B per commit  (target < {TARGET_BYTES_PER_DAY / 1e6:.0f} MB/day: "
          f"{'met' if handed < TARGET_BYTES_PER_DAY else 'MISSED'})")
    print(f"  page cache dirtied (4 KiB pages, synced per commit): {dirtied / 1e6:6.2f} MB/day, "
          f"{(after['syscw'] - before['syscw']) / days:.0f} write calls a day")
    print(f"  largest journal record {largest} B; {folds} folds into SQLite (one per {FOLD_BYTES // 1024} KiB of journal), "
          "each with the leak guard's destinations")
    files = {name: os.path.getsize(os.path.join(data, name)) for name in sorted(os.listdir(data))}
    print("  files at the end: " + ", ".join(f"{name} {size / 1e3:.0f} kB" for name, size in files.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--interval", type=int, default=60, help="commit interval, seconds")
    parser.add_argument("--history", type=int, default=30, help="days of usage in the database before the measured day")
    parser.add_argument("--names", type=int, default=40, help="destinations each device talks to in a day")
    parser.add_argument("--days", type=int, default=3, help="simulated days measured (figures are per day)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"reproduce: {sys.executable} bench/flash_writes.py --devices {args.devices} --interval {args.interval} "
          f"--history {args.history} --names {args.names} --days {args.days} --seed {args.seed}")
    measure(args.devices, args.interval, args.history, args.names, args.days, args.seed)


if __name__ == "__main__":
    main()
