"""CPU time of one meter reading against `conntrack -L`, on a table of flows that carry traffic.

Builds the benchmarks' router (bench/testbed.py, no daemon) with N flows made
by real datagrams (bench/traffic.py: UDP, a quarter IPv6, each from one of
250 devices, counted both ways), then, in a long-lived process in its
namespace as in the daemon, times in turns:

- one whole reading, ``Meter.read()`` of routerguard/account/meter.py: the
  dump, the flow tracker, the neighbour table and the leases, attribution
  of every flow that moved to its device and the ledger's and destinations'
  sums. Before each, every `--every`th flow moves (a datagram up); with
  the default 1, every flow: the most a reading can have to attribute. The meter runs without the enforcer's table, so it
  finds devices by their address (neighbour table), not by the ct mark;
- the dump alone (``dump_flows``), as earlier versions of this figure did;
- ``conntrack -L -o extended > /dev/null``, which only prints the table;

and prints the median user+sys CPU of each and its ratio to the tool's.

Run as root:  python3 bench/conntrack_read.py [--flows 20000 65536] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from contextlib import contextmanager
from typing import Dict, Iterator, List, Tuple

from testbed import LAN_IF, WAN_IF, WAN_PEER, Testbed, device
from traffic import LAN_HOST, Traffic, packet_socket

MAX_SYSCTL = "/proc/sys/net/netfilter/nf_conntrack_max"
DEVICES = 250


def cpu(who: int) -> Tuple[float, float]:
    usage = resource.getrusage(who)
    return usage.ru_utime, usage.ru_stime


def spent(who: int, before: Tuple[float, float]) -> List[float]:
    """[user, sys] seconds since ``before``."""
    return [now - then for now, then in zip(cpu(who), before)]


def mac_of(ifname: str) -> str:
    with open(f"/sys/class/net/{ifname}/address") as f:
        return f.read().strip()


def measure(config: str, count: int, repeat: int, every: int) -> Dict[str, list]:
    """Runs inside the namespace: CPU seconds per reading, each way, in turns."""
    from routerguard.account.meter import Meter
    from routerguard.core import Core
    from routerguard.read.conntrack import dump_flows

    traffic = Traffic(count, DEVICES, device, mac_of(LAN_IF), mac_of(WAN_IF), packet_socket(LAN_HOST),
                      packet_socket(WAN_PEER))
    meter = Meter(Core(config))  # its first dump learns the table
    times: Dict[str, list] = {"reading": [], "ours": [], "conntrack": [], "flows": [], "charged": []}
    with open(os.devnull, "w") as null:
        for _ in range(repeat):
            traffic.upstream(every)
            before = cpu(resource.RUSAGE_SELF)
            charged = meter.read().charged
            times["reading"].append(spent(resource.RUSAGE_SELF, before))
            times["charged"].append(sum(up for up, _ in charged.values()))

            before = cpu(resource.RUSAGE_SELF)
            times["flows"].append(sum(1 for _ in dump_flows()))
            times["ours"].append(spent(resource.RUSAGE_SELF, before))

            before = cpu(resource.RUSAGE_CHILDREN)
            subprocess.run(["conntrack", "-L", "-o", "extended"], stdout=null, stderr=null, check=True)
            times["conntrack"].append(spent(resource.RUSAGE_CHILDREN, before))
    meter.close()
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


def report(count: int, times: Dict[str, list]) -> None:
    print(f"{count} flows (each dump saw {min(times['flows'])}-{max(times['flows'])}; each reading charged "
          f"{min(times['charged']):,}-{max(times['charged']):,} B up), median of {len(times['ours'])}:")
    rows = [
        ("Meter.read(): dump, tracker, attribution", "reading"),
        ("dump_flows() alone", "ours"),
        ("conntrack -L -o extended >/dev/null", "conntrack"),
    ]
    tool = median_ms(times["conntrack"])[0]
    for label, name in rows:
        total, user, system = median_ms(times[name])
        print(f"  {label:42s} {total:7.1f} ms CPU (user {user:6.1f}, sys {system:6.1f})  {total / tool:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, nargs="+", default=[20000, 65536])
    parser.add_argument("--repeat", type=int, default=7)
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
    runs = {count: bench(count, args.repeat, args.every) for count in args.flows}
    summary(runs)


def summary(runs: Dict[int, Dict[str, list]]) -> None:
    """The issue-22 targets over the whole run: a reading against the tool, and across table sizes."""
    if len(runs) < 2:
        return
    print("summary (median CPU ms; ratios to conntrack -L of the same table, in the same run):")
    readings = {}
    for count, times in runs.items():
        reading, tool = median_ms(times["reading"])[0], median_ms(times["conntrack"])[0]
        readings[count] = reading
        print(f"  {count:7d} flows: reading {reading:8.1f} ms, conntrack -L {tool:8.1f} ms, {reading / tool:5.2f}x"
              f"  (target <= 0.1x)")
    low, high = min(readings), max(readings)
    print(f"  reading at {high} flows / at {low} flows: {readings[high] / readings[low]:.1f}x  (target <= 2x)")


if __name__ == "__main__":
    main()
