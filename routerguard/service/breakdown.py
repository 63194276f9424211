"""What ate the data: destinations, services and categories of a device and of the plan."""

from __future__ import annotations

from typing import Iterable

from routerguard.account import destinations
from routerguard.account.ledger import ROUTER
from routerguard.attribute.categories import Catalog, catalog
from routerguard.attribute.names import describe
from routerguard.config.categories import shipped_ids
from routerguard.units import rfc3339
from routerguard.service.common import Area, byte_counts


class Breakdown(Area):
    """Destinations named and added up."""

    def destinations(self, mac: str) -> list[dict]:
        """What ate the device's data this period: bytes per name it looked up, biggest first."""
        mac = self._known(mac)
        window = self.snapshot().window(mac)
        return self._named(mac, window.start if window else None)

    def _named(self, mac: str, start: float | None) -> list[dict]:
        """The device's destinations since `start`, each with its service and category."""
        found = self._catalog()
        return destinations.view(self.core.destinations.top(mac, start), lambda name: describe(name, found))

    def _catalog(self) -> Catalog:
        """The shipped category lists with the config's own."""
        return catalog(self.core.config.categories)

    def categories_used(self, mac: str) -> list[dict]:
        """Bytes per category in the device's window, biggest first; they add up to its destinations.

        `category` null holds what is in no list: names no list knows, addresses
        without a name (the address is the name) and the "other" row."""
        return self._category_views(self.destinations(mac))

    def services_used(self, mac: str) -> list[dict]:
        """Bytes per service in the device's window, biggest first: what a guest reads on its own page.

        A name in no list is its own row (`service` null, `name` the name)."""
        rows = destinations.summed(self.destinations(mac), lambda row: (row["service"] or row["name"], row["service"] is not None,
                                                                         row["category"]))
        return [{"name": name, "service": name if listed else None, "category": category, **byte_counts(up, down)}
                for (name, listed, category), up, down in rows]

    def plan_breakdown(self) -> dict:
        """Where the plan's data went: bytes per category over every line, and every line's bytes, in the plan's window.

        Without a plan the window is all time, as `plan()` counts. A line's bytes
        its destinations do not cover (windows that began before the plan's, or
        were dropped) count to category null, so the categories add up to the
        plan's use."""
        snap = self.snapshot()
        limit = snap.plan()
        start = limit.start if limit else None
        rows: list[dict] = []
        lines = []
        for mac in self.core.ledger.macs():
            up, down = snap.usage(mac, start)
            if not up + down:
                continue
            named = self._named(mac, start)
            rest_up = up - sum(row["up_bytes"] for row in named)
            rest_down = down - sum(row["down_bytes"] for row in named)
            rows += named + [{"category": None, **byte_counts(max(rest_up, 0), max(rest_down, 0))}]
            lines.append({"mac": None if mac == ROUTER else mac, "name": None if mac == ROUTER else self.name_of(mac),
                          **byte_counts(up, down)})
        return {"from": rfc3339(start), "used_bytes": sum(line["total_bytes"] for line in lines),
                "categories": [view for view in self._category_views(rows) if view["total_bytes"]],
                "devices": sorted(lines, key=lambda line: line["total_bytes"], reverse=True)}

    def _category_views(self, rows: Iterable[dict]) -> list[dict]:
        found = self._catalog()
        return [{"category": cid, "name": found.get(cid).name if cid else None, **byte_counts(up, down)}  # ids come from this catalog
                for cid, up, down in destinations.summed(rows, lambda row: row["category"])]

    def categories(self) -> list[dict]:
        """Each category with its domains; `origin`: shipped, changed (a shipped id the config replaces) or added."""
        shipped, own = shipped_ids(), {c.id for c in self.core.config.categories}
        return [{"id": c.id, "name": c.name, "domains": c.domains,
                 "services": [{"name": name, "domains": list(domains)} for name, domains in c.services],
                 "origin": ("changed" if c.id in own else "shipped") if c.id in shipped else "added"}
                for c in self._catalog().categories]

