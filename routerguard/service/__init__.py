"""The narrow interface the page, the API and the CLI use: views and commands.

Views are plain dicts in the API's shapes (../shared/interface.md: DEVICE,
plan, groups). Commands validate everything before changing anything, so a
bad request changes nothing: `Invalid` (HTTP 422) names the field and what
would be valid, `NotFound` (404) the missing thing. One module per area;
`Service` is all of them over one Core.
"""

from __future__ import annotations

from datetime import datetime

from routerguard.core import Core
from routerguard.decide.limits import Snapshot
from routerguard.units import rfc3339

from routerguard.service.breakdown import Breakdown
from routerguard.service.bundles import Bundles
from routerguard.service.common import (MAX_BLOCK_SECONDS, MAX_NAME, MAX_TOPUP,
                                        Conflict, Invalid, NotFound, parse_cap, parse_time)
from routerguard.service.devices import Devices
from routerguard.service.history import HISTORY_SPAN, History
from routerguard.service.notifications import Notifications
from routerguard.service.plan import Plan
from routerguard.service.saver import MAX_DOMAINS, Saver
from routerguard.service.topups import TopUps
from routerguard.service.uplinks import Uplinks
from routerguard.service.views import Views

ALERTS_SHOWN = 200

__all__ = ["Service", "Invalid", "NotFound", "Conflict", "parse_time", "parse_cap", "HISTORY_SPAN", "MAX_BLOCK_SECONDS",
           "MAX_DOMAINS", "MAX_NAME", "MAX_TOPUP"]


class Service(Views, Devices, Plan, History, Breakdown, Notifications, Saver, TopUps, Bundles, Uplinks):
    """Every area's views and commands over one Core; what is left here concerns them all."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.secrets = core.secrets  # the page's logins and the API's tokens

    def snapshot(self) -> Snapshot:
        return self.core.snapshot()

    def known_macs(self) -> list[str]:
        return self.core.known_macs()


    def health(self) -> dict:
        health = self.core.health
        return {"ok": True, "readings": health.readings, "config_error": health.config_error,
                "events_lost": health.events_lost, "unattributed_bytes": health.unattributed_bytes}

    def alerts(self) -> list[dict]:
        return [{"id": a.id, "time": rfc3339(a.time), "kind": a.kind, "mac": a.mac, "message": a.message, "params": a.params}
                for a in self.core.alerts.recent(ALERTS_SHOWN)]

    def local_time(self, text: str) -> datetime:
        """An RFC 3339 time from a view on the router's wall clock, for the page."""
        return self.core.zone.to_local(parse_time(text, "time"))

    def own_names(self) -> set[str]:
        """The addresses the page is served on and the names the admin gave it: part of the Host check."""
        main = self.core.config.main
        return {host for host, _ in main.listen} | set(main.server_name)

