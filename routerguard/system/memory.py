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
"""

from __future__ import annotations

import os

M_MMAP_THRESHOLD = -3  # malloc.h
MMAP_THRESHOLD = 128 * 1024  # glibc's default (DEFAULT_MMAP_THRESHOLD_MIN), made fixed


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
