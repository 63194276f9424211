"""The C allocator's one setting that matters to a long-running daemon: glibc's; musl has none to set.

glibc serves a block of M_MMAP_THRESHOLD bytes or more (128 KiB by default)
with a mapping of its own and unmaps it when freed; but the threshold is
dynamic: freeing such a block raises it to the block's size (up to 32 MiB on
64-bit), and the heap's trim threshold to twice that. The page's login checks
the password with scrypt, 16 MiB (store/secrets.py): after the first login,
every later check took its 16 MiB from the heap (arena) of the waitress thread
that ran it, and the arena kept it once freed: +16 MiB of RSS for each arena
that ever checked a password, 47 → 80 MiB after three logins at 65k flows
(bench/router_class.py; MALLOC_ARENA_MAX=2 left it as high, two arenas).
Setting the threshold, to glibc's own default, turns the adjustment off:
large blocks are mapped and unmapped each time, and a heap's free top is
given back above 128 KiB (M_TRIM_THRESHOLD's default, no longer raised).

musl (OpenWrt) always maps large blocks (above ~128 KiB) and unmaps them on
free, has no such adjustment and no per-thread arenas: nothing to do there.
A MALLOC_MMAP_THRESHOLD_ in the environment is glibc's own way to say it,
and wins.

What the heaps keep below that size, glibc gives back only from a heap's
top; `malloc_trim` gives back every free page, wherever it lies. The daemon
calls it every TRIM_EVERY seconds from a thread of its own: 1-4 ms a call
here on heaps of 20-60 MiB; in bench/rss.py (65k flows, 250 devices) it took
0.7-1.1 MiB off metering and 2.5 MiB off browsing.
"""

from __future__ import annotations

import os
import threading
import time

M_MMAP_THRESHOLD = -3  # malloc.h
MMAP_THRESHOLD = 128 * 1024  # glibc's default (DEFAULT_MMAP_THRESHOLD_MIN), made fixed
TRIM_EVERY = 10.0  # seconds between two malloc_trim calls


def is_glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError):  # musl's Python knows no such name
        return False


def fix_mmap_threshold() -> bool:
    """Turn glibc's dynamic mmap threshold off (see above); True if it was set here."""
    if not is_glibc() or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    import ctypes  # only here: glibc's mallopt

    try:
        return ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    except (OSError, AttributeError):  # no symbol: not the libc this was written for
        return False


def trim_periodically(every: float = TRIM_EVERY) -> threading.Thread | None:
    """glibc: every `every` seconds, give the heaps' free pages back (malloc_trim); the thread, or None."""
    if not is_glibc():
        return None
    import ctypes  # only here: glibc's malloc_trim

    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]

    def loop() -> None:
        while True:
            time.sleep(every)
            trim(0)

    thread = threading.Thread(target=loop, name="malloc-trim", daemon=True)  # dies with the process
    thread.start()
    return thread
