"""The rate a throttled device really gets, against its throttle, over a 6 s and a 12 s download.

Run as root (it builds the lab's virtual router in network namespaces):

    python3 bench/throttle.py [--rates 256 2000 20000] [--windows 6 12] [--repeat 2]

A client is given a 100 KB daily cap with `action 'throttle'` at each rate,
uses the cap up, and once the daemon shows it throttled downloads far more
than the window allows from the lab's internet host, for the window. Its
own nftables counters (IP bytes received, `Client.truth`) over the window's
wall time are the rate it got. The kernel's `limit` lets a burst through
before it holds the rate (ruleset.py, LIMIT_BURST), so the shorter window
reads higher. Each download starts after IDLE seconds without traffic, so
the bucket is full: back to back, a download after the first gets no burst
and reads 98-101% over 6 s. tests/test_enforce.py checks one rate (2 Mbit) within
50-130%; this prints what each rate gives.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

from routerguard_lab.lab_daemon import LabDaemon
from routerguard_lab.topology import Lab
from routerguard_lab.wait import wait_until

RATES_KBIT = (256, 2000, 20000)
WINDOWS = (6.0, 12.0)
CAP_BYTES = 100_000
STATE_TIMEOUT = 10.0
IDLE = 2.0  # seconds before each download: the limit's bucket refills, as for a device that was idle (the most burst)


def config(mac: str, kbit: int) -> str:
    return (f"\nconfig device\n\toption mac '{mac}'\n\toption cap '{CAP_BYTES}B'\n\toption period 'daily'\n"
            f"\toption action 'throttle'\n\toption throttle '{kbit}kbit'\n")


def throttled(daemon: LabDaemon, mac: str) -> bool:
    return any(d["mac"] == mac and d["state"] == "throttled" for d in daemon.api("GET", "/api/v1/devices")["devices"])


def rate_kbit(lab: Lab, kbit: int, window: float) -> float:
    """kbit/s a download got over `window` seconds, counted by the client itself."""
    client = lab.clients[0]
    time.sleep(IDLE)
    client.truth(reset=True)
    started = time.monotonic()
    client.download(int(window * kbit * 1000 / 8 * 4) + 1_000_000, check=False, timeout=window)
    return client.truth()[1] * 8 / 1000 / (time.monotonic() - started)


def measure(lab: Lab, kbit: int, windows: list[float], repeat: int) -> dict[float, list[float]]:
    client = lab.clients[0]
    daemon = LabDaemon(lab, config(client.mac, kbit)).start()
    try:
        client.download(3 * CAP_BYTES, check=False, timeout=30)  # past the cap: throttled from here
        wait_until(lambda: throttled(daemon, client.mac), STATE_TIMEOUT, f"{client.mac} to be throttled")
        return {window: [rate_kbit(lab, kbit, window) for _ in range(repeat)] for window in windows}
    finally:
        daemon.stop()
        lab.router.exec(["nft", "delete", "table", "inet", "routerguard"])  # the next rate starts afresh:
        shutil.rmtree(os.path.join(lab.dir, "data"))  # no table, no usage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=list(RATES_KBIT), help="throttles, kbit/s")
    parser.add_argument("--windows", type=float, nargs="+", default=list(WINDOWS), help="download lengths, seconds")
    parser.add_argument("--repeat", type=int, default=2, help="downloads per rate and window")
    args = parser.parse_args()
    print(f"reproduce: sudo {sys.executable} bench/throttle.py --rates {' '.join(map(str, args.rates))} "
          f"--windows {' '.join(f'{w:g}' for w in args.windows)} --repeat {args.repeat}\n")
    print("| throttle | window | got (kbit/s) | of the throttle |")
    print("|---|---|---|---|")
    with Lab(clients=1) as lab:
        for kbit in args.rates:
            for window, rates in measure(lab, kbit, args.windows, args.repeat).items():
                got = ", ".join(f"{r:,.0f}" for r in rates)
                share = ", ".join(f"{r / kbit:.0%}" for r in rates)
                print(f"| {kbit:,} kbit/s | {window:g} s | {got} | {share} |", flush=True)


if __name__ == "__main__":
    main()
