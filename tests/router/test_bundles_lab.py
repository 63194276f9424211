"""The plan as eSIM bundles in the virtual router: the real daemon, the kernel's cut, real bytes.

A 3 MB day pass and a 6 MB 30-day bundle: the day pass drains first, and
everyone but exempt devices is cut at 9 MB within 256 KB; an add-on lets
them back on before the API answers; the bill of the priced bundles adds up
to their prices times the share used, to the cent, and follows each
device's bytes. Under a moved wall clock (libfaketime), a bundle that
expires shrinks the kernel's quota at its end. The CLI adds, lists and
removes bundles.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable, Iterator

import pytest

from routerguard_lab import wallclock
from routerguard_lab.lab_daemon import LabDaemon
from routerguard_lab.topology import Lab
from routerguard_lab.wait import wait_until
from routerguard_lab.wallclock import DAY, WallClock

pytestmark = pytest.mark.lab  # needs root and the kernel (see tests/conftest.py)

SLACK = 256_000  # the most the plan may be missed by, either way
TRANSFER_TIMEOUT = 30
WAIT = 20.0
POLL_INTERVAL = 0.2
MB = 1_000_000


def local(epoch: float) -> str:
    """A start as the config takes it, in the lab daemon's zone (UTC)."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def bundle(bid: str, quota: str, days: int, start: float, price: str | None = None) -> str:
    text = f"\nconfig bundle\n\toption id '{bid}'\n\toption quota '{quota}'\n\toption days '{days}'\n\toption start '{local(start)}'\n"
    return text + (f"\toption price '{price}'\n\toption currency 'EUR'\n" if price else "")


def exempt(mac: str) -> str:
    return f"\nconfig device\n\toption mac '{mac}'\n\toption exempt '1'\n"


def bundles(daemon: LabDaemon) -> dict[str, dict]:
    return {b["id"]: b for b in daemon.api("GET", "/api/v1/plan")["bundles"]}


def state(daemon: LabDaemon, mac: str) -> str | None:
    return next((d["state"] for d in daemon.api("GET", "/api/v1/devices")["devices"] if d["mac"] == mac), None)


def cut_download(client, nbytes: int) -> int:
    client.truth(reset=True)
    client.download(nbytes, check=False, timeout=TRANSFER_TIMEOUT)
    return sum(client.truth())


def assert_near(measured: int, expected: int, what: str) -> None:
    assert abs(measured - expected) <= SLACK, f"{what}: {measured} bytes, expected {expected} within {SLACK}"


@pytest.fixture
def run(lab: Lab) -> Iterator[Callable[..., LabDaemon]]:
    daemons: list[LabDaemon] = []

    def start(extra: str, **options: Any) -> LabDaemon:
        daemons.append(LabDaemon(lab, extra, **options).start())
        return daemons[-1]

    yield start
    for daemon in daemons:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.stop()


