"""How far past its cap a device gets at full line rate, for several caps and poll intervals.

Run as root (it builds the lab's virtual router in network namespaces):

    python3 bench/overshoot.py

A client capped at CAP downloads twice that from the lab's internet host as
fast as the veths go; its own nftables counters (IP bytes, both ways) say
what it really exchanged. The kernel's quota cuts it at the byte, so the
overshoot does not grow with the poll interval. For comparison, the last
column is what a daemon that cut devices only after reading their usage
would let through at this rate: rate x interval.
"""

from __future__ import annotations

import os
import shutil
import time

from routerguard_lab.lab_daemon import LabDaemon
from routerguard_lab.topology import Lab

CAPS = (5_000_000, 50_000_000)
POLL_INTERVALS = (0.5, 2.0, 10.0)
LINE_RATE_BYTES = 200_000_000
TRANSFER_TIMEOUT = 60


def line_rate(lab: Lab) -> float:
    """Bytes per second a client downloads with no routerguard in the way."""
    started = time.monotonic()
    got = lab.clients[0].download(LINE_RATE_BYTES)
    return got / (time.monotonic() - started)


def overshoot(lab: Lab, cap: int, poll_interval: float) -> int:
    client = lab.clients[0]
    extra = f"\nconfig device\n\toption mac '{client.mac}'\n\toption cap '{cap}B'\n\toption period 'daily'\n"
    daemon = LabDaemon(lab, extra, poll_interval=poll_interval).start()
    try:
        client.truth(reset=True)
        client.download(2 * cap, check=False, timeout=TRANSFER_TIMEOUT)
        return sum(client.truth()) - cap
    finally:
        daemon.stop()
        lab.router.exec(["nft", "delete", "table", "inet", "routerguard"])  # the next run starts afresh:
        shutil.rmtree(os.path.join(lab.dir, "data"))  # no table, no usage


def main() -> None:
    with Lab(clients=1) as lab:
        rate = line_rate(lab)
        print(f"line rate: {rate * 8 / 1e6:.0f} Mbit/s (lab veths, offloads off)\n")
        print("| cap | poll interval | overshoot (bytes) | a poll-based cutoff would let through |")
        print("|---|---|---|---|")
        for cap in CAPS:
            for interval in POLL_INTERVALS:
                print(f"| {cap / 1e6:g} MB | {interval:g} s | {overshoot(lab, cap, interval):+,} | "
                      f"{rate * interval / 1e6:,.0f} MB |", flush=True)


if __name__ == "__main__":
    main()
