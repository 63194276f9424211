"""CPU time of one meter reading against `conntrack -L`, flows that carry traffic, routerguard's table in place.

Builds the benchmarks' router (bench/testbed.py, no daemon) with N flows made
by real datagrams (bench/traffic.py: UDP, a quarter IPv6, each from one of
250 devices, counted both ways), then, in a long-lived process in its
namespace, sets the meter up as the daemon does (routerguard/daemon.py): an
``Enforcer`` and a ``Meter`` on it, ``enforcer.start(meter.start_counts)``
and ``enforcer.sync()``, which registers the 250 devices (neighbour entries
and leases) and makes routerguard's table with a chain and two counters
each. The flows are older than the table, so their next packet up takes the
device's ct mark (dev_by_mac) and from then on each packet the router
forwards counts in its device's chain. The sampler's thread is stopped: its
work is timed here, in turns with the rest, in this thread. Before each turn
every `--every`th flow moves (a datagram up, forwarded by the router); with
the default 1, every flow. Then, each by its thread's CPU time
(RUSAGE_THREAD) or its children's (the tool):

- one sample of the Sampler (meter.py's ``Sampler._run``, one pass: the
  whole table's dump into the flow tracker, and the destinations of what
  moved), handed to the reading as the sampler hands it;
- one reading, ``Meter.read()``: the table's counters (O(devices)), the
  newcomers' flows if their counters moved (a dump the kernel filters by
  ct mark; no flow is a newcomer's here: every device is registered), the
  neighbour table and the leases, the ledger, and the sample's
  destinations; and, after more datagrams, the same reading with the
  meter's "newcomers idle" flag set (``_newcomers_idle``), as when the
  newcomers' counters stood still at the last reading: no filtered dump;
- ``enforcer.sync()``, which the daemon's loop runs after each reading;
- the dump alone (``dump_flows``), as earlier versions of this figure did;
- ``conntrack -L -o extended > /dev/null``, which only prints the table;

and prints the median of each and its ratio to the tool's, and what each
reading charged against the bytes the datagrams carried (IP lengths).

The sampler runs at its own cadence: as often as SAMPLE_SHARE of a core
allows, at least every poll, at most every SAMPLE_MAX_SECONDS. So per
reading at a poll of --poll seconds it adds (sample cost) x poll / interval,
interval = min(max(poll, cost / SAMPLE_SHARE), SAMPLE_MAX_SECONDS); the
summary shows the reading alone and with that share.

Run as root:  python3 bench/conntrack_read.py [--flows 1000 16384 65536 250000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Dict, Iterator, List, NamedTuple, Tuple

from testbed import LAN_IF, WAN_IF, WAN_PEER, Testbed, device
from traffic import LAN_HOST, Traffic, packet_socket

MAX_SYSCTL = "/proc/sys/net/netfilter/nf_conntrack_max"
DEVICES = 250
ETHERNET_HEADER = 14
SETTLE = 0.5  # seconds after the datagrams, for the veths' queues to drain before anything is timed
POLL = 2.0  # the daemon's default poll interval


def cpu(who: int) -> Tuple[float, float]:
    usage = resource.getrusage(who)
    return usage.ru_utime, usage.ru_stime


def spent(who: int, before: Tuple[float, float]) -> List[float]:
    """[user, sys] seconds since ``before``."""
    return [now - then for now, then in zip(cpu(who), before)]


def mac_of(ifname: str) -> str:
    with open(f"/sys/class/net/{ifname}/address") as f:
        return f.read().strip()


def sample(meter, first: bool) -> list:
    """One pass of the Sampler's loop (routerguard/account/meter.py, Sampler._run), in this thread."""
    from routerguard.read import conntrack

    with meter.events.dumping():
        meter.flows.dump(conntrack.dump_flows(), account=not first)
    return meter.destinations(meter.events.take(meter.flows)) if not first else []


def counting(meter, name: str) -> list[int]:
    """Count the calls of one of the meter's methods: [calls so far]."""
    calls = [0]
    method = getattr(meter, name)

    def counted(*args, **kwargs):
        calls[0] += 1
        return method(*args, **kwargs)

    setattr(meter, name, counted)
    return calls


def hand_over(meter, found: list) -> None:
    """What the sampler's thread does with a sample: the next reading takes it (Sampler.take)."""
    with meter.sampler._lock:
        meter.sampler._ready += found


