"""Bytes routerguard writes to data_dir in a day: 50 busy devices, one commit a minute.

Runs the daemon's own commit path (``Daemon.commit``: the ledger's deltas,
the clock's mark and the kernel's counts, through the journal into SQLite)
over simulated time. The kernel's counts are those of a real nftables table
that the real enforcer keeps, in a network namespace this script makes (and
removes; it runs itself again inside it): each commit reads the table's
counters over netlink, as the daemon does. No traffic crosses the table, so
its counters are made at the counts of a router that has carried this load
for ``--uptime`` days (a table left by an earlier daemon, which the enforcer
takes over in place, as at a restart): the same names, and numbers with as
many digits as a busy week gives them. They do not move while measured. The
simulation: a
database already holding ``--history`` days, then one day of commits every
``--interval`` seconds for ``--days`` simulated days (folds come every
few hours, so one day would count one or two of them), each after every device has added a minute of usage
(download log-uniform between 10 kB and 5 MB, upload a tenth of it), hour
buckets advancing as the day does; the leak guard (``LeakGuard``) keeps each
device's top destinations meanwhile, the minute's bytes spread over the
``--names`` destinations a device talks to, and writes them with the folds.

The kernel's counts go where the daemon puts them, in RAM (a file under
/var/run, tmpfs on a router: store/volatile.py); here a tmpfs this script
mounts in a mount namespace of its own, since this machine's /run may be on
disk. Each commit's journal record is fdatasync'd (store/journal.py), as in
the daemon.

Two figures, from this process's /proc/self/io (it writes nothing else):

- handed to the filesystem (``wchar``): the bytes of every write() and
  pwrite(), less those of the RAM file (counted apart, by its size after
  each commit: it is rewritten whole). What a log-structured flash
  filesystem (JFFS2) stores, before its compression, and what routerguard
  controls.
- page cache dirtied (``write_bytes``): whole 4 KiB pages, each time one goes
  from clean to dirty, including SQLite's memory-mapped -shm file. After
  every commit the filesystem is synced, as the kernel's writeback would
  have done in the real minute between two commits (dirty pages are written
  back after 30 s), so each commit's pages count again. What a block
  filesystem (ext4, UBIFS before compression) writes, without its own
  metadata and journal.

The data_dir must be on a disk-backed filesystem (not tmpfs) for the second
figure to mean anything.

Run as root:  python3 bench/flash_writes.py [--devices 50] [--interval 60] [--history 30]
"""

from __future__ import annotations

import argparse
import ctypes
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from routerguard.daemon import Daemon
from routerguard.enforce import nft, recovery, ruleset
from routerguard.enforce.desired import build
from routerguard.enforce.enforcer import Enforcer
from routerguard_lab.netns import Namespace, kill_all, new_prefix, sweep_stale
from routerguard.leakguard import LeakGuard
from routerguard.store import volatile
from routerguard.store.db import FOLD_BYTES, JOURNAL_FILENAME

DAY = 86400
HOUR = 3600
START = 1_767_225_600  # 2026-01-01T00:00Z
DOWN_RANGE = (10_000, 5_000_000)  # bytes a device downloads in a minute, log-uniform
UP_SHARE = 0.1
MEAN_DOWN = (DOWN_RANGE[1] - DOWN_RANGE[0]) / math.log(DOWN_RANGE[1] / DOWN_RANGE[0])  # a minute's, log-uniform
ROUTER_BYTES_A_DAY = 20_000_000  # the router's own traffic (updates, DNS upstream, NTP)
NAMES_A_MINUTE = 3  # destinations a device talks to in one minute, drawn from its --names
TARGET_BYTES_PER_DAY = 2_000_000
TMPFS_MAGIC = 0x01021994
CONFIG = """config routerguard 'main'
\toption lan_if 'br-lan'
\tlist wan_if 'wan0'
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

    def enforce(self, uptime_days: float) -> None:
        """The enforcer over a table left by a daemon that ran `uptime_days` (see left_table); from now on
        every commit saves the table's counts, read over netlink."""
        enforcer = Enforcer(self.daemon.core)
        nft.apply(left_table(enforcer, uptime_days, self.random))
        enforcer.start(nft.counts())  # takes the table over in place: its counters keep their counts
        self.daemon.enforcer = enforcer
        self.daemon.meter = LastCounts(enforcer)

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


class LastCounts:
    """What a commit takes from the daemon's meter: the counts its last reading charged up to (here, no meter
    runs: the table's counts at the commit, read over netlink as a reading does)."""

    def __init__(self, enforcer: Enforcer) -> None:
        self.lock = threading.Lock()
        self._enforcer = enforcer

    @property
    def counts(self):
        return self._enforcer.counts()


