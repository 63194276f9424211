"""A year on the router: RSS and CPU per meter reading, week by week, with devices passing through.

A router runs for months, and every MAC it ever saw, every period that ever
rolled, can pile up in memory or in the work each reading does. This runs
the daemon's own objects over a simulated year on a fake clock: a `Daemon`
(its `Core`, `Service` and commit path) from a config with a daily plan, a
daily default cap, a group with a daily cap and devices with caps of their
own, its data_dir a real SQLite database in a temporary folder.

The load: --regular devices always there, and --passing random MACs a day
(locally administered, as phones randomise them), each around for 1 to
--stay readings from a random moment of its day, then never again. Each
reading does what the daemon's loop does, without the kernel:

- the meter's part (`account/meter.py` Meter.read after the dump): the
  directory refreshed from the neighbours and leases of the devices present,
  each present device charged a reading's bytes (log-uniform, some bursts
  big enough for the leak guard's "unusual use" check) to the ledger, the
  directory, the destinations and the rates;
- the leak guard's `after_reading` (a snapshot, destinations settled, alerts
  decided and stored);
- the enforcer's wanted state (`enforce/desired.build`: a snapshot, every
  known device's limits and kernel id), not applied to any kernel;
- the daemon's commit (journal, and a fold into SQLite at the end of each
  day: with commits every 60 s the journal reaches its 512 KiB, and is
  folded, about every 13 hours; with a few commits a day it never would).

A real router reads every 2 s; a year of that is 15.8 million readings, so
this simulates --readings a day (24: one an hour) and shows per-reading
costs, which is what would grow. Printed every --every days: the process's
VmRSS, the CPU time per reading over that stretch (process time, so the
machine's other load barely matters), and the counts of what is held; at the
end, the least-squares slope of both over the second half of the run.

Run:  python3 bench/year.py [--days 365] [--readings 24] [--regular 50] [--passing 200]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

from routerguard.account.ledger import ROUTER
from routerguard.daemon import Daemon
from routerguard.enforce.desired import build
from routerguard.attribute.marks import Marks
from routerguard.leakguard import LeakGuard
from routerguard.read.leases import Lease
from routerguard.read.neighbours import Neighbour

DAY = 86400
START = 1_767_225_600  # 2026-01-01T00:00Z
DOWN_RANGE = (10_000, 50_000_000)  # bytes a device downloads between two readings, log-uniform
UP_SHARE = 0.1
NAMES = [bytes([198, 51, 100, n]) for n in range(60)]  # the destinations devices talk to
NAMES_A_READING = 3
GROUP_MEMBERS = 10  # regular devices sharing the group's cap
OWN_CAPS = 10  # regular devices with a cap of their own; the rest have the default cap
CONFIG = """config routerguard 'main'
\toption lan_if 'lo'
\tlist wan_if 'lo'
\toption listen '127.0.0.1:8080'  # never served: the loop does not run
\toption data_dir '{data}'
\toption timezone 'UTC'

config plan 'plan'
\toption quota '20GB'
\toption period 'daily'
\toption action 'block'

config defaults 'new_device'
\toption cap '1GB'
\toption period 'daily'
\toption action 'block'

config group
\toption id 'family'
\toption cap '5GB'
\toption period 'daily'
\toption action 'throttle'
\toption throttle '512kbit'
"""
DEVICE = "\nconfig device\n\toption mac '{mac}'\n{extra}"


def regular_mac(n: int) -> str:
    return f"02:00:00:00:{n // 256:02x}:{n % 256:02x}"


def random_mac(rng: random.Random) -> str:
    """A locally administered unicast MAC, as a phone's per-network random address."""
    first = rng.randrange(256) & 0xFC | 0x02
    return ":".join(f"{b:02x}" for b in [first, *(rng.randrange(256) for _ in range(5))])


def config_text(data: str, regular: int) -> str:
    text = CONFIG.format(data=data)
    for n in range(min(regular, GROUP_MEMBERS + OWN_CAPS)):
        extra = "\toption group 'family'\n" if n < GROUP_MEMBERS else \
            "\toption cap '2GB'\n\toption period 'daily'\n\toption action 'block'\n"
        text += DEVICE.format(mac=regular_mac(n), extra=extra)
    return text


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


