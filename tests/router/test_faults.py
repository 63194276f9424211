"""Faults in the virtual router, and usage still right afterwards.

The daemon runs in the lab's router namespace (LabDaemon); clients move real
bytes; their own nftables counters are the truth. Disk faults use a
filesystem mounted only inside a mount namespace of its own (held by a
sleeping `unshare -m` process, reached through /proc/PID/root), never on
the host's paths: data_dir is a symlink into it.
"""

from __future__ import annotations

import errno
import glob
import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from typing import Callable, Iterator

import pytest

from routerguard.store.db import FILENAME, JOURNAL_FILENAME
from routerguard_lab import plan
from routerguard_lab.hosts import Client
from routerguard_lab.lab_daemon import LabDaemon
from routerguard_lab.topology import Lab
from routerguard_lab.wait import wait_until

pytestmark = pytest.mark.lab  # needs root and the kernel (see tests/conftest.py)

COMMIT_INTERVAL = 2
POLL_INTERVAL = 0.2
TOLERANCE = 0.01  # as in test_metering: conntrack's count against the client's
WAIT = 20.0
RATE = "500K"  # curl --limit-rate: a transfer long enough to be killed in the middle of
MID_INTERVAL_BYTES = 400_000  # at RATE: most of a commit interval after a commit
UPLOAD_BYTES = 50_000_000  # more than the test lets through at RATE
SAMPLING_SLACK = 0.2  # seconds: a truth sample's age, a reading's length
TINY_TMPFS = "4m"
EXT4_IMAGE_BYTES = 16 * 1024 * 1024
FILL_CHUNK = 64 * 1024
RANDOM_KILLS = 5
# What a stop or crash may lose (enforce/recovery.py): what crosses in the milliseconds between a reading
# and the kernel's counts read after it. curl paces an upload by sending 64 KiB at once, so it is all or
# nothing of one such burst.
BURST = 70_000


def data_dir(lab: Lab) -> str:
    return os.path.join(lab.dir, "data")


def total(usage: dict) -> int:
    return usage["up_bytes"] + usage["down_bytes"]


def used(daemon: LabDaemon, client: Client) -> int:
    return total(daemon.api("GET", f"/api/v1/devices/{client.mac}")["usage"])


def truth(client: Client) -> int:
    return sum(client.truth())


def assert_close(measured: int, expected: int, what: str, lost: int = 0) -> None:
    """Within the tolerance, or short of it by at most `lost` bytes."""
    assert expected * (1 - TOLERANCE) - lost <= measured <= expected * (1 + TOLERANCE), \
        f"{what}: metered {measured}, truth {expected}"


def assert_metered(daemon: LabDaemon, client: Client, what: str, since: tuple[int, int] = (0, 0), lost: int = 0) -> int:
    """Wait for the client's traffic since `since` (usage, truth) to be metered, check it, return the usage.

    The last packets of a transfer are counted a reading later, so this
    waits until the usage comes within the tolerance, then compares.
    """
    usage0, truth0 = since
    expected = truth(client) - truth0

    def metered() -> int:
        usage = used(daemon, client)
        return usage if usage - usage0 >= expected * (1 - TOLERANCE) - lost else 0

    usage = wait_until(metered, WAIT, f"{client}'s {expected} bytes to be metered ({what})")
    assert_close(usage - usage0, expected, what, lost)
    return usage


def start(lab: Lab, **options) -> LabDaemon:
    return LabDaemon(lab, commit_interval=COMMIT_INTERVAL, poll_interval=POLL_INTERVAL, **options).start()


def grows(path: str) -> Callable[[], bool]:
    """A condition: the file at `path` is larger than now (a commit reached the disk)."""
    size = os.path.getsize(path)
    return lambda: os.path.getsize(path) > size


@pytest.fixture
def daemons() -> Iterator[list[LabDaemon]]:
    """Daemons a test starts are killed at its end, before its disk goes (see private_mount)."""
    started: list[LabDaemon] = []
    yield started
    for daemon in started:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.stop(signal.SIGKILL)


# ---- kill -9 ----

