"""Wall-clock jumps and DST changes in the virtual router: the real daemon, real traffic, its API.

The daemon runs under a WallClock (routerguard_lab.wallclock, libfaketime):
the test sets its wall clock back or forward by a year, or just before a
daylight saving change, while its monotonic clock runs on, as a router's
does. Clients move real bytes through the router; their own nftables
counters are the truth; the API and the kernel (a transfer that passes or is
refused) say what the daemon made of it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Iterator

import pytest

from routerguard_lab import wallclock
from routerguard_lab.hosts import Client
from routerguard_lab.lab_daemon import LabDaemon
from routerguard_lab.topology import Lab
from routerguard_lab.wait import wait_until
from routerguard_lab.wallclock import DAY, WallClock

pytestmark = pytest.mark.lab  # needs root and the kernel (see tests/conftest.py)

YEAR = 365 * DAY
HOUR = 3600
POLL_INTERVAL = 0.2
WAIT = 20.0
TOLERANCE = 0.01  # conntrack's count against the client's, as in test_metering
BIG = 20_000_000  # more than the 5 MB cap: a download the kernel cuts
TRANSFER_TIMEOUT = 20  # a cut transfer ends at once; this only stops a hung test
REFUSED_TIMEOUT = 4  # a blocked device's connection is refused at once, far within this
LEAD = 60.0  # seconds on the daemon's clock between its start and a DST change: room to start and send


def utc(*fields: int) -> float:
    return datetime(*fields, tzinfo=timezone.utc).timestamp()


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def capped(mac: str, cap: str, period: str = "monthly") -> str:
    return f"\nconfig device\n\toption mac '{mac}'\n\toption cap '{cap}'\n\toption period '{period}'\n\toption action 'block'\n"


def device(daemon: LabDaemon, mac: str) -> dict:
    return daemon.api("GET", f"/api/v1/devices/{mac}")


def own_limit(view: dict) -> dict:
    """The device's own cap: used_bytes, period_start, period_end."""
    return next(limit for limit in view["limits"] if limit["scope"] == "device")


def used(daemon: LabDaemon, mac: str) -> int:
    return own_limit(device(daemon, mac))["used_bytes"]


def period(daemon: LabDaemon, mac: str) -> tuple[str, str]:
    limit = own_limit(device(daemon, mac))
    return limit["period_start"], limit["period_end"]


def settled(daemon: LabDaemon, mac: str) -> int:
    """The device's usage once the last packets of its transfers are counted."""
    return daemon.settled(lambda: used(daemon, mac))


def moved(client: Client, nbytes: int) -> int:
    """Download `nbytes` through the router; returns the IP bytes both ways, by the client's own counters."""
    client.truth(reset=True)
    assert client.download(nbytes) == nbytes
    return sum(client.truth())


def charged(daemon: LabDaemon, client: Client, since: int, truth: int) -> int:
    """Wait until `truth` more bytes than `since` are charged to the client's cap; returns its usage."""
    def now_used() -> int:
        usage = used(daemon, client.mac)
        return usage if usage - since >= truth * (1 - TOLERANCE) else 0

    usage = wait_until(now_used, WAIT, f"{truth} bytes of {client} to be charged")
    assert usage - since <= truth * (1 + TOLERANCE), f"{client}: {usage - since} bytes charged, truth {truth}"
    return usage


def refused(client: Client) -> bool:
    return client.download(1000, check=False, timeout=REFUSED_TIMEOUT) == 0


def cut_at_cap(daemon: LabDaemon, client: Client) -> None:
    assert client.download(BIG, check=False, timeout=TRANSFER_TIMEOUT) < BIG
    wait_until(lambda: device(daemon, client.mac)["state"] == "blocked", WAIT, f"{client} to be blocked")


def wait_logged(daemon: LabDaemon, text: str) -> None:
    wait_until(lambda: text in daemon.log(), WAIT, f"the daemon to log {text!r}")


def history(daemon: LabDaemon, mac: str, step: str, since: float | str, until: float | None = None) -> list[dict]:
    query = f"mac={mac}&step={step}&from={since if isinstance(since, str) else rfc3339(since)}"
    if until is not None:
        query += f"&to={rfc3339(until)}"
    return daemon.api("GET", f"/api/v1/history?{query}")["points"]


@pytest.fixture
def clocked(lab: Lab) -> Iterator[Callable[..., tuple[LabDaemon, WallClock]]]:
    """start(extra, at=None, **options): a daemon whose wall clock the test moves (reading `at` from its start)."""
    if wallclock.library() is None:
        pytest.skip("needs libfaketime (apt-get install faketime)")
    daemons: list[LabDaemon] = []

    def start(extra: str, at: float | None = None, **options: Any) -> tuple[LabDaemon, WallClock]:
        clock = WallClock(lab.dir)
        if at is not None:
            clock.set(at)
        daemons.append(LabDaemon(lab, extra, env=clock.env(), poll_interval=POLL_INTERVAL, **options).start())
        return daemons[-1], clock

    yield start
    for daemon in daemons:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.stop()


