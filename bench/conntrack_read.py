"""CPU time of one full conntrack reading: our decoder against `conntrack -L`.

Builds a table of N flows (a mix of IPv4 and IPv6, TCP and UDP, some marked)
in a fresh network namespace, then times, in turns, one full dump by
``routerguard.read.conntrack.dump_flows`` (in a long-lived process, as in the
daemon) and one run of ``conntrack -L -o extended > /dev/null``, and prints the
median user+sys CPU of each and their ratio. Also times the FlowTracker's
update on the same dump (the table is idle: `conntrack -I` cannot set
counters, so the tracker takes its path for flows that did not move).

Run as root:  python3 bench/conntrack_read.py [--flows 20000 65536] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from typing import Dict, Iterator, List, Tuple

SYSCTLS = {"net.netfilter.nf_conntrack_acct": "1"}
MAX_SYSCTL = "/proc/sys/net/netfilter/nf_conntrack_max"
TIMEOUT = 3600


def run(*args: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(args, check=True, capture_output=True, text=True)


def in_ns(ns: str, *args: str) -> "subprocess.CompletedProcess[str]":
    return run("ip", "netns", "exec", ns, *args)


def flow_lines(count: int) -> str:
    """conntrack -R input: one `-I` per flow; every fourth flow IPv6, every third UDP."""
    lines = []
    for n in range(count):
        port = 1024 + n % 60000
        host = n // 60000 + 2
        udp = n % 3 == 0
        proto = "-p udp" if udp else "-p tcp --state ESTABLISHED"
        mark = f" --mark {n % 7}" if n % 2 else ""
        if n % 4 == 0:
            addr = f"-s fd00::{host:x} -d fd00:ffff::{n % 5000 + 1:x}"
        else:
            addr = f"-s 192.168.{host}.{n % 250 + 2} -d 198.18.{n % 200}.{n % 250 + 1}"
        lines.append(f"-I {addr} {proto} --sport {port} --dport {443 + udp * 10}{mark} -t {TIMEOUT}\n")
    return "".join(lines)


def fill(ns: str, count: int) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".ct") as batch:
        batch.write(flow_lines(count))
        batch.flush()
        in_ns(ns, "conntrack", "-R", batch.name)
    present = int(in_ns(ns, "cat", "/proc/sys/net/netfilter/nf_conntrack_count").stdout)
    if present != count:
        raise RuntimeError(f"table holds {present} flows, wanted {count}")


def cpu(who: int) -> Tuple[float, float]:
    usage = resource.getrusage(who)
    return usage.ru_utime, usage.ru_stime


def spent(who: int, before: Tuple[float, float]) -> List[float]:
    """[user, sys] seconds since ``before``."""
    return [now - then for now, then in zip(cpu(who), before)]


def measure(repeat: int) -> Dict[str, List[float]]:
    """Runs inside the namespace: CPU seconds per reading, each way, in turns."""
    from routerguard.account.flows import FlowTracker
    from routerguard.read.conntrack import dump_flows

    tracker = FlowTracker()
    tracker.dump(dump_flows())  # learns the message shapes, fills the tracker
    times: Dict[str, list] = {"ours": [], "tracker": [], "conntrack": [], "flows": []}
    with open(os.devnull, "w") as null:
        for _ in range(repeat):
            before = cpu(resource.RUSAGE_SELF)
            times["flows"].append(sum(1 for _ in dump_flows()))
            times["ours"].append(spent(resource.RUSAGE_SELF, before))

            before = cpu(resource.RUSAGE_SELF)
            tracker.dump(dump_flows())
            times["tracker"].append(spent(resource.RUSAGE_SELF, before))

            before = cpu(resource.RUSAGE_CHILDREN)
            subprocess.run(["conntrack", "-L", "-o", "extended"], stdout=null, stderr=null, check=True)
            times["conntrack"].append(spent(resource.RUSAGE_CHILDREN, before))
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


def bench(count: int, repeat: int) -> None:
    ns = f"rgbench{os.getpid()}"
    run("ip", "netns", "add", ns)
    try:
        for key, value in SYSCTLS.items():
            in_ns(ns, "sysctl", "-qw", f"{key}={value}")
        with table_room(count):
            fill(ns, count)
            out = in_ns(ns, sys.executable, os.path.abspath(__file__), "--measure", str(repeat)).stdout
        report(count, json.loads(out))
    finally:
        run("ip", "netns", "delete", ns)


def median_ms(samples: List[List[float]]) -> Tuple[float, float, float]:
    """Median total, and the user and sys parts of that same sample, in ms."""
    user, system = sorted(samples, key=sum)[len(samples) // 2]
    return (user + system) * 1000, user * 1000, system * 1000


def report(count: int, times: Dict[str, list]) -> None:
    print(f"{count} flows (each dump saw {min(times['flows'])}-{max(times['flows'])}), median of {len(times['ours'])}:")
    rows = [
        ("dump_flows()", "ours"),
        ("dump_flows() + FlowTracker.dump()", "tracker"),
        ("conntrack -L -o extended >/dev/null", "conntrack"),
    ]
    tool = median_ms(times["conntrack"])[0]
    for label, name in rows:
        total, user, system = median_ms(times[name])
        print(f"  {label:38s} {total:7.1f} ms CPU (user {user:6.1f}, sys {system:6.1f})  {total / tool:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, nargs="+", default=[20000, 65536])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        json.dump(measure(args.measure), sys.stdout)
        return
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    flows = " ".join(map(str, args.flows))
    print(f"reproduce: cd {repo} && sudo {sys.executable} bench/conntrack_read.py --flows {flows} --repeat {args.repeat}")
    print("(user/sys split is sampled by the kernel's tick; the total is the figure to compare)")
    for count in args.flows:
        bench(count, args.repeat)


if __name__ == "__main__":
    main()
