"""Resident memory of the daemon with 250 devices and 65,536 conntrack flows.

Builds the benchmarks' router (bench/testbed.py: devices as neighbour
entries and leases, a month of history in the database, the table's flows
made by real datagrams, one each way, so each counts bytes both ways as a
router's do; UDP only, a quarter IPv6), runs the installed daemon in it and prints VmRSS from
/proc/PID/status over time, in four phases:

1. metering only, for --seconds;
2. an admin browsing meanwhile: one request every --page-every seconds,
   in turn the dashboard (/admin), the device list (/api/v1/devices),
   /metrics and the hourly history, for --seconds;
3. one login: the password check (scrypt) alone;
4. one export of the whole history by the hour (/api/v1/export, CSV: a
   month of 250 devices, 9.4 MB), which the daemon sends as it makes it.

Each phase starts with the peak (VmHWM) reset through /proc/PID/clear_refs,
so the peak printed is that phase's own. With --malloc-arena-max the daemon
runs with glibc's MALLOC_ARENA_MAX set: glibc gives each thread (the page's
four waitress threads) a heap of its own that keeps what it freed; musl
(OpenWrt) has no such arenas.

Run as root:  python3 bench/rss.py [--devices 250] [--flows 65536] [--seconds 60]
"""

from __future__ import annotations

import sys
import time

from testbed import Testbed, arguments

TARGET_MIB = 60e6 / 2**20  # issue 9's "under 60 MB": 57.2 MiB
SAMPLE_EVERY = 5.0
PAGES = ["/admin", "/api/v1/devices", "/metrics", "/api/v1/history?step=hour"]
RESET_PEAK = "5"  # clear_refs: reset VmHWM to the current RSS (Linux >= 4.0)


def mib(kib: int) -> float:
    return kib / 1024


def reset_peak(bed: Testbed) -> None:
    assert bed.proc is not None
    with open(f"/proc/{bed.proc.pid}/clear_refs", "w") as f:
        f.write(RESET_PEAK)


def phase(bed: Testbed, name: str, seconds: float, page_every: float | None) -> dict[str, float]:
    """Sample the daemon for `seconds`, browsing meanwhile if `page_every`; returns the phase's figures."""
    headers = {"/admin": bed.session()} if page_every else {}
    api = bed.bearer()
    reset_peak(bed)
    started = time.monotonic()
    readings0 = bed.health()["readings"]
    next_sample, next_page, pages = started, started, 0
    largest = 0
    while time.monotonic() - started < seconds:
        now = time.monotonic()
        if page_every and now >= next_page:
            path = PAGES[pages % len(PAGES)]
            status, _ = bed.get(path, headers.get(path, api))
            assert status == 200, f"{path}: HTTP {status}"
            pages += 1
            next_page += page_every
        if now >= next_sample:
            rss = bed.rss_kib()
            largest = max(largest, rss["VmRSS"])
            print(f"  {name:9s} t={now - started:5.1f} s  VmRSS {mib(rss['VmRSS']):5.1f} MiB  "
                  f"peak {mib(rss['VmHWM']):5.1f} MiB  readings {bed.health()['readings'] - readings0}", flush=True)
            next_sample += SAMPLE_EVERY
        wake = min(next_sample, next_page) if page_every else next_sample
        time.sleep(max(0.0, wake - time.monotonic()))  # the next tick of the schedule
    rss = bed.rss_kib()
    return {"rss": mib(rss["VmRSS"]), "largest": mib(max(largest, rss["VmRSS"])), "peak": mib(rss["VmHWM"]),
            "pages": pages}


def login_peak(bed: Testbed) -> float:
    reset_peak(bed)
    before = bed.rss_kib()["VmRSS"]
    bed.session()
    return mib(bed.rss_kib()["VmHWM"] - before)


def export_peak(bed: Testbed) -> tuple[float, int]:
    """The daemon's RSS peak over its own while it sends the whole history by the hour, and the bytes sent."""
    reset_peak(bed)
    before = bed.rss_kib()["VmRSS"]
    status, body = bed.get("/api/v1/export?step=hour&format=csv", bed.bearer())
    assert status == 200, f"export: HTTP {status}"
    return mib(bed.rss_kib()["VmHWM"] - before), len(body)


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--page-every", type=float, default=2.0)
    parser.add_argument("--malloc-arena-max", type=int, help="glibc's MALLOC_ARENA_MAX for the daemon")
    args = parser.parse_args()
    arenas = f" --malloc-arena-max {args.malloc_arena_max}" if args.malloc_arena_max else ""
    print(f"reproduce: sudo {sys.executable} bench/rss.py --devices {args.devices} --flows {args.flows} "
          f"--seconds {args.seconds:g} --page-every {args.page_every:g}{arenas}")
    env = {"MALLOC_ARENA_MAX": str(args.malloc_arena_max)} if args.malloc_arena_max else None
    with Testbed(args.devices, args.flows, daemon_env=env, traffic=True) as bed:
        print(f"{args.devices} devices, {bed.table_size()} flows in conntrack, daemon pid {bed.proc.pid}")
        metering = phase(bed, "metering", args.seconds, None)
        browsing = phase(bed, "browsing", args.seconds, args.page_every)
        login = login_peak(bed)
        export, exported = export_peak(bed)
    print(f"metering only:  VmRSS {metering['rss']:.1f} MiB at the end, peak {metering['peak']:.1f} MiB")
    print(f"with {browsing['pages']} page loads: VmRSS {browsing['rss']:.1f} MiB at the end, "
          f"peak {browsing['peak']:.1f} MiB")
    print(f"one login (scrypt password check): +{login:.1f} MiB for its duration")
    print(f"one export of the history by the hour ({exported / 1e6:.1f} MB of CSV): +{export:.1f} MiB at its peak")
    worst = max(metering["peak"], browsing["peak"])
    print(f"target < 60 MB = {TARGET_MIB:.1f} MiB (metering and browsing peaks): "
          f"{'met' if worst < TARGET_MIB else 'MISSED'}")


if __name__ == "__main__":
    main()