def measure(config: str, count: int, repeat: int, every: int) -> Dict[str, list]:
    """Runs inside the namespace: CPU seconds of each, in turns."""
    from routerguard.account.meter import Meter
    from routerguard.core import Core
    from routerguard.enforce.enforcer import Enforcer
    from routerguard.read.conntrack import dump_flows

    traffic = Traffic(count, DEVICES, device, mac_of(LAN_IF), mac_of(WAN_IF), packet_socket(LAN_HOST),
                      packet_socket(WAN_PEER))
    core = Core(config)
    enforcer = Enforcer(core)
    meter = Meter(core, enforcer.marks.mac_of_mark, enforcer)  # its directory: the neighbours and the leases
    enforcer.start(meter.start_counts)  # routerguard's table, with a chain and counters per device
    enforcer.sync()
    meter.sampler.stop()  # timed below, in this thread
    if not meter.sampler.samples:
        sample(meter, first=True)  # learns the table, as the sampler's first pass does
    expected = sum(len(flow.up) - ETHERNET_HEADER for flow in traffic.flows[::every])
    times: Dict[str, list] = {"reading": [], "sample": [], "sync": [], "ours": [], "conntrack": [], "flows": [],
                              "charged": [], "expected": [], "destinations": [],
                              "reading_between": [], "reading_idle": [], "charged_between": [], "newcomer_dumps": [],
                              "newcomer_dumps_reading_between": [], "newcomer_dumps_reading_idle": [],
                              "devices": [len(enforcer.lines()) - 1]}  # the router's line is one of them
    traffic.upstream(every)  # every flow takes its device's mark
    time.sleep(SETTLE)
    hand_over(meter, sample(meter, first=False))
    meter.read()  # the first: from the table's making
    was_idle = meter._newcomers_idle  # as the daemon's meter has it from now on
    newcomer_dumps = counting(meter, "_newcomer_flows")
    with open(os.devnull, "w") as null:
        for _ in range(repeat):
            traffic.upstream(every)
            time.sleep(SETTLE)
            before = cpu(resource.RUSAGE_THREAD)
            found = sample(meter, first=False)
            times["sample"].append(spent(resource.RUSAGE_THREAD, before))
            times["destinations"].append(len(found))
            hand_over(meter, found)

            dumps = newcomer_dumps[0]
            before = cpu(resource.RUSAGE_THREAD)
            charged = meter.read().charged
            times["reading"].append(spent(resource.RUSAGE_THREAD, before))
            times["charged"].append(sum(up for up, _ in charged.values()))
            times["expected"].append(expected)
            times["newcomer_dumps"].append(newcomer_dumps[0] - dumps)

            before = cpu(resource.RUSAGE_THREAD)
            enforcer.sync()
            times["sync"].append(spent(resource.RUSAGE_THREAD, before))

            before = cpu(resource.RUSAGE_THREAD)
            times["flows"].append(sum(1 for _ in dump_flows()))
            times["ours"].append(spent(resource.RUSAGE_THREAD, before))

            before = cpu(resource.RUSAGE_CHILDREN)
            subprocess.run(["conntrack", "-L", "-o", "extended"], stdout=null, stderr=null, check=True)
            times["conntrack"].append(spent(resource.RUSAGE_CHILDREN, before))

            # Readings between two samples (most of them: a sample comes every few seconds to a minute): the
            # newcomers' filtered dump as the meter has it now, then as when their counters stood still.
            for name, idle in (("reading_between", was_idle), ("reading_idle", True)):
                traffic.upstream(every)
                time.sleep(SETTLE)
                meter._newcomers_idle, dumps = idle, newcomer_dumps[0]
                before = cpu(resource.RUSAGE_THREAD)
                charged = meter.read().charged
                times[name].append(spent(resource.RUSAGE_THREAD, before))
                times["charged_between"].append(sum(up for up, _ in charged.values()))
                times[f"newcomer_dumps_{name}"].append(newcomer_dumps[0] - dumps)
            meter._newcomers_idle = was_idle

    meter.close()
    enforcer.close()
    traffic.close()
    return times


@contextmanager
def table_room(count: int) -> Iterator[None]:
    """nf_conntrack_max is global (a namespace cannot raise it): raise it for the
    run if it is too low, and put it back."""
    with open(MAX_SYSCTL) as limit:
        before = int(limit.read())
    if before < count:
        with open(MAX_SYSCTL, "w") as limit:
            limit.write(str(count))
    try:
        yield
    finally:
        if before < count:
            with open(MAX_SYSCTL, "w") as limit:
                limit.write(str(before))


def bench(count: int, repeat: int, every: int) -> Dict[str, list]:
    with table_room(count), Testbed(DEVICES, count, history_days=0, traffic=True, daemon=False) as bed:
        assert bed.ns is not None
        out = bed.ns.exec([sys.executable, os.path.abspath(__file__), "--measure", str(repeat), "--config", bed.config,
                           "--flows", str(count), "--every", str(every)], timeout=None).stdout
    times = json.loads(out)
    report(count, times)
    return times


