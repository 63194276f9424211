"""The daemon on a router-class budget: a quarter of one core (a CFS quota), a big table, people browsing.

A stand-in for a travel router's CPU (ARM or MIPS, which runs CPython
several times slower than this machine): the benchmarks' router
(bench/testbed.py: devices as neighbour entries and leases, a month of
history, the conntrack table filled with `conntrack -R`) with the installed
daemon moved, once it serves, into a cpu cgroup of this benchmark's own
whose CFS quota is --cpu of one core (cgroup v2 `cpu.max`, or v1
`cpu.cfs_quota_us`/`cpu.cfs_period_us`, whichever this machine mounts). The
cgroup is removed at the end, also on failure.

Then, for --seconds each:

1. quiet: metering only;
2. browsing: --people simulated admins, each as the dashboard's browser does:
   load /admin, then every 3 s (live.js's INTERVAL) fetch /api/v1/plan and
   /api/v1/devices with the page's cookie, reloading /admin every --reload
   seconds.

Printed per phase: meter readings a minute (the daemon's /healthz count;
asked: 60 / poll interval), the daemon's CPU (utime+stime from
/proc/PID/stat) as a share of one core and per reading, how often the quota
throttled it (the cgroup's cpu.stat), its VmRSS, and for the browsing phase
the latency of each page (p50/p95/max, send to last byte; `--trace`: each
request's, as it comes).

The machine's other load counts: under the quota the daemon gets at most
its share, but a busy machine can give it less. CPU per reading is the
steadier figure.

`--cpu 0`: no cgroup, no quota: the daemon's share of a core at its poll,
as it would take on an idle router (to compare with another tool's share at
its own interval). `--people 0` skips the browsing phase. `--traffic`: the
flows are made by real datagrams, one each way (bench/traffic.py), so they
count bytes, instead of `conntrack -R` (idle flows, counters 0); with
`--move-every N` the benchmark sends, every poll interval, a datagram up on
every Nth flow, so the meter has bytes to charge and the sampler
destinations to find (the sending is the benchmark's CPU, not the daemon's).

Run as root:  python3 bench/router_class.py [--devices 100] [--flows 65536] [--cpu 0.25] [--seconds 60]
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from typing import Iterator

from testbed import Testbed, arguments

CGROUP_ROOT = "/sys/fs/cgroup"
PERIOD_US = 100_000
LIVE_INTERVAL = 3.0  # web/static/live.js
TICKS = os.sysconf("SC_CLK_TCK")


class Quota:
    """A cpu cgroup of our own with a CFS quota; ``add(pid)`` moves a process (all its threads) into it."""

    def __init__(self, share: float) -> None:
        self.share = share
        name = f"routerguard-bench-{os.getpid()}"
        if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")):  # v2: one unified hierarchy
            self.version, self.path = 2, os.path.join(CGROUP_ROOT, name)
        else:
            self.version, self.path = 1, os.path.join(CGROUP_ROOT, "cpu", name)

    def __enter__(self) -> Quota:
        if self.version == 2:
            with open(os.path.join(CGROUP_ROOT, "cgroup.subtree_control"), "w") as f:
                f.write("+cpu")
        os.mkdir(self.path)
        quota = int(self.share * PERIOD_US)
        if self.version == 2:
            self._write("cpu.max", f"{quota} {PERIOD_US}")
        else:
            self._write("cpu.cfs_period_us", str(PERIOD_US))
            self._write("cpu.cfs_quota_us", str(quota))
        return self

    def _write(self, name: str, value: str) -> None:
        with open(os.path.join(self.path, name), "w") as f:
            f.write(value)

    def add(self, pid: int) -> None:
        self._write("cgroup.procs", str(pid))

    def stat(self) -> dict[str, int]:
        with open(os.path.join(self.path, "cpu.stat")) as f:
            return {key: int(value) for key, value in (line.split() for line in f)}

    def __exit__(self, *exc: object) -> None:
        """The processes left (none once the testbed stopped the daemon) go back to the root group; rmdir."""
        parent = os.path.dirname(self.path) if self.version == 1 else CGROUP_ROOT
        deadline = time.monotonic() + 10
        while True:
            with open(os.path.join(self.path, "cgroup.procs")) as f:
                left = f.read().split()
            for pid in left:
                try:
                    with open(os.path.join(parent, "cgroup.procs"), "w") as f:
                        f.write(pid)
                except OSError:
                    pass  # it has just exited
            try:
                os.rmdir(self.path)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of the process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Browsing:
    """`people` admins, each loading the dashboard and polling its live figures as the page does."""

    def __init__(self, bed: Testbed, people: int, reload: float, trace: bool = False) -> None:
        self.bed, self.people, self.reload, self.trace = bed, people, reload, trace
        self.latencies: dict[str, list[float]] = {"/admin": [], "/api/v1/plan": [], "/api/v1/devices": []}
        self.errors = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _person(self, headers: dict[str, str]) -> None:
        conn = self.bed.connection()
        next_reload = 0.0
        try:
            while not self._stop.is_set():
                paths = ["/api/v1/plan", "/api/v1/devices"]
                if time.monotonic() >= next_reload:
                    paths.insert(0, "/admin")
                    next_reload = time.monotonic() + self.reload
                for path in paths:
                    started = time.perf_counter()
                    try:
                        status, _ = self.bed.get(path, headers, conn)
                    except OSError:
                        conn.close()
                        conn = self.bed.connection()
                        status = 0
                    took = time.perf_counter() - started
                    with self._lock:
                        if status == 200:
                            self.latencies[path].append(took)
                            if self.trace:
                                print(f"    {time.monotonic():.2f} {path} {took * 1000:.1f} ms", flush=True)
                        else:
                            self.errors += 1
                self._stop.wait(LIVE_INTERVAL)
        finally:
            conn.close()

    @contextmanager
    def running(self) -> Iterator[None]:
        sessions = [self.bed.session() for _ in range(self.people)]
        for n, headers in enumerate(sessions):
            thread = threading.Thread(target=self._person, args=(headers,), name=f"person-{n}")
            thread.start()
            self._threads.append(thread)
            time.sleep(LIVE_INTERVAL / self.people)  # people do not click in step
        try:
            yield
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join()


class Moving:
    """Every `interval` s, a datagram up on every `every`th flow of the testbed's traffic (in a thread of ours)."""

    def __init__(self, bed: Testbed, every: int, interval: float) -> None:
        self.bed, self.every, self.interval = bed, every, interval
        self.rounds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="moving", daemon=True)

    def _run(self) -> None:
        assert self.bed.traffic is not None
        while not self._stop.is_set():
            started = time.monotonic()
            self.bed.traffic.upstream(self.every)
            self.rounds += 1
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def __enter__(self) -> Moving:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def phase(bed: Testbed, quota: Quota | None, name: str, seconds: float) -> dict[str, float]:
    assert bed.proc is not None
    pid = bed.proc.pid
    readings0, cpu0, started = bed.health()["readings"], cpu_seconds(pid), time.monotonic()
    stat0 = quota.stat() if quota else {}
    rss: list[int] = []
    while time.monotonic() - started < seconds:
        time.sleep(min(5.0, max(0.0, seconds - (time.monotonic() - started))))
        rss.append(bed.rss_kib()["VmRSS"])
    elapsed = time.monotonic() - started
    readings = bed.health()["readings"] - readings0
    cpu = cpu_seconds(pid) - cpu0
    stat = quota.stat() if quota else {}
    throttled = stat.get("nr_throttled", 0) - stat0.get("nr_throttled", 0)
    periods = stat.get("nr_periods", 0) - stat0.get("nr_periods", 0)
    figures = {"readings_per_minute": readings * 60 / elapsed, "core_share": cpu / elapsed,
               "cpu_per_reading_ms": cpu * 1000 / readings if readings else float("nan"),
               "rss_mib": max(rss) / 1024 if rss else float("nan")}
    print(f"  {name:9s} {figures['readings_per_minute']:5.1f} readings a minute (asked {60 / bed.poll_interval:.0f}), "
          f"daemon {figures['core_share']:.3f} of a core, {figures['cpu_per_reading_ms']:.0f} ms CPU a reading "
          f"(page work included), " + (f"throttled in {throttled} of {periods} periods, " if quota else "no quota, ")
          + f"{elapsed:.0f} s, VmRSS up to {figures['rss_mib']:.1f} MiB", flush=True)
    return figures


