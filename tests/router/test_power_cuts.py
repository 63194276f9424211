"""Power cuts: the router's flash keeps only what was synced, and the kernel forgets everything.

data_dir and the config file are on routerguard_lab/powercut.py's file
system, which keeps writes in memory until they are fsynced and drops the
rest at a cut. A cut: the file system stops taking writes (at a seeded
random moment, or at a chosen operation: mid-commit, mid-fold, in the
middle of writing the config file or the secrets), the router stops
forwarding (its power is gone: what the clients count from then on never
crossed it), the daemon is killed, the file system comes back with what was
synced, and the kernel's state of a reboot is lost too (routerguard's table
deleted, conntrack flushed). Then the daemon starts again, and:

- the database passes PRAGMA integrity_check and is never set aside;
- a device's usage lost is at most what it moved in one commit interval
  before the cut (the client's own counters are the truth);
- the device capped earlier, and the one the admin blocked, are cut off
  from the first packet on: they knock on the internet host all along (a UDP
  datagram to its discard port, which it answers with an ICMP error from
  its own address; a cut device gets one from the router's), and not one
  byte from the internet ever comes back (the router forwards again only once the daemon answers,
  as the kernel's table is built before the meter or the page start).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from routerguard.store.db import FILENAME, JOURNAL_FILENAME
from routerguard_lab.hosts import Client
from routerguard_lab.lab_daemon import ROUTERGUARD, LabDaemon
from routerguard_lab.powercut import Flash
from routerguard_lab.topology import Lab
from routerguard_lab.wait import wait_until

pytestmark = pytest.mark.lab

SEED = 20261206
CUTS = 20
COMMIT_INTERVAL = 5
POLL_INTERVAL = 0.5
RATE = "300K"  # the metered client's upload, paced by curl
UPLOAD_BYTES = 50_000_000
CAP = "1MB"
WAIT = 30.0
SAMPLE_EVERY = 0.1
# The usage a cut may lose: what crossed since the last commit's reading, the commit interval and two readings,
# plus the time between the file system's death and the router's (the test polls for it), and one burst of
# curl's (it sends 64 KiB at once, counted by the client before it crosses).
WINDOW = COMMIT_INTERVAL + 2 * POLL_INTERVAL + 0.5
BURST = 70_000
TOLERANCE = 0.01
# Where the power goes: each kind this many times, in a seeded order.
KNOCK = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
while True:
    try:
        s.sendto(b"knock", (sys.argv[1], 9))
    except OSError:
        pass
    time.sleep(0.1)
"""
KINDS = {"random": 5, "commit": 5, "fold": 3, "config": 4, "secrets": 3}
CONFIG_STEPS = ("write", "fsync", "rename", "fsyncdir")  # of write_atomic, one config cut each


def used(daemon: LabDaemon, client: Client) -> int:
    usage = daemon.api("GET", f"/api/v1/devices/{client.mac}")["usage"]
    return usage["up_bytes"] + usage["down_bytes"]


def state(daemon: LabDaemon, client: Client) -> str:
    return daemon.api("GET", f"/api/v1/devices/{client.mac}")["state"]


