"""5,000 new flows a second for a minute against a running daemon with 65,536 flows.

Builds the benchmarks' router (bench/testbed.py: 250 devices, 65,536 flows,
a month of history) and measures a quiet stretch first. Then, every second,
`conntrack -R` inserts --rate new flows from the devices' addresses, each
timing out --lifetime seconds later: --rate flows are born and, once the
kernel's garbage collector reaps them, --rate DESTROY events a second reach
the daemon's event socket, while the meter dumps the whole table every poll
interval. (`conntrack -D` would dump the table for every flow it deletes.)

Printed over time: the table's size, the daemon's VmRSS, its meter readings,
the conntrack events it reports lost (/healthz `events_lost`), the
"resynchronising" lines in its log, and the events the kernel dropped on the
daemon's DESTROY socket (the Drops column of /proc/net/netlink: the kernel's
own count, not the daemon's). Passes when the daemon reported a loss exactly
when the kernel dropped events, and a reading (the resync) followed the last
one; when the readings kept their quiet pace, and memory stayed flat over the
second half (once the table and the ended flows kept for 10 s are at their size):
the trend of a least-squares line through its samples, not their spread.

Run as root:  python3 bench/load.py [--rate 5000] [--seconds 60] [--lifetime 2]
"""

from __future__ import annotations

import statistics
import sys
import time

from testbed import Testbed, arguments, flow_line

REPORT_EVERY = 5
QUIET_SECONDS = 30
LOAD_SPORTS = 20000  # source ports of the load's flows start here, clear of the table's own
PACE_TOLERANCE = 0.8  # readings a minute under load, against the quiet pace
FLAT_MIB = 2.0  # memory growth allowed over the second half of the load, by its trend (not its ups and downs)
RESYNC = "resynchronising"
NETLINK_NETFILTER = 12
DESTROY_GROUP = 1 << (3 - 1)  # NFNLGRP_CONNTRACK_DESTROY, as a bit of /proc/net/netlink's Groups


def readings_a_minute(bed: Testbed, seconds: float) -> float:
    """The meter's pace over `seconds` of whatever is going on."""
    before, started = bed.health()["readings"], time.monotonic()
    time.sleep(seconds)  # the quiet stretch itself
    return (bed.health()["readings"] - before) * 60 / (time.monotonic() - started)


def kernel_drops(bed: Testbed) -> int:
    """Events the kernel could not queue on a DESTROY listener's socket in the router (the daemon's is the only one)."""
    assert bed.ns is not None
    rows = [line.split() for line in bed.ns.exec(["cat", "/proc/net/netlink"]).stdout.splitlines()[1:]]
    return sum(int(row[8]) for row in rows if int(row[1]) == NETLINK_NETFILTER and int(row[3], 16) & DESTROY_GROUP)


def status(bed: Testbed) -> dict[str, float]:
    health = bed.health()
    return {"rss": bed.rss_kib()["VmRSS"] / 1024, "readings": health["readings"], "lost": health["events_lost"],
            "resyncs": bed.log().count(RESYNC), "drops": kernel_drops(bed), "table": bed.table_size()}


def after_two_readings(bed: Testbed) -> dict[str, float]:
    """The status once the daemon has read twice more: a loss the kernel counted by now, it has seen and resynced."""
    target = bed.health()["readings"] + 2
    while bed.health()["readings"] < target:
        time.sleep(0.2)
    return status(bed)


def load(bed: Testbed, rate: int, seconds: int, lifetime: int) -> tuple[list[dict[str, float]], float]:
    """Run the churn; returns the status every REPORT_EVERY s and the flows a second really achieved."""
    started = time.monotonic()
    samples = [{"t": 0.0, **status(bed)}]
    second = 0
    while second < seconds:
        first = bed.flows + second * rate
        bed.conntrack(flow_line(n, bed.devices, LOAD_SPORTS, lifetime) for n in range(first, first + rate))
        second += 1
        now = time.monotonic() - started
        if second % REPORT_EVERY == 0:
            samples.append({"t": now, **status(bed)})
            s = samples[-1]
            print(f"  t={now:5.1f} s  table {s['table']:6.0f}  VmRSS {s['rss']:5.1f} MiB  "
                  f"readings {s['readings'] - samples[0]['readings']:3.0f}  events lost {s['lost']:.0f}  "
                  f"resyncs {s['resyncs']:.0f}  kernel drops {s['drops']:.0f}", flush=True)
        time.sleep(max(0.0, second - (time.monotonic() - started)))  # the next second's batch
    return samples, second * rate / (time.monotonic() - started)


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--rate", type=int, default=5000, help="new flows (and DESTROY events) a second")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--lifetime", type=int, default=2, help="seconds a load flow lives (its conntrack timeout)")
    args = parser.parse_args()
    print(f"reproduce: sudo {sys.executable} bench/load.py --devices {args.devices} --flows {args.flows} "
          f"--rate {args.rate} --seconds {args.seconds} --lifetime {args.lifetime}")
    with Testbed(args.devices, args.flows) as bed:
        print(f"{args.devices} devices, {bed.table_size()} flows; quiet for {QUIET_SECONDS} s first")
        quiet = readings_a_minute(bed, QUIET_SECONDS)
        print(f"quiet: {quiet:.1f} readings a minute, VmRSS {bed.rss_kib()['VmRSS'] / 1024:.1f} MiB")
        samples, achieved = load(bed, args.rate, args.seconds, args.lifetime)
        final = after_two_readings(bed)
    first, last = samples[0], samples[-1]
    pace = (last["readings"] - first["readings"]) * 60 / (last["t"] - first["t"])
    rss = [s["rss"] for s in samples]
    settled = [s for s in samples if s["t"] >= last["t"] / 2]  # the table and the retained flows at their size
    times, sizes = [s["t"] for s in settled], [s["rss"] for s in settled]
    trend = statistics.linear_regression(times, sizes).slope * (times[-1] - times[0])  # MiB over the second half
    lost, resyncs, drops = (final[k] - first[k] for k in ("lost", "resyncs", "drops"))
    print(f"load: {achieved:.0f} new flows and DESTROY events a second achieved (asked {args.rate})")
    verdict = ("no event lost" if drops == lost == 0 else
               "every loss reported and resynchronised" if drops and lost and resyncs == lost else
               "LOSS WITHOUT RESYNC" if drops else "RESYNC WITHOUT A LOSS")
    print(f"  kernel dropped {drops:.0f} events; the daemon reported {lost:.0f} losses and logged {resyncs:.0f} "
          f"resyncs: {verdict}")
    print(f"  readings {pace:.1f} a minute under load, {quiet:.1f} quiet: "
          f"{'kept pace' if pace >= quiet * PACE_TOLERANCE else 'SLOWED'}")
    print(f"  VmRSS {rss[0]:.1f} MiB quiet, peak {max(rss):.1f} MiB (+{max(rss) - rss[0]:.1f}); over the second half "
          f"{min(sizes):.1f} to {max(sizes):.1f} MiB, trend {trend:+.1f} MiB: {'flat' if trend < FLAT_MIB else 'GREW'}")


if __name__ == "__main__":
    main()
