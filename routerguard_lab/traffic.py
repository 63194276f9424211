"""Mixed, endless, realistic-looking traffic from lab clients, for demos.

Each client browses, streams, updates its OS, sends messages and backs up
photos, over IPv4 and IPv6, to the lab's DNS names (so the router sees the
lookups; the video, update and backup names are in the shipped categories),
with pauses between. Rates are capped like a real uplink so that usage grows
at a pace a person can watch. One client may leak: a photo backup running
in the background without pause, the kind of use the leak guard is for.
"""

from __future__ import annotations

import random
import subprocess
import threading
from dataclasses import dataclass

from . import plan
from .hosts import Client

V6_SHARE = 0.4
PAUSE_SECONDS = (0.3, 4.0)
TRANSFER_TIMEOUT = 120.0


@dataclass(frozen=True)
class Activity:
    name: str
    upload: bool
    size: tuple[int, int]  # bytes, drawn uniformly
    limit_rate: str | None  # curl's --limit-rate
    weight: int
    hosts: tuple[str, ...]  # drawn uniformly


WEB = ("dl.example.test", "cdn.example.test")
ACTIVITIES = (
    Activity("web page", False, (20_000, 400_000), None, 6, WEB),
    Activity("video", False, (5_000_000, 30_000_000), "2M", 2, (f"rr3.{plan.VIDEO_NAME}", f"rr5.{plan.VIDEO_NAME}")),
    Activity("OS update", False, (10_000_000, 50_000_000), "4M", 1, (plan.OS_UPDATE_NAME,)),
    Activity("message", True, (2_000, 50_000), None, 4, WEB),
    Activity("photo backup", True, (1_000_000, 8_000_000), "500K", 2, (plan.PHOTO_BACKUP_NAME,)),
)
# A backup that never rests: ~1 MiB/s up, so a small cap's alert comes within a minute or two.
LEAK = (Activity("background photo backup", True, (8_000_000, 16_000_000), "1M", 1, (plan.PHOTO_BACKUP_NAME,)),)
LEAK_PAUSE_SECONDS = (0.1, 0.5)


class MixedTraffic:
    """One thread per client running transfers until ``stop()``; ``leaky`` runs LEAK instead of the mix."""

    def __init__(self, clients: list[Client], seed: int = 0, leaky: Client | None = None) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[int, subprocess.Popen] = {}
        self._threads = [
            threading.Thread(target=self._loop, args=(c, random.Random(seed * 1000 + c.index), c is leaky),
                             name=f"lab-traffic-{c.hostname}", daemon=True)
            for c in clients]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """End every transfer now and wait for the threads."""
        self._stop.set()
        with self._lock:
            for proc in self._running.values():
                proc.terminate()
        for thread in self._threads:
            thread.join()

    def _loop(self, client: Client, rng: random.Random, leaks: bool) -> None:
        activities, pause = (LEAK, LEAK_PAUSE_SECONDS) if leaks else (ACTIVITIES, PAUSE_SECONDS)
        while not self._stop.is_set():
            act = rng.choices(activities, weights=[a.weight for a in activities])[0]
            nbytes = rng.randint(*act.size)
            options = {"host": rng.choice(act.hosts), "limit_rate": act.limit_rate,
                       "timeout": TRANSFER_TIMEOUT}
            v6 = rng.random() < V6_SHARE
            if act.upload:
                with client.body_file(nbytes) as body:
                    self._run(client, client.upload_command(body, v6, **options))
            else:
                self._run(client, client.download_command(nbytes, v6, **options))
            self._stop.wait(rng.uniform(*pause))

    def _run(self, client: Client, argv: list[str]) -> None:
        """Run one transfer; failures (a blocked device, say) are part of the show."""
        with self._lock:
            if self._stop.is_set():
                return
            proc = client.ns.popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
            self._running[client.index] = proc
        proc.wait()
        with self._lock:
            del self._running[client.index]
