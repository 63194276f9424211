"""Page latency with 20 concurrent clients against the daemon's real waitress.

Builds the benchmarks' router (bench/testbed.py: 250 devices, 65,536 flows in
conntrack, a month of history), so the meter loop reads the big table every
poll interval meanwhile, as on a router. Then, for each page in turn, 20
client threads each keep one HTTP/1.1 connection and request the page again
and again for --seconds; every request's time (send to last byte) is kept.

Pages: /healthz (the floor), /api/v1/devices (bearer token: all devices as
JSON), /admin (a logged-in browser: the dashboard, every device).

The clients are threads of this Python process, on the same two cores as
the daemon: their own time is in the figures (a few hundred microseconds a
request), and they take CPU the daemon would otherwise have.

Run as root:  python3 bench/page_latency.py [--clients 20] [--seconds 20]
"""

from __future__ import annotations

import statistics
import sys
import threading
import time

from testbed import Testbed, arguments

PERCENTILES = (50, 95, 99)


def hammer(bed: Testbed, path: str, headers: dict[str, str], clients: int, seconds: float) -> tuple[list[float], int]:
    """Request `path` from `clients` threads for `seconds`; returns (latencies in s, errors)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        conn = bed.connection()
        mine: list[float] = []
        try:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    status, _ = bed.get(path, headers, conn)
                except OSError:
                    conn.close()
                    conn = bed.connection()
                    status = 0
                if status == 200:
                    mine.append(time.perf_counter() - started)
                else:
                    with lock:
                        errors[0] += 1
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0]


def report(path: str, latencies: list[float], errors: int, seconds: float) -> None:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    figures = {p: cuts[p - 1] * 1000 for p in PERCENTILES}
    print(f"  {path:18s} {len(latencies) / seconds:7.1f} req/s  "
          + "  ".join(f"p{p} {ms:7.1f} ms" for p, ms in figures.items())
          + f"  max {max(latencies) * 1000:7.1f} ms  errors {errors}", flush=True)


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    print(f"reproduce: sudo {sys.executable} bench/page_latency.py --devices {args.devices} --flows {args.flows} "
          f"--clients {args.clients} --seconds {args.seconds:g}")
    with Testbed(args.devices, args.flows) as bed:
        pages = {"/healthz": {}, "/api/v1/devices": bed.bearer(), "/admin": bed.session()}
        print(f"{args.clients} clients, {args.seconds:g} s a page; {args.devices} devices, "
              f"{bed.table_size()} flows in conntrack")
        readings0, started = bed.health()["readings"], time.monotonic()
        for path, headers in pages.items():
            latencies, errors = hammer(bed, path, headers, args.clients, args.seconds)
            report(path, latencies, errors, args.seconds)
        minutes = (time.monotonic() - started) / 60
        print(f"meter readings meanwhile: {(bed.health()['readings'] - readings0) / minutes:.1f} a minute "
              f"(poll interval {bed.poll_interval:g} s)")


if __name__ == "__main__":
    main()