def test_kill_9_during_traffic_loses_at_most_one_commit_interval(lab, daemons):
    client = lab.clients[0]
    daemon = start(lab)
    daemons.append(daemon)
    journal = os.path.join(data_dir(lab), JOURNAL_FILENAME)
    samples: list[tuple[float, int]] = []  # (time, truth) while the transfer runs
    commits = [os.path.getsize(journal)]

    def sample() -> int:
        """Commits seen so far; keeps a truth sample each time it is asked."""
        samples.append((time.monotonic(), truth(client)))
        if os.path.getsize(journal) > commits[-1]:
            commits.append(os.path.getsize(journal))
        return len(commits) - 1

    client.truth(reset=True)
    with client.body_file(UPLOAD_BYTES) as body:  # an upload: curl's rate limit paces the wire, no socket buffer
        transfer = client.popen(client.upload_command(body, limit_rate=RATE), stdout=subprocess.DEVNULL)
        wait_until(lambda: sample() >= 2, WAIT, "two commits during the transfer")
        last_commit = samples[-1][1]
        wait_until(lambda: sample() == 2 and samples[-1][1] > last_commit + MID_INTERVAL_BYTES, WAIT,
                   "the middle of a commit interval")
        assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
        killed_at, at_kill = time.monotonic(), truth(client)
        transfer.terminate()
        transfer.wait()
    final = truth(client)
    window = COMMIT_INTERVAL + 2 * POLL_INTERVAL + SAMPLING_SLACK  # since the last commit's last reading, at most
    before_window = max((n for t, n in samples if t <= killed_at - window), default=0)

    with sqlite3.connect(os.path.join(data_dir(lab), FILENAME)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    daemon.start()
    daemon.wait_readings()
    after = used(daemon, client)
    print(f"truth {before_window} a commit interval before the kill, {at_kill} at the kill, {final} at the end; "
          f"after restart {after}")
    assert before_window <= after  # the journal alone: at most one commit interval lost
    assert_close(after, final, "usage after the restart (the kernel's counters fill the gap)", lost=BURST)
    assert "corrupt" not in daemon.log() and "damaged" not in daemon.log()
    client.download(1_000_000)
    assert_metered(daemon, client, "traffic after the restart", since=(after, final))


def test_kill_9_at_random_moments_of_a_transfer_loses_nothing_the_kernel_counted(lab, daemons):
    """Crashes at seeded random moments (during a commit, a reading, right after a start): every time the
    database is sound, and in the end the usage is the transfer's, however many readings were lost."""
    moments = random.Random(20261125)
    client = lab.clients[0]
    daemon = start(lab)
    daemons.append(daemon)
    database = os.path.join(data_dir(lab), FILENAME)
    client.truth(reset=True)
    with client.body_file(UPLOAD_BYTES) as body:
        transfer = client.popen(client.upload_command(body, limit_rate=RATE), stdout=subprocess.DEVNULL)
        for _ in range(RANDOM_KILLS):
            time.sleep(moments.uniform(0, 2 * COMMIT_INTERVAL))  # the moment is the point: nothing to wait for
            assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
            with sqlite3.connect(database) as db:
                assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            daemon.start()
        daemon.wait_readings()
        transfer.terminate()
        transfer.wait()
    assert "corrupt" not in daemon.log() and "Traceback" not in daemon.log()
    assert_metered(daemon, client, f"a transfer across {RANDOM_KILLS} crashes", lost=RANDOM_KILLS * BURST)


def test_bytes_a_live_flow_moves_while_no_daemon_runs_are_charged_at_the_next_start(lab, daemons):
    client = lab.clients[0]
    daemon = start(lab)
    daemons.append(daemon)
    client.truth(reset=True)
    with client.body_file(UPLOAD_BYTES) as body:
        transfer = client.popen(client.upload_command(body, limit_rate=RATE), stdout=subprocess.DEVNULL)
        wait_until(lambda: truth(client) > MID_INTERVAL_BYTES, WAIT, "the transfer under way")
        assert daemon.stop() == 0
        stopped = truth(client)
        wait_until(lambda: truth(client) > stopped + 2 * MID_INTERVAL_BYTES, WAIT, "the transfer going on unread")
        daemon.start()  # the flow is still alive: its counters are taken as charged from here
        daemon.wait_readings()
        transfer.terminate()
        transfer.wait()
    assert "kernel counted" in daemon.log()
    assert_metered(daemon, client, "a transfer across a stop and a start", lost=BURST)


# ---- the disk: full, read-only ----

class PrivateMount:
    """A filesystem mounted inside a mount namespace of its own, kept alive by a sleeping process.

    Nothing is mounted where the host or the lab's other processes look:
    everyone reaches it through `path`, /proc/PID/root/MOUNTPOINT.
    """

    def __init__(self, mountpoint: str, mount_command: str) -> None:
        os.makedirs(mountpoint, exist_ok=True)
        self.mountpoint = mountpoint
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             f"{mount_command} {mountpoint} && echo ready && exec sleep infinity"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready", "mount failed"
        self.path = f"/proc/{self.proc.pid}/root{mountpoint}"

    def run(self, *argv: str) -> str:
        """A command inside the mount namespace."""
        return subprocess.run(["nsenter", "-t", str(self.proc.pid), "-m", *argv], check=True,
                              capture_output=True, text=True).stdout

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def private_mount(lab: Lab, daemons: list[LabDaemon]) -> Iterator[Callable[[str], PrivateMount]]:
    """mount(command) -> PrivateMount; data_dir becomes a link to it. Unmounted after the daemons stopped."""
    mounts: list[PrivateMount] = []

    def mount(command: str) -> PrivateMount:
        private = PrivateMount(os.path.join(lab.dir, "mnt"), command)
        mounts.append(private)
        os.symlink(private.path, data_dir(lab))
        return private

    yield mount
    for daemon in daemons:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.stop(signal.SIGKILL)
    for private in mounts:
        private.close()


def fill(folder: str) -> str:
    """Write zeros until the filesystem is full, to its last byte (a commit's record is tens of bytes: any
    room left would take hundreds of them); returns the filler's path."""
    path = os.path.join(folder, "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (FILL_CHUNK, 4096, 512, 1):
            try:
                while os.write(fd, bytes(chunk)):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    return path


def test_a_full_data_dir_keeps_usage_in_memory_and_writes_it_all_once_space_returns(lab, daemons, private_mount):
    disk = private_mount(f"mount -t tmpfs -o size={TINY_TMPFS} tmpfs")
    client = lab.clients[0]
    daemon = start(lab)
    daemons.append(daemon)
    daemon.token()  # written to data_dir while there is room
    client.truth(reset=True)
    filler = fill(disk.path)
    client.download(2_000_000)
    client.upload(500_000)
    metered = assert_metered(daemon, client, "usage while the disk is full")  # in memory: no commit can land
    wait_until(lambda: "No space left on device" in daemon.log(), WAIT, "the daemon to report the full disk")
    assert daemon.proc.poll() is None and "in memory" in daemon.log()

    os.unlink(filler)
    wait_until(grows(os.path.join(disk.path, JOURNAL_FILENAME)), WAIT, "a commit once space returned")
    assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL  # only what reached the disk counts now
    daemon.start()
    daemon.wait_readings()
    assert used(daemon, client) >= metered
    assert_metered(daemon, client, "usage written once space returned")


def test_a_data_dir_gone_read_only_keeps_metering_and_stops_cleanly(lab, daemons, private_mount):
    image = os.path.join(lab.dir, "data.img")
    with open(image, "wb") as f:
        f.truncate(EXT4_IMAGE_BYTES)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", image], check=True)
    disk = private_mount(f"mount -o loop,errors=remount-ro {image}")
    device = os.path.basename(disk.run("findmnt", "-no", "SOURCE", disk.mountpoint).strip())
    client = lab.clients[0]
    daemon = start(lab)
    daemons.append(daemon)
    daemon.token()
    client.truth(reset=True)
    with open(f"/sys/fs/ext4/{device}/trigger_fs_error", "w") as f:  # as flash errors do: ext4 goes read-only
        f.write("1")
    with pytest.raises(OSError) as refused:
        open(os.path.join(disk.path, "probe"), "w").close()
    assert refused.value.errno == errno.EROFS
    client.download(1_000_000)
    assert_metered(daemon, client, "usage metered on a read-only disk")
    wait_until(lambda: "Read-only file system" in daemon.log(), WAIT, "the daemon to report the read-only disk")
    assert daemon.stop() == 0
    said = daemon.log().splitlines()
    assert said[-1].startswith("routerguard: INFO stopped")
    last_commit = next(line for line in reversed(said) if "could not save usage" in line)  # the final one's
    assert "Read-only file system" in last_commit and "in memory" in last_commit
    assert "Traceback" not in daemon.log()


# ---- a corrupt database ----

def test_a_corrupt_database_at_start_is_set_aside_and_the_daemon_runs_with_its_config(lab):
    client = lab.clients[0]
    name = "Zhang phone"
    daemon = start(lab, extra=f"config device\n\toption mac '{client.mac}'\n\toption name '{name}'\n")
    daemon.token()
    assert daemon.stop() == 0
    for suffix in (FILENAME, JOURNAL_FILENAME):
        with open(os.path.join(data_dir(lab), suffix), "wb") as f:
            f.write(os.urandom(8192))
    daemon.start()
    aside = glob.glob(os.path.join(data_dir(lab), f"{FILENAME}.corrupt-*"))
    assert aside and glob.glob(os.path.join(data_dir(lab), f"{JOURNAL_FILENAME}.corrupt-*"))
    assert "is unreadable" in daemon.log() and os.path.basename(aside[0]) in daemon.log()
    assert daemon.api("GET", f"/api/v1/devices/{client.mac}")["name"] == name  # config and token kept
    client.truth(reset=True)
    client.download(1_000_000)
    assert_metered(daemon, client, "usage in the fresh database")
    daemon.stop()


# ---- a config edited badly while running ----

def test_a_bad_config_on_sighup_is_refused_and_usage_keeps_flowing(lab):
    client = lab.clients[0]
    daemon = start(lab, extra=f"config device\n\toption mac '{client.mac}'\n\toption name 'kept'\n")
    daemon.token()
    good = open(daemon.config).read()
    with open(daemon.config, "a") as f:
        f.write("\nconfig device\n\toption mac 'bogus'\n")
    daemon.proc.send_signal(signal.SIGHUP)
    refused = wait_until(lambda: (daemon.health() or {}).get("config_error"), WAIT, "the reload to be refused")
    assert "option 'mac'" in refused and "config reload refused" in daemon.log()
    client.truth(reset=True)
    client.download(1_000_000)
    assert_metered(daemon, client, "usage after a refused reload")
    assert daemon.api("GET", f"/api/v1/devices/{client.mac}")["name"] == "kept"
    with open(daemon.config, "w") as f:
        f.write(good)
    daemon.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: (daemon.health() or {"config_error": "?"})["config_error"] is None, WAIT, "the good config")
    assert daemon.stop() == 0


# ---- the uplink going down and up ----

def test_the_uplink_going_down_and_up_leaves_the_daemon_metering(lab):
    client = lab.clients[0]
    daemon = start(lab)
    router = lab.router
    router.ns.ip("link", "set", plan.WAN_IF, "down")
    daemon.proc.send_signal(signal.SIGUSR1)  # what OpenWrt's hotplug does on ifdown
    daemon.wait_readings()
    assert client.download(100_000, check=False, timeout=2) == 0
    router.ns.ip("link", "set", plan.WAN_IF, "up")
    # what netifd does on ifup: the addresses and routes the kernel dropped with the link
    router.ns.ip_batch([f"addr replace {plan.ROUTER_WAN6}/{plan.WAN6_PREFIXLEN} dev {plan.WAN_IF} nodad",
                        f"route replace default via {plan.INTERNET4}",
                        f"route replace ::/0 via {plan.INTERNET6}"])
    wait_until(lambda: json.loads(router.ns.ip("-j", "link", "show", plan.WAN_IF).stdout)[0]["operstate"] == "UP",
               WAIT, "the uplink to come back")
    daemon.proc.send_signal(signal.SIGUSR1)
    daemon.wait_readings()
    client.truth(reset=True)
    client.download(1_000_000)
    client.download(500_000, v6=True)
    assert_metered(daemon, client, "usage after the uplink came back")
    assert daemon.proc.poll() is None
    assert daemon.stop() == 0