class Truth:
    """A client's own count of its bytes, sampled in the background: what it had moved at any moment."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), sum(self.client.truth())))
            self._stop.wait(SAMPLE_EVERY)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def at(self, moment: float, default: int) -> int:
        """The count at the last sample no later than `moment`; `default` before the first."""
        return max((n for t, n in self.samples if t <= moment), default=default)


class Router:
    """The lab's router with its power: forwarding, routerguard, and the flash it writes to."""

    def __init__(self, lab: Lab, flash: Flash, daemon: LabDaemon) -> None:
        self.lab, self.flash, self.daemon = lab, flash, daemon

    def forwarding(self, on: bool) -> None:
        self.lab.router.ns.sysctl({"net.ipv4.ip_forward": int(on)})

    def power_off(self) -> None:
        """The flash is dead already: the router stops forwarding, its processes die."""
        self.forwarding(False)
        if self.daemon.proc is not None and self.daemon.proc.poll() is None:
            self.daemon.stop(signal.SIGKILL)

    def boot(self, arm: tuple[str, str, int] | None = None) -> str | None:
        """The power back: the flash keeps what was synced, the kernel nothing. With `arm`, the power goes
        again at that operation of the start (a fold, the secrets); then it boots once more. Returns the
        start's trigger, if it was cut."""
        trigger = self.flash.revive()
        self._forget_kernel()
        cut_at_start = None
        if arm:
            self.flash.arm(*arm)
            proc = self.daemon.lab.router.popen([ROUTERGUARD, "run", "--config", self.daemon.config],
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.daemon.proc = proc
            wait_until(lambda: self.flash.dead or self.daemon.health() is not None, WAIT, "the start to reach " + arm[1])
            if self.flash.dead:
                self.power_off()
                cut_at_start = self.flash.revive()
                self._forget_kernel()
            else:  # the operation never came (nothing to fold): an ordinary start
                self.flash.cut()
                self.power_off()
                self.flash.revive()
                self._forget_kernel()
        assert self._database_ok(), f"the database after a cut at {trigger} / {cut_at_start}"
        self.daemon._token = None  # a token made after the last sync may be gone
        self.daemon.start()
        self.forwarding(True)
        return cut_at_start

    def _forget_kernel(self) -> None:
        self.lab.router.exec(["nft", "delete", "table", "inet", "routerguard"], check=False)
        self.lab.router.exec(["conntrack", "-F"], check=False)

    def _database_ok(self) -> bool:
        path = os.path.join(self.lab.dir, "data", FILENAME)
        # Read-only: no checkpoint, the WAL stays for the daemon. Closed before the next cut: its map of the -shm
        # file would fault once the cut shrinks the file.
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.fixture
def flash(lab_factory):
    lab = lab_factory(3)
    flash = Flash(os.path.join(lab.dir, "flash"))
    yield lab, flash
    for proc in lab.router._procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    flash.close()


def test_twenty_power_cuts_during_traffic_lose_at_most_a_commit_interval_and_keep_blocked_devices_cut(flash):
    lab, disk = flash
    metered, capped, paused = lab.clients
    rng = random.Random(SEED)
    os.makedirs(os.path.join(disk.mountpoint, "data"))
    os.symlink(os.path.join(disk.mountpoint, "data"), os.path.join(lab.dir, "data"))
    daemon = LabDaemon(lab, f"\nconfig device\n\toption mac '{capped.mac}'\n\toption cap '{CAP}'\n"
                            "\toption period 'daily'\n\toption action 'block'\n",
                       commit_interval=COMMIT_INTERVAL, poll_interval=POLL_INTERVAL)
    config = os.path.join(disk.mountpoint, "routerguard.conf")
    shutil.move(daemon.config, config)
    daemon.config = config
    disk.sync_all()  # the router as installed
    router = Router(lab, disk, daemon)
    daemon.start()

    # Before the cuts: one device over its cap, one blocked by the admin.
    capped.download(3_000_000, check=False)
    wait_until(lambda: state(daemon, capped) == "blocked", WAIT, "the capped device blocked")
    daemon.api("PATCH", f"/api/v1/devices/{paused.mac}", {"blocked": True})
    assert state(daemon, paused) == "blocked"
    answered = {c.mac: sum(c.truth(reset=True)) for c in (capped, paused)}
    metered.truth(reset=True)
    knock = metered.popen([sys.executable, "-c", KNOCK, metered.internet.ip4], stdout=subprocess.DEVNULL)
    wait_until(lambda: metered.truth()[1] > 0, WAIT, "a knock answered, from a device not blocked")
    knock.kill()
    knock.wait()
    tries = [c.popen([sys.executable, "-c", KNOCK, c.internet.ip4], stdout=subprocess.DEVNULL) for c in (capped, paused)]

    first_name = daemon.api("GET", f"/api/v1/devices/{metered.mac}")["name"]
    journal = os.path.join(disk.mountpoint, "data", JOURNAL_FILENAME)
    kinds = [kind for kind, n in KINDS.items() for _ in range(n)]
    rng.shuffle(kinds)
    assert len(kinds) == CUTS
    report = []
    for n, kind in enumerate(kinds):
        round_start = time.monotonic()
        before, truth = used(daemon, metered), Truth(metered)
        start_truth = sum(metered.truth())
        with metered.body_file(UPLOAD_BYTES) as body:
            upload = metered.popen(metered.upload_command(body, limit_rate=RATE), stdout=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.5, 2 * COMMIT_INTERVAL))  # the moment is the point: nothing to wait for
            arm = None
            if kind in ("commit", "fold"):  # after a commit of this round's usage: the journal has it to lose or fold
                wait_until(_grows(journal), WAIT, "a commit")
            if kind == "commit":  # the next commit's record written, its fdatasync never done
                disk.arm("fsync", r"^/data/usage\.journal$")
            elif kind == "config":  # in the middle of the config file's atomic replace
                disk.arm(CONFIG_STEPS[kinds[:n].count("config")], r"^/(\.routerguard-|routerguard\.conf$|$)", 1)
                threading.Thread(target=_rename, args=(daemon, metered, f"metered {n}"), daemon=True).start()
            else:
                disk.cut()
            if kind == "fold":  # and again in the middle of the start's fold of the journal
                arm = ("write", r"^/data/usage\.db-wal$", rng.randint(1, 4))
            elif kind == "secrets":  # and again while the start writes the secrets (the CLI's new token)
                arm = ("write", r"^/data/\.routerguard-", 1)
            wait_until(lambda: disk.dead, WAIT, f"the power cut ({kind})")
            cut_at = time.monotonic()
            router.power_off()
            truth.stop()
            at_cut = sum(metered.truth())
            upload.terminate()
            upload.wait()
        trigger = disk.status()["trigger"]
        booting = time.monotonic()
        second = router.boot(arm)
        booted = time.monotonic() - booting
        after = used(daemon, metered)
        moved = at_cut - start_truth
        lost = moved - (after - before)
        allowed = at_cut - truth.at(cut_at - WINDOW, start_truth) + BURST + int(moved * TOLERANCE)
        report.append(f"cut {n:2} {kind:7} ({time.monotonic() - round_start:4.1f} s) at {trigger}{' then ' + second if second else ''}: moved {moved}, "
                      f"lost {lost} (allowed {allowed}); boot {booted:.1f} s; blocked ones received "
                      f"{[c.truth()[1] for c in (capped, paused)]}")
        print(report[-1])
        assert lost <= allowed, "\n".join(report)
        assert after - before <= moved * (1 + TOLERANCE) + BURST, "\n".join(report)  # nothing counted twice
        assert state(daemon, capped) == "blocked" and state(daemon, paused) == "blocked", report[-1]
        name = daemon.api("GET", f"/api/v1/devices/{metered.mac}")["name"]
        assert name == first_name or name.startswith("metered "), name  # the config file: the old one or the new one

    for trying in tries:
        trying.terminate()
        trying.wait()
    set_aside = [line for line in daemon.log().splitlines() if "corrupt" in line or "damaged" in line]
    assert not set_aside, "\n".join(set_aside)  # no database, journal or record was ever found damaged
    for client in (capped, paused):  # not one answer crossed the router, before or after any cut
        up, down = client.truth()
        assert down == 0, f"{client} received {down} bytes while blocked ({up} sent; {answered[client.mac]} before)"


def _grows(path: str):
    """A condition: the file is larger than now (a commit was journaled)."""
    size = os.path.getsize(path)
    return lambda: os.path.getsize(path) > size


def _rename(daemon: LabDaemon, client: Client, name: str) -> None:
    """A config edit that the power cut interrupts (its answer never comes, or is an error)."""
    try:
        daemon.api("PATCH", f"/api/v1/devices/{client.mac}", {"name": name})
    except AssertionError:
        pass