class Router:
    """The daemon's objects without its loop or kernel, on a fake clock."""

    def __init__(self, folder: str, regular: int, seed: int) -> None:
        path = os.path.join(folder, "routerguard.conf")
        with open(path, "w") as f:
            f.write(config_text(os.path.join(folder, "data"), regular))
        self.now = float(START)
        self.daemon = Daemon(path)
        self.core = self.daemon.core
        self.core.now = lambda: self.now  # the fake clock every object asks
        self.leak = LeakGuard(self.core)  # not started: its work after a reading, not its capture
        self.marks = Marks(self.core.db)
        self.rng = random.Random(seed)
        self.regular = [regular_mac(n) for n in range(regular)]
        self.addresses: dict[str, str] = {}  # mac -> its IPv4 address while present (the benchmark's own memory: kept small)
        self.handed_out = 0

    def address(self, mac: str) -> str:
        if mac not in self.addresses:
            self.handed_out += 1
            n = self.handed_out % 65000 + 2
            self.addresses[mac] = f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"
        return self.addresses[mac]

    def reading(self, present: list[str]) -> None:
        """One reading of the daemon's loop with `present` devices moving bytes."""
        core, rng, now = self.core, self.rng, self.now
        core.directory.refresh([Neighbour(self.address(mac), mac, 1) for mac in present],
                               [Lease(mac, self.address(mac), None, int(now) + DAY) for mac in present], None, now)
        self.addresses = {mac: self.addresses[mac] for mac in present}  # a DHCP server forgets too
        low, high = DOWN_RANGE
        charged = {}
        for mac in present + [ROUTER]:
            down = int(low * (high / low) ** rng.random())
            up = int(down * UP_SHARE)
            for name in rng.sample(NAMES, NAMES_A_READING):
                core.destinations.add(mac, name, up // NAMES_A_READING, down // NAMES_A_READING)
            core.ledger.add(mac, up, down, now)
            if mac != ROUTER:
                core.directory.seen(mac, now)
            charged[mac] = (up, down)
        core.rates.record(now, charged)
        self.leak.after_reading(charged)
        if not self.daemon.commit():
            raise RuntimeError("a commit failed")
        build(self.core, self.marks, None)


def held(router: Router) -> str:
    """What the objects hold, for the lines printed."""
    core = router.core
    return (f"known {len(router.daemon.service.known_macs()):6d}  ledger windows "
            f"{sum(len(w) for w in core.ledger._windows.values()):6d}  directory {len(core.directory.macs()):6d}  "
            f"ids {len(router.marks.macs()):6d}")


def simulate(args: argparse.Namespace, folder: str) -> list[tuple[float, float, float]]:
    """(day, MiB, ms per reading) every --every days."""
    router = Router(folder, args.regular, args.seed)
    step = DAY / args.readings
    samples = []
    cpu, readings = time.process_time(), 0
    for day in range(args.days):
        # Each passing device: a random first reading of the day, around for 1..stay readings.
        visits = [(random_mac(router.rng), router.rng.randrange(args.readings), router.rng.randint(1, args.stay))
                  for _ in range(args.passing)]
        for r in range(args.readings):
            router.now = START + day * DAY + r * step
            present = router.regular + [mac for mac, first, stay in visits if first <= r < first + stay]
            router.reading(present)
            readings += 1
        router.core.ledger.fold()  # as a day of commits every 60 s would (a fold per 512 KiB of journal)
        if (day + 1) % args.every == 0 or day + 1 == args.days:
            spent = time.process_time() - cpu
            rss = rss_kib() / 1024
            samples.append((day + 1, rss, spent / readings * 1000))
            print(f"  day {day + 1:3d}  VmRSS {rss:6.1f} MiB  CPU {spent / readings * 1000:7.1f} ms a reading  "
                  f"{held(router)}", flush=True)
            cpu, readings = time.process_time(), 0
    router.core.db.close()
    return samples


def slope(samples: list[tuple[float, float, float]], index: int) -> float:
    """Per 30 days, least squares over the second half."""
    half = [s for s in samples if s[0] > samples[-1][0] / 2]
    if len(half) < 2:
        return float("nan")
    return statistics.linear_regression([s[0] for s in half], [s[index] for s in half]).slope * 30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--readings", type=int, default=24, help="meter readings a simulated day")
    parser.add_argument("--regular", type=int, default=50, help="devices always there")
    parser.add_argument("--passing", type=int, default=200, help="new random MACs a day, each never seen again")
    parser.add_argument("--stay", type=int, default=6, help="readings a passing device stays, at most")
    parser.add_argument("--every", type=int, default=7, help="days between two lines")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the alerts the simulated bursts raise are not the figures
    print(f"reproduce: {sys.executable} bench/year.py --days {args.days} --readings {args.readings} "
          f"--regular {args.regular} --passing {args.passing} --stay {args.stay} --every {args.every} --seed {args.seed}")
    print(f"{args.regular} regular devices and {args.passing} passing MACs a day (each for 1-{args.stay} readings), "
          f"{args.readings} readings a day, daily plan and caps")
    folder = tempfile.mkdtemp(prefix="rg-year-", dir="/var/tmp")
    started = time.monotonic()
    try:
        samples = simulate(args, folder)
    finally:
        shutil.rmtree(folder)
    first, last = samples[0], samples[-1]
    print(f"{time.monotonic() - started:.0f} s of real time for {args.days * args.readings} readings")
    print(f"VmRSS {first[1]:.1f} MiB at day {first[0]:.0f}, {last[1]:.1f} MiB at day {last[0]:.0f}; "
          f"slope over the second half {slope(samples, 1):+.2f} MiB per 30 days")
    print(f"CPU {first[2]:.1f} ms a reading at day {first[0]:.0f}, {last[2]:.1f} ms at day {last[0]:.0f}; "
          f"slope over the second half {slope(samples, 2):+.2f} ms per 30 days")


if __name__ == "__main__":
    main()