def test_a_clock_set_back_a_year_keeps_the_period_the_usage_and_the_block(lab, clocked):
    one, two = lab.clients
    daemon, clock = clocked(capped(one.mac, "5MB") + capped(two.mac, "1GB"))
    cut_at_cap(daemon, one)
    in_force = period(daemon, one.mac)
    before = charged(daemon, two, 0, moved(two, 1_000_000))

    clock.shift(-YEAR)  # a bad NTP server, or a slip of the admin's hand
    wait_logged(daemon, "the wall clock jumped back by 365 days")
    charged(daemon, two, before, moved(two, 1_000_000))
    assert period(daemon, two.mac) == period(daemon, one.mac) == in_force
    assert device(daemon, one.mac)["state"] == "blocked"
    assert refused(one)  # no fresh allowance from a period a year ago
    assert daemon.stop() == 0
    daemon.start()  # with the clock still wrong: the saved mark keeps the period
    assert period(daemon, one.mac) == in_force and refused(one)
    wait_logged(daemon, ") is behind the time usage was charged to")  # "the wall clock (T) ...": at start, no jump

    clock.shift(YEAR)  # NTP puts it right: the same period, still blocked
    wait_logged(daemon, "the wall clock jumped forward by 365 days")
    daemon.wait_readings()
    assert period(daemon, one.mac) == in_force
    assert device(daemon, one.mac)["state"] == "blocked" and refused(one)


def test_a_clock_a_year_ahead_rolls_the_period_over_and_lets_a_blocked_device_back(lab, clocked):
    one, _ = lab.clients
    daemon, clock = clocked(capped(one.mac, "5MB"))
    cut_at_cap(daemon, one)
    old_start, old_end = period(daemon, one.mac)
    old_used = settled(daemon, one.mac)

    clock.shift(YEAR)  # taken as real time, as NTP correcting a boot clock is
    wait_logged(daemon, "the wall clock jumped forward by 365 days")
    wait_until(lambda: device(daemon, one.mac)["state"] == "ok", WAIT, f"{one} to be let back on")
    new_start, new_end = period(daemon, one.mac)
    assert old_end <= new_start <= rfc3339(clock.now()) < new_end

    charged(daemon, one, 0, moved(one, 1_000_000))  # the kernel lets it through; the new period has only it
    new_used = settled(daemon, one.mac)

    days = history(daemon, one.mac, "day", old_start)
    assert sum(p["total_bytes"] for p in days if p["time"] < old_end) == old_used
    assert sum(p["total_bytes"] for p in days if p["time"] >= new_start) == new_used

    # `block --for` from a machine whose clock is a year behind the daemon's: an hour on the daemon's clock.
    assert daemon.routerguard("block", one.mac, "--for", "1h").returncode == 0
    until = device(daemon, one.mac)["blocked_until"]
    assert rfc3339(clock.now() + 3600 - 60) <= until <= rfc3339(clock.now() + 3600)


# Europe/Berlin's changes in 2026: (the instant, its local day's start and end in UTC)
DST = {
    "autumn-25h": (utc(2026, 10, 25, 1), utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)),  # 03:00 CEST -> 02:00 CET
    "spring-23h": (utc(2026, 3, 29, 1), utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)),  # 02:00 CET -> 03:00 CEST
}


@pytest.mark.parametrize("change, day_start, day_end", DST.values(), ids=DST.keys())
def test_a_dst_day_is_one_period_with_every_hour_counted_once(lab, clocked, change, day_start, day_end):
    one, _ = lab.clients
    daemon, clock = clocked(capped(one.mac, "1GB", "daily"), at=change - LEAD, timezone="Europe/Berlin")
    charged(daemon, one, 0, moved(one, 1_000_000))
    before = settled(daemon, one.mac)
    assert clock.now() < change - 1, "the daemon took the whole lead to start"
    clock.set(change - 1)  # an NTP-sized step (within the jump tolerance) spares the test the wait
    wait_until(lambda: clock.now() > change, WAIT, "the daemon's clock to pass the change")
    daemon.wait_readings()
    charged(daemon, one, before, moved(one, 2_000_000))
    total = settled(daemon, one.mac)

    assert period(daemon, one.mac) == (rfc3339(day_start), rfc3339(day_end))  # local midnight to local midnight
    hours = history(daemon, one.mac, "hour", day_start, day_end)
    assert [p["time"] for p in hours] == [rfc3339(t) for t in range(int(day_start), int(day_end), HOUR)]
    by_hour = {p["time"]: p["total_bytes"] for p in hours}
    assert by_hour[rfc3339(change - HOUR)] == before and by_hour[rfc3339(change)] == total - before
    assert sum(by_hour.values()) == total
    assert [(p["time"], p["total_bytes"]) for p in history(daemon, one.mac, "day", day_start, day_end)] == [
        (rfc3339(day_start), total)]
