"""The views every page load asks for, made once per reading instead of once per request.

The dashboard, the device list (/api/v1/devices, live.js polls it every 3 s
from each open page), the plan, the groups, the plan's breakdown, /metrics
and the SNMP agent all show the same figures, and those change only when the
meter reads (every poll interval) or when a command changes something. So
the daemon's loop calls `views_changed()` after each reading and after each
change (its `core.on_change`), and the first request after that makes these
views, once, for every request until the next change: a request costs what
it shows (the template, the JSON), not a Snapshot and a view per device per
request, and a router nobody looks at makes none. A change on the page marks
them before its request returns, so the page never shows the state before a
click.

While someone looks (a view was asked for in the last WATCHED_SECONDS:
an open dashboard polls every 3 s), the loop makes them right after the
reading instead (`views_read()`), so no request waits for their making; a
router nobody looks at still makes none.

Until the first `views_changed()` (the tests' Service over a Core, the
daemon before its first reading) every view is made afresh, as before. One
device's view (`device(mac)`) is always made afresh: it is cheap and follows
a command.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import NamedTuple

from routerguard.service.common import Area


class Published(NamedTuple):
    devices: list[dict]
    plan: dict
    groups: list[dict]
    breakdown: dict
    made_at: float
    serial: int  # the change they show; unique in the process: what the page keys its renderings by


_serials = itertools.count(1)
WATCHED_SECONDS = 30.0  # a view asked for this recently: someone looks, and the loop makes the next ones


class Views(Area):
    """Served from the latest publication when there is one (first in Service's bases: it wraps the areas' views)."""

    _published: Published | None = None
    _wanted: int | None = None  # the latest change's serial; None: made per request
    _making = threading.Lock()  # one making at a time: the page's threads wait for it instead of each making their own
    _asked = float("-inf")  # when a request last asked for a view (monotonic)

    def views_changed(self) -> None:
        """A reading or a change happened: the next view asked for is made afresh, once, for all requests."""
        self._wanted = next(_serials)

    def views_read(self) -> None:
        """A reading happened: the views are made now if someone looks, else at the next request."""
        self.views_changed()
        if time.monotonic() - self._asked < WATCHED_SECONDS:
            self._publish()

    def publish_views(self) -> None:
        """Make the views now (instead of at the next request)."""
        self.views_changed()
        self._publish()

    def publication(self) -> Published | None:
        """The views of the latest change, made now if not yet; None when they are made per request. A page may
        keep what it rendered from them (the dashboard's device cards) while the serial stays the same."""
        self._asked = time.monotonic()
        return self._publish()

    def _publish(self) -> Published | None:
        published, wanted = self._published, self._wanted
        if wanted is None or (published is not None and published.serial == wanted):
            return published if wanted is not None else None
        with self._making:
            published, wanted = self._published, self._wanted
            if published is None or published.serial != wanted:
                # A change while these are made marks them stale again (a newer serial): made again next time.
                published = self._published = Published(
                    super().devices(), super().plan(), super().groups(),  # type: ignore[misc]
                    super().plan_breakdown(), self.core.now(), wanted)  # type: ignore[misc]
            return published

    def stop_publishing(self) -> None:
        """Back to a view per request (the daemon stops reading)."""
        self._wanted = None
        self._published = None

    def devices(self) -> list[dict]:
        published = self.publication()
        return published.devices if published is not None else super().devices()  # type: ignore[misc]

    def plan(self) -> dict:
        published = self.publication()
        return published.plan if published is not None else super().plan()  # type: ignore[misc]

    def groups(self) -> list[dict]:
        published = self.publication()
        return published.groups if published is not None else super().groups()  # type: ignore[misc]

    def plan_breakdown(self) -> dict:
        published = self.publication()
        return published.breakdown if published is not None else super().plan_breakdown()  # type: ignore[misc]