def left_table(enforcer: Enforcer, uptime_days: float, rng: random.Random) -> str:
    """The enforcer's own table for the devices it knows, as `ruleset.create` makes it, with each named counter
    made at what `uptime_days` of this load count: a device's download about MEAN_DOWN a minute (half to
    one and a half times), its upload a tenth, the router's own ROUTER_BYTES_A_DAY."""
    minutes = uptime_days * DAY / 60
    lines = []
    for line in ruleset.create(build(enforcer.core, enforcer.marks, None)).splitlines():
        if line.startswith(f"add counter {ruleset.TABLE} "):
            name = line.rsplit(" ", 1)[1]
            down = int(uptime_days * ROUTER_BYTES_A_DAY if name.startswith("c_router_")
                       else minutes * MEAN_DOWN * rng.uniform(0.5, 1.5))
            counted = int(down * UP_SHARE) if name.endswith("_up") else down
            line += f" {{ packets {counted // 1000} bytes {counted} }}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def fill_history(router: Router, start: float, days: int) -> float:
    """Hourly commits and a fold: the tables as a month of use leaves them (not measured)."""
    now = start
    for _ in range(days * 24):
        router.use(now, 60)
        router.daemon.commit()
        now += HOUR
    router.ledger.fold()
    return now


def measure(devices: int, interval: int, history: int, names: int, days: int, seed: int, uptime: float) -> None:
    """Runs inside the namespace."""
    folder = tempfile.mkdtemp(prefix="rg-flash-", dir="/var/tmp")
    router = None
    try:
        router = Router(folder, devices, names, seed)
        data = os.path.join(folder, "data")
        if on_tmpfs(data):
            print(f"warning: {data} is on tmpfs: page-cache figures will read 0", file=sys.stderr)
        now = fill_history(router, START, history)
        router.enforce(uptime)
        counts = router.daemon.enforcer.counts()
        if counts is None or len(counts.bytes) != 2 * devices + 2:
            raise RuntimeError(f"the table's counters read {counts}, wanted {2 * devices + 2} of them")
        print(f"  kernel counts each commit saves: {len(counts.bytes)} counters of a table up {uptime:g} days, "
              f"{len(recovery.dumps(counts))} B of JSON, in RAM ({volatile.RUN_DIRS[0]}, tmpfs)")
        commits = days * DAY // interval
        journal = os.path.join(data, JOURNAL_FILENAME)
        fd = os.open(data, os.O_RDONLY)
        sync_fs(fd)
        before, started = io_counters(), time.monotonic()
        largest, folds, ram = 0, 0, 0
        for _ in range(commits):
            router.use(now, interval / 60)
            size = os.path.getsize(journal)
            if not router.daemon.commit():
                raise RuntimeError("a commit failed")
            ram += os.path.getsize(router.core.db.volatile_path or "")
            grown = os.path.getsize(journal) - size
            if grown < 0:
                folds += 1
            largest = max(largest, grown)
            sync_fs(fd)
            now += interval
        after, elapsed = io_counters(), time.monotonic() - started
        os.close(fd)
        after["wchar"] -= ram
        print(f"  written to RAM (the kernel's counts, tmpfs, not flash): {ram / days / 1e6:.2f} MB/day")
        report(devices, interval, history, days, commits, before, after, largest, folds, elapsed, data)
    finally:
        if router is not None:
            if router.daemon.enforcer:
                router.daemon.enforcer.close()
            router.daemon.core.db.close()
        shutil.rmtree(folder)


def in_namespace(argv: list[str]) -> int:
    """Run this script again, with `argv`, in a network namespace of its own, then remove the namespace."""
    sweep_stale()
    ns = Namespace.create(f"{new_prefix()}-flash")
    try:
        return subprocess.run(["ip", "netns", "exec", ns.name, "unshare", "--mount", "--propagation", "private",
                               sys.executable, os.path.abspath(__file__), *argv, "--inside"]).returncode
    finally:
        kill_all([ns])
        ns.delete()


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
    parser.add_argument("--uptime", type=float, default=7, help="days of this load the table's counters have counted")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.inside:
        options = (f"--devices {args.devices} --interval {args.interval} --history {args.history} --names {args.names}"
                   f" --days {args.days} --seed {args.seed} --uptime {args.uptime:g}")
        print(f"reproduce: sudo {sys.executable} bench/flash_writes.py {options}", flush=True)
        sys.exit(in_namespace(options.split()))
    run_dir = tempfile.mkdtemp(prefix="rg-flash-run-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", run_dir], check=True)  # this mount ns only
    volatile.RUN_DIRS = (run_dir,)
    try:
        measure(args.devices, args.interval, args.history, args.names, args.days, args.seed, args.uptime)
    finally:
        subprocess.run(["umount", run_dir], check=False)
        os.rmdir(run_dir)


if __name__ == "__main__":
    main()
