"""glibc's mmap threshold fixed (routerguard/system/memory.py): a password check's 16 MiB is given back."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from routerguard.system import memory

# Four logins, each in a thread of its own as waitress's would be, then one in the main thread; prints the
# growth of VmRSS over the first login's (the first is returned under either setting: the threshold only rises
# once a mapped block has been freed).
LOGINS = r"""
import sys, threading
from routerguard.store.secrets import PASSWORD_METHOD
from routerguard.system.memory import fix_mmap_threshold
from werkzeug.security import check_password_hash, generate_password_hash

def rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))

if sys.argv[1] == "fixed":
    assert fix_mmap_threshold()
stored = generate_password_hash("a password", PASSWORD_METHOD)
check = lambda: check_password_hash(stored, "a password")
first = rss()
for _ in range(4):
    thread = threading.Thread(target=check)
    thread.start()
    thread.join()
check()
print(rss() - first)
"""


def grown_kib(setting: str) -> int:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, "-c", LOGINS, setting], env=env, capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


@pytest.mark.skipif(not memory.is_glibc(), reason="glibc's allocator only")
def test_logins_give_their_scrypt_memory_back():
    assert grown_kib("fixed") < 4 * 1024  # each check's 16 MiB unmapped when freed


@pytest.mark.skipif(not memory.is_glibc(), reason="glibc's allocator only")
def test_the_default_kept_it():
    """What the setting is for: glibc's dynamic threshold kept a check's 16 MiB in an arena after the first."""
    assert grown_kib("dynamic") >= 16 * 1024


def test_not_glibc_nothing_set(monkeypatch):
    def no_such_name(name: str) -> str:
        raise ValueError("unrecognized configuration name")

    monkeypatch.setattr(memory.os, "confstr", no_such_name)
    assert not memory.is_glibc()
    assert not memory.fix_mmap_threshold()


def test_environment_wins(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert not memory.fix_mmap_threshold()


TRIMMED = r"""
import random, sys, threading, time
from routerguard.system.memory import fix_mmap_threshold, trim_periodically

def rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))

fix_mmap_threshold()
kept = []
def churn():  # blocks under the threshold, one in seven kept: the rest is free space inside the heaps
    blocks = [bytes(random.randint(600, 60000)) for _ in range(3000)]
    kept.extend(blocks[::7])
for _ in range(2):
    thread = threading.Thread(target=churn)
    thread.start()
    thread.join()
churn()
before = rss()
trim_periodically(float(sys.argv[1]))
deadline = time.monotonic() + 30
while rss() > before - 20 * 1024 and time.monotonic() < deadline:
    time.sleep(0.05)
print(before - rss())
"""


@pytest.mark.skipif(not memory.is_glibc(), reason="glibc's allocator only")
def test_trimming_gives_free_heap_pages_back():
    done = subprocess.run([sys.executable, "-c", TRIMMED, "0.05"], capture_output=True, text=True, check=True)
    assert int(done.stdout) >= 20 * 1024  # of ~120 MiB made, ~100 MiB free inside the heaps


def test_not_glibc_no_trimming(monkeypatch):
    monkeypatch.setattr(memory, "is_glibc", lambda: False)
    assert memory.trim_periodically() is None
