"""How long routerguard's table is gone after a firewall flush, with fw4's real ruleset in the lab.

Run as root (it builds the lab's virtual router in network namespaces):

    python3 bench/flush_recovery.py [--repeat 20] [--devices 1]

The daemon runs beside fw4 with one capped device cut off; each round a
small poller inside the router namespace runs `nft flush ruleset` (what
`fw4 flush`, i.e. `/etc/init.d/firewall stop`, does) or `nft delete table
inet routerguard`, and from the moment that command returns, asks the
kernel over netlink (read/nftcounters.py, no process start) every
millisecond whether the table is back. Printed: the gap's min, median and
max in milliseconds. fw4's table is loaded again after each flush.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

from routerguard_lab.lab_daemon import LabDaemon
from routerguard_lab.topology import Lab, fw4_ruleset
from routerguard_lab.wait import wait_until

POLLER = """
import subprocess, sys, time
from routerguard.read.nftcounters import read
subprocess.run(sys.argv[1:], check=True)
done = time.monotonic()
while read("inet", "routerguard") is None:
    if time.monotonic() - done > 10:
        print("-1"); sys.exit(0)
    time.sleep(0.001)
print(round((time.monotonic() - done) * 1000, 1))
"""
ACTIONS = {"nft flush ruleset": ["nft", "flush", "ruleset"],
           "nft delete table inet routerguard": ["nft", "delete", "table", "inet", "routerguard"]}


def gap_ms(lab: Lab, argv: list[str]) -> float:
    return float(lab.router.exec([sys.executable, "-c", POLLER, *argv]).stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--devices", type=int, default=1, help="lab clients (each with a cap)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root: the lab needs network namespaces", file=sys.stderr)
        return 2
    with Lab(clients=args.devices, firewall="fw4") as lab:
        caps = "".join(f"\nconfig device\n\toption mac '{c.mac}'\n\toption cap '1MB'\n\toption period 'daily'\n"
                       f"\toption action 'block'\n" for c in lab.clients)
        daemon = LabDaemon(lab, caps).start()
        try:
            one = lab.clients[0]
            one.download(3_000_000, check=False, timeout=10)
            wait_until(lambda: any(d["state"] == "blocked" for d in daemon.api("GET", "/api/v1/devices")["devices"]),
                       10, "the device cut")
            results = {}
            for name, argv in ACTIONS.items():
                gaps = []
                for _ in range(args.repeat):
                    gaps.append(gap_ms(lab, argv))
                    lab.router.exec(["nft", "-f", "-"], input=fw4_ruleset())
                results[name] = gaps
                ok = [g for g in gaps if g >= 0]
                print(f"{name}: table back after min {min(ok):.1f} / median {statistics.median(ok):.1f} / "
                      f"max {max(ok):.1f} ms over {len(ok)} rounds ({len(gaps) - len(ok)} not back within 10 s)")
            still_cut = one.download(1000, check=False, timeout=4) == 0
            print(f"the capped device still cut afterwards: {still_cut}")
            print(json.dumps(results))
        finally:
            daemon.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
