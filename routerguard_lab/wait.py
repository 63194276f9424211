"""Polling with a deadline: the lab waits on conditions, never on guessed sleeps."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")

POLL_INTERVAL = 0.005


class LabTimeout(TimeoutError):
    """A condition the lab waited for did not come true in time."""


def wait_until(check: Callable[[], T], timeout: float, what: str) -> T:
    """Return the first truthy value of ``check()``; raise LabTimeout naming ``what`` after ``timeout`` s.

    The interval is short because the things waited on (links, leases,
    sockets) are usually ready within milliseconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise LabTimeout(f"lab: timed out after {timeout:g} s waiting for {what}")
        time.sleep(POLL_INTERVAL)