def test_the_day_pass_drains_first_the_plan_cuts_at_the_sum_and_an_add_on_lets_everyone_back(lab, run):
    one, two = lab.clients
    began = time.time() - 600
    daemon = run(bundle("day", "3MB", 1, began, "1.00") + bundle("month", "6MB", 30, began, "10") + exempt(one.mac),
                 poll_interval=POLL_INTERVAL)
    one.truth(reset=True)
    assert one.download(MB) == MB
    by_one = sum(one.truth())
    two.truth(reset=True)
    assert two.download(MB) == MB
    by_two = sum(two.truth())
    drained = daemon.settled(lambda: (bundles(daemon)["day"]["used_bytes"], bundles(daemon)["month"]["used_bytes"]))
    assert drained[1] == 0 and abs(drained[0] - (by_one + by_two)) <= SLACK  # the day pass, which expires first

    total = by_one + by_two + cut_download(two, 20 * MB)
    assert_near(total, 9 * MB, "everything the bundles gave before the cut")
    wait_until(lambda: state(daemon, two.mac) == "blocked", WAIT, "the plan to cut the second client")
    assert one.download(MB) == MB and state(daemon, one.mac) == "exempt"  # never cut
    shown = daemon.settled(lambda: {b["id"]: b["state"] for b in bundles(daemon).values()})
    assert shown == {"day": "exhausted", "month": "exhausted"}

    added = daemon.api("POST", "/api/v1/plan/bundles", {"quota_bytes": 4 * MB, "days": 7, "name": "Add-on"}, expect=201)
    assert added["state"] == "active"
    two.truth(reset=True)
    assert two.download(MB) == MB  # let back on before the answer came: no reading in between needed

    plan = daemon.settled(lambda: bundles(daemon))
    costs = daemon.api("GET", "/api/v1/plan/costs")["costs"]
    expected = sum(Decimal(price) * plan[bid]["total_used_bytes"] / (size * MB)
                   for bid, price, size in (("day", "1.00", 3), ("month", "10", 6)))
    day_cost = (Decimal("1.00") * plan["day"]["total_used_bytes"] / (3 * MB)).quantize(Decimal("0.01"))
    month_cost = (Decimal(10) * plan["month"]["total_used_bytes"] / (6 * MB)).quantize(Decimal("0.01"))
    assert sum(Decimal(str(r["amount"])) for r in costs) == day_cost + month_cost  # to the cent
    assert abs(day_cost + month_cost - expected) <= Decimal("0.01")
    rows = {r["mac"]: r for r in costs}
    assert rows[two.mac]["amount"] > rows[one.mac]["amount"] > 0  # each device's bytes: two drew far more
    assert rows[two.mac]["bytes"] > rows[one.mac]["bytes"]
    assert sum(r["bytes"] for r in costs) == plan["day"]["total_used_bytes"] + plan["month"]["total_used_bytes"]


def test_a_bundle_that_expires_shrinks_the_kernels_quota_at_its_end(lab, run):
    if wallclock.library() is None:
        pytest.skip("needs libfaketime (apt-get install faketime)")
    one, two = lab.clients
    clock = WallClock(lab.dir)
    now = clock.now()
    ends = now + 90  # the 5 MB week ends 90 s from the daemon's start
    daemon = run(bundle("week", "5MB", 7, ends - 7 * DAY) + bundle("month", "20MB", 30, now - 600),
                 env=clock.env(), poll_interval=POLL_INTERVAL)
    two.truth(reset=True)
    assert two.download(MB) == MB
    before = daemon.settled(lambda: bundles(daemon))
    assert before["week"]["state"] == "active" and before["month"]["used_bytes"] == 0  # the week expires first
    assert_near(daemon.api("GET", "/api/v1/plan")["remaining_bytes"], 24 * MB, "what both have left")

    clock.set(ends + 1)
    wait_until(lambda: bundles(daemon)["week"]["state"] == "expired", WAIT, "the week to expire")
    daemon.wait_readings()
    assert_near(daemon.api("GET", "/api/v1/plan")["remaining_bytes"], 20 * MB, "the month alone")
    assert_near(cut_download(two, 30 * MB), 20 * MB, "the download after the week's 4 MB lapsed")
    wait_until(lambda: state(daemon, two.mac) == "blocked", WAIT, "the plan to cut")


def test_the_cli_adds_lists_and_removes_bundles(lab, run):
    daemon = run("", poll_interval=POLL_INTERVAL)
    added = daemon.routerguard("plan", "add", "5GB", "--days", "7", "--name", "Jazz", "--json")
    assert added.returncode == 0, added.stderr
    listed = daemon.routerguard("plan")
    assert listed.returncode == 0 and "Jazz" in listed.stdout and "active" in listed.stdout
    bid = next(b["id"] for b in bundles(daemon).values() if b["name"] == "Jazz")
    assert daemon.routerguard("plan", "remove", bid).returncode == 0
    assert bid not in bundles(daemon)
    assert daemon.routerguard("plan", "add", "5GB", "--days", "0").returncode == 2
