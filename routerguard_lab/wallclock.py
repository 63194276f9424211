"""A wall clock a test moves under the daemon, as NTP or an admin moves a router's.

A network namespace shares the machine's CLOCK_REALTIME, so the daemon runs
under libfaketime (Debian: faketime), which adds the offset in a file to
every wall-clock reading and rereads the file on every call; the monotonic
clock stays real, as on a router whose wall clock jumps. The offset goes
with LD_PRELOAD to every program the daemon runs (nft, dnsmasq), as a
router's clock does.

libfaketime 0.9.10 (Debian 12) breaks time.sleep() when the monotonic clock
is not faked: it turns clock_nanosleep's absolute monotonic deadline into a
negative one, so every sleep fails with EINVAL (libfaketime issue 426, fixed
in 0.9.11), and subprocess's timed waits sleep. A sitecustomize put on the
daemon's PYTHONPATH sleeps on an event instead, whose timed wait
libfaketime leaves alone; nothing else of the daemon changes.
"""

from __future__ import annotations

import glob
import os
import time

LIBRARY_PATTERN = "/usr/lib/*/faketime/libfaketimeMT.so.1"  # the multi-threaded build: the daemon has threads
DAY = 86400
SITECUSTOMIZE = """import threading
import time


def sleep(seconds: float) -> None:
    \"\"\"time.sleep without clock_nanosleep, which libfaketime 0.9.10 breaks (see routerguard_lab.wallclock).\"\"\"
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    threading.Event().wait(seconds)


time.sleep = sleep
"""


def library() -> str | None:
    """The preloadable libfaketime, or None when the faketime package is not installed."""
    found = sorted(glob.glob(LIBRARY_PATTERN))
    return found[0] if found else None


class WallClock:
    """The offset file libfaketime reads, and the environment that makes a process read it."""

    def __init__(self, folder: str) -> None:
        self.path = os.path.join(folder, "faketime")
        self.site = os.path.join(folder, "faketime-site")
        os.makedirs(self.site, exist_ok=True)
        with open(os.path.join(self.site, "sitecustomize.py"), "w") as f:
            f.write(SITECUSTOMIZE)
        self.offset = 0.0
        self.shift(0.0)

    def env(self) -> dict[str, str]:
        lib = library()
        if lib is None:
            raise RuntimeError("libfaketime is missing: apt-get install faketime")
        return {"LD_PRELOAD": lib, "FAKETIME_TIMESTAMP_FILE": self.path,
                "FAKETIME_NO_CACHE": "1", "DONT_FAKE_MONOTONIC": "1", "PYTHONPATH": self.site}

    def now(self) -> float:
        """What the faked wall clock reads now."""
        return time.time() + self.offset

    def shift(self, seconds: float) -> None:
        """Jump the faked wall clock by `seconds` (negative: back)."""
        self.offset += seconds
        temporary = f"{self.path}.new"
        with open(temporary, "w") as f:
            f.write(f"{self.offset:+.6f}\n")
        os.replace(temporary, self.path)  # a reader never sees a half-written offset

    def set(self, epoch: float) -> None:
        """Jump the faked wall clock to read `epoch` now."""
        self.shift(epoch - self.now())