def percentile(samples: list[float], p: int) -> float:
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]


def main() -> None:
    parser = arguments(__doc__)
    parser.set_defaults(devices=100)
    parser.add_argument("--cpu", type=float, default=0.25, help="the quota, as a share of one core (0: no quota)")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--people", type=int, default=3)
    parser.add_argument("--reload", type=float, default=15.0, help="seconds between a person's dashboard loads")
    parser.add_argument("--poll-interval", type=float, default=2.0)
    parser.add_argument("--malloc-arena-max", type=int, help="glibc's MALLOC_ARENA_MAX for the daemon (the systemd "
                        "unit sets 2; OpenWrt's musl has no arenas)")
    parser.add_argument("--traffic", action="store_true", help="flows made by datagrams (counting bytes), not "
                        "`conntrack -R`")
    parser.add_argument("--move-every", type=int, default=0, help="with --traffic: every poll, a datagram up on "
                        "every Nth flow (0: none)")
    parser.add_argument("--trace", action="store_true", help="print each page request's latency as it comes")
    args = parser.parse_args()
    if args.move_every and not args.traffic:
        parser.error("--move-every needs --traffic")
    env = {"MALLOC_ARENA_MAX": str(args.malloc_arena_max)} if args.malloc_arena_max else None
    print(f"reproduce: sudo {sys.executable} bench/router_class.py --devices {args.devices} --flows {args.flows} "
          f"--cpu {args.cpu:g} --seconds {args.seconds:g} --people {args.people} --reload {args.reload:g}"
          + (f" --malloc-arena-max {args.malloc_arena_max}" if args.malloc_arena_max else "")
          + (" --traffic" if args.traffic else "") + (f" --move-every {args.move_every}" if args.move_every else "")
          + (f" --poll-interval {args.poll_interval:g}" if args.poll_interval != 2.0 else ""))
    with open("/proc/loadavg") as f:
        print(f"machine load average at the start: {' '.join(f.read().split()[:3])}")
    with (Quota(args.cpu) if args.cpu else nullcontext()) as quota, \
            Testbed(args.devices, args.flows, poll_interval=args.poll_interval, daemon_env=env,
                    traffic=args.traffic) as bed:
        assert bed.proc is not None
        if quota:
            quota.add(bed.proc.pid)
        where = (f"in {quota.path} (cgroup v{quota.version}, {args.cpu:g} of one core)" if quota else
                 "with no quota")
        print(f"{args.devices} devices, {bed.table_size()} flows in conntrack "
              f"({'made by datagrams' if args.traffic else 'conntrack -R, idle'}"
              f"{f', every {args.move_every}th moved each poll' if args.move_every else ''}); "
              f"daemon pid {bed.proc.pid} {where}", flush=True)
        moving = Moving(bed, args.move_every, args.poll_interval) if args.move_every else nullcontext()
        with moving:
            time.sleep(2 * args.poll_interval)  # the reading under way when it was moved ends
            phase(bed, quota, "quiet", args.seconds)
            if args.people:
                browsing = Browsing(bed, args.people, args.reload, args.trace)
                with browsing.running():
                    phase(bed, quota, "browsing", args.seconds)
                for path, latencies in browsing.latencies.items():
                    if latencies:
                        p50, p95 = (percentile(latencies, p) * 1000 for p in (50, 95))
                        print(f"  {path:16s} {len(latencies):4d} requests  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  "
                              f"max {max(latencies) * 1000:7.1f} ms")
                print(f"  errors: {browsing.errors}")
        if args.move_every:
            print(f"  the traffic moved every {args.move_every}th flow {moving.rounds} times")
    with open("/proc/loadavg") as f:
        print(f"machine load average at the end: {' '.join(f.read().split()[:3])}")


if __name__ == "__main__":
    main()