def median_ms(samples: List[List[float]]) -> Tuple[float, float, float]:
    """Median total, and the user and sys parts of that same sample, in ms."""
    user, system = sorted(samples, key=sum)[len(samples) // 2]
    return (user + system) * 1000, user * 1000, system * 1000


def sampler_interval(cost: float, poll: float = POLL) -> float:
    """Seconds between two samples of the Sampler that cost `cost` seconds each (meter.py's cadence)."""
    from routerguard.account.meter import SAMPLE_MAX_SECONDS, SAMPLE_SHARE

    return min(max(poll, cost / SAMPLE_SHARE), SAMPLE_MAX_SECONDS)


class PerPoll(NamedTuple):
    """What metering costs per poll, on average, from one table size's medians (ms)."""

    tool: float  # conntrack -L
    sample: float  # one pass of the sampler
    take: float  # what the reading that takes a sample's destinations spends on them (over a reading between)
    interval: float  # s between two samples
    between: float  # a reading between samples, as the meter runs
    idle: float  # the same with the newcomers' counters idle

    @property
    def share(self) -> float:
        """The sample and its destinations, spread over the polls between two samples."""
        return (self.sample + self.take) * POLL / self.interval


def per_poll(times: Dict[str, list]) -> PerPoll:
    sample = median_ms(times["sample"])[0]
    between = median_ms(times["reading_between"])[0]
    return PerPoll(median_ms(times["conntrack"])[0], sample, max(0.0, median_ms(times["reading"])[0] - between),
                   sampler_interval(sample / 1000), between, median_ms(times["reading_idle"])[0])


def report(count: int, times: Dict[str, list]) -> None:
    charged = times["charged"] + times["charged_between"]
    exact = sum(c == times["expected"][0] for c in charged)
    print(f"{count} flows, {times['devices'][0]} devices registered (each dump saw {min(times['flows'])}-"
          f"{max(times['flows'])} flows; each reading charged {min(charged):,}-{max(charged):,} B up for "
          f"{times['expected'][0]:,} B sent: {exact} of {len(charged)} exact; newcomers' filtered dumps a reading: "
          f"{max(times['newcomer_dumps_reading_between'])} as the meter runs, "
          f"{max(times['newcomer_dumps_reading_idle'])} with their counters idle; each sample found "
          f"{min(times['destinations'])}-{max(times['destinations'])} destinations), median of {len(times['ours'])}:")
    rows = [
        ("Meter.read(), taking a sample's destinations", "reading"),
        ("Meter.read() between samples", "reading_between"),
        ("Meter.read() between, newcomers' counters idle", "reading_idle"),
        ("one sample: whole dump, tracker, destinations", "sample"),
        ("enforcer.sync() (after each reading)", "sync"),
        ("dump_flows() alone", "ours"),
        ("conntrack -L -o extended >/dev/null", "conntrack"),
    ]
    tool = median_ms(times["conntrack"])[0]
    for label, name in rows:
        total, user, system = median_ms(times[name])
        print(f"  {label:48s} {total:8.1f} ms CPU (user {user:7.1f}, sys {system:6.1f})  {total / tool:.3f}x")
    cost = per_poll(times)
    label = f"a poll's average at {POLL:g} s (sample every {cost.interval:.1f} s)"
    print(f"  {label:48s} {cost.between + cost.share:8.1f} ms CPU{'':27s}{(cost.between + cost.share) / tool:.3f}x",
          flush=True)


def summary(runs: Dict[int, Dict[str, list]]) -> None:
    """The issue-22 targets over the whole run: a reading against the tool, and across table sizes."""
    print(f"summary (median CPU ms; ratios to conntrack -L of the same table, in the same run; poll {POLL:g} s; "
          "'+ sampler': plus the sample and its destinations spread over the polls between two samples):")
    costs = {count: per_poll(times) for count, times in runs.items()}
    for count, c in costs.items():
        print(f"  {count:7d} flows: conntrack -L {c.tool:7.1f}; a sample {c.sample:6.0f} + {c.take:5.0f} to take it, "
              f"every {c.interval:4.1f} s = {c.share:5.1f} a poll; "
              f"reading {c.between:6.1f} = {c.between / c.tool:.3f}x, "
              f"+ sampler {c.between + c.share:6.1f} = {(c.between + c.share) / c.tool:.3f}x; newcomers idle "
              f"{c.idle:6.1f} = {c.idle / c.tool:.3f}x, + sampler {c.idle + c.share:6.1f} = "
              f"{(c.idle + c.share) / c.tool:.3f}x  (target <= 0.1x at 65k)")
    if len(runs) < 2:
        return
    low, high = min(runs), max(runs)
    for label, field in (("reading", "between"), ("reading, newcomers idle", "idle")):
        ratio = getattr(costs[high], field) / getattr(costs[low], field)
        print(f"  {label} at {high} flows / at {low} flows: {ratio:.2f}x  (target <= 2x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, nargs="+", default=[1000, 16384, 65536, 250000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--every", type=int, default=1, help="move every Nth flow before each reading")
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        json.dump(measure(args.config, args.flows[0], args.measure, args.every), sys.stdout)
        return
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    flows = " ".join(map(str, args.flows))
    print(f"reproduce: cd {repo} && sudo {sys.executable} bench/conntrack_read.py --flows {flows} "
          f"--repeat {args.repeat} --every {args.every}")
    print("(user/sys split is sampled by the kernel's tick; the total is the figure to compare)")
    print(f"machine load average at the start: {load_average()}", flush=True)
    runs = {count: bench(count, args.repeat, args.every) for count in args.flows}
    summary(runs)
    print(f"machine load average at the end: {load_average()}")


def load_average() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


if __name__ == "__main__":
    main()
