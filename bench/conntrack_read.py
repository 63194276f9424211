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

- one reading, ``Meter.read()``: the table's counters (O(devices)), the
  newcomers' flows if their counters moved (a dump the kernel filters by
  ct mark: not here, every device is registered), the neighbour table and
  the leases, the ledger;
- the newcomers' filtered dump alone, which a reading adds while some MAC
  not registered yet moves bytes (the kernel walks its whole table for it);
- one sample of the Sampler (meter.py's ``Sampler.sample``, which its
  thread runs right after a reading when due: the whole table's dump into
  the flow tracker, and the destinations of what moved);
- ``enforcer.sync()``, which the daemon's loop runs after each reading;
- the dump alone (``dump_flows``), as earlier versions of this figure did;
- ``conntrack -L -o extended > /dev/null``, which only prints the table;

and prints the median of each and its ratio to the tool's, and what each
reading charged against the bytes the datagrams carried (IP lengths).

The sampler runs at its own cadence: as often as SAMPLE_SHARE of a core
allows, right after a reading, at most SAMPLE_MAX_SECONDS apart. So per
reading at a 2 s poll it adds (sample cost) x poll / interval, interval =
max(poll, min(cost / SAMPLE_SHARE, SAMPLE_MAX_SECONDS)); the summary shows
the reading alone and with that share.

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


def counting(meter, name: str) -> list[int]:
    """Count the calls of one of the meter's methods: [calls so far]."""
    calls = [0]
    method = getattr(meter, name)

    def counted(*args, **kwargs):
        calls[0] += 1
        return method(*args, **kwargs)

    setattr(meter, name, counted)
    return calls


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
        meter.sampler.sample(account=False)  # learns the table, as the sampler's first pass does
    expected = sum(len(flow.up) - ETHERNET_HEADER for flow in traffic.flows[::every])
    times: Dict[str, list] = {"reading": [], "sample": [], "sync": [], "ours": [], "conntrack": [], "flows": [],
                              "newcomers": [], "charged": [], "expected": [], "newcomer_dumps": [],
                              "devices": [len(enforcer.lines()) - 1]}  # the router's line is one of them
    traffic.upstream(every)  # every flow takes its device's mark
    time.sleep(SETTLE)
    meter.sampler.sample()
    meter.read()  # the first: from the table's making
    newcomer_dumps = counting(meter, "_newcomer_flows")
    with open(os.devnull, "w") as null:
        for _ in range(repeat):
            traffic.upstream(every)
            time.sleep(SETTLE)
            dumps = newcomer_dumps[0]
            before = cpu(resource.RUSAGE_THREAD)
            charged = meter.read().charged
            times["reading"].append(spent(resource.RUSAGE_THREAD, before))
            times["charged"].append(sum(up for up, _ in charged.values()))
            times["expected"].append(expected)
            times["newcomer_dumps"].append(newcomer_dumps[0] - dumps)

            before = cpu(resource.RUSAGE_THREAD)
            meter.sampler.sample()
            times["sample"].append(spent(resource.RUSAGE_THREAD, before))

            before = cpu(resource.RUSAGE_THREAD)
            enforcer.sync()
            times["sync"].append(spent(resource.RUSAGE_THREAD, before))

            before = cpu(resource.RUSAGE_THREAD)
            sum(1 for _ in meter._newcomer_flows())  # what a reading adds while a newcomer moves bytes
            times["newcomers"].append(spent(resource.RUSAGE_THREAD, before))

            before = cpu(resource.RUSAGE_THREAD)
            times["flows"].append(sum(1 for _ in dump_flows()))
            times["ours"].append(spent(resource.RUSAGE_THREAD, before))

            before = cpu(resource.RUSAGE_CHILDREN)
            subprocess.run(["conntrack", "-L", "-o", "extended"], stdout=null, stderr=null, check=True)
            times["conntrack"].append(spent(resource.RUSAGE_CHILDREN, before))

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
    """Seconds between two samples of the Sampler that cost `cost` seconds each (meter.py's cadence: right after a
    reading once cost / SAMPLE_SHARE has passed, at most SAMPLE_MAX_SECONDS apart)."""
    from routerguard.account.meter import SAMPLE_MAX_SECONDS, SAMPLE_SHARE

    return max(poll, min(cost / SAMPLE_SHARE, SAMPLE_MAX_SECONDS))


class PerPoll(NamedTuple):
    """What metering costs per poll, on average, from one table size's medians (ms)."""

    tool: float  # conntrack -L
    reading: float  # one reading, as the meter runs
    newcomers: float  # the newcomers' filtered dump, which a reading adds while a newcomer moves bytes
    sample: float  # one sample of the sampler (its own thread)
    interval: float  # s between two samples

    @property
    def share(self) -> float:
        """The sample spread over the polls between two samples."""
        return self.sample * POLL / self.interval


def per_poll(times: Dict[str, list]) -> PerPoll:
    sample = median_ms(times["sample"])[0]
    return PerPoll(median_ms(times["conntrack"])[0], median_ms(times["reading"])[0], median_ms(times["newcomers"])[0],
                   sample, sampler_interval(sample / 1000))


def report(count: int, times: Dict[str, list]) -> None:
    exact = sum(c == times["expected"][0] for c in times["charged"])
    print(f"{count} flows, {times['devices'][0]} devices registered (each dump saw {min(times['flows'])}-"
          f"{max(times['flows'])} flows; each reading charged {min(times['charged']):,}-{max(times['charged']):,} B "
          f"up for {times['expected'][0]:,} B sent: {exact} of {len(times['charged'])} exact; newcomers' filtered "
          f"dumps a reading: {max(times['newcomer_dumps'])}), median of {len(times['ours'])}:")
    rows = [
        ("Meter.read() (counters; no newcomer moved)", "reading"),
        ("+ the newcomers' filtered dump, if one moved", "newcomers"),
        ("one sample (its thread): dump, tracker, dests", "sample"),
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
    print(f"  {label:48s} {cost.reading + cost.share:8.1f} ms CPU{'':27s}{(cost.reading + cost.share) / tool:.3f}x",
          flush=True)


def summary(runs: Dict[int, Dict[str, list]]) -> None:
    """The issue-22 targets over the whole run: a reading against the tool, and across table sizes."""
    print(f"summary (median CPU ms; ratios to conntrack -L of the same table, in the same run; poll {POLL:g} s; "
          "'+ sampler': plus a sample spread over the polls between two samples):")
    costs = {count: per_poll(times) for count, times in runs.items()}
    for count, c in costs.items():
        print(f"  {count:7d} flows: conntrack -L {c.tool:7.1f}; reading {c.reading:6.1f} = {c.reading / c.tool:.3f}x "
              f"(target <= 0.1x at 65k), with a newcomer moving {c.reading + c.newcomers:6.1f} = "
              f"{(c.reading + c.newcomers) / c.tool:.3f}x; a sample {c.sample:6.0f} every {c.interval:4.1f} s = "
              f"{c.share:5.1f} a poll, + sampler {c.reading + c.share:6.1f} = {(c.reading + c.share) / c.tool:.3f}x")
    if len(runs) < 2:
        return
    low, high = min(runs), max(runs)
    print(f"  reading at {high} flows / at {low} flows: {costs[high].reading / costs[low].reading:.2f}x  (target <= 2x)")


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
