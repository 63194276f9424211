"""Free uplinks first: the uplinks' view, and a device's `metered_access` (view and change)."""

from __future__ import annotations

from typing import Any, Callable

from routerguard.config import uci
from routerguard.decide.uplinks import MAX_PROBES_A_DAY, is_metered, no_metered_access
from routerguard.units import rfc3339
from routerguard.service.common import Area, Invalid


class Uplinks(Area):
    """The uplinks with their state, and who never goes over a metered one."""

    def uplinks(self) -> list[dict]:
        """Every uplink routerguard knows (wan_if, `config uplink`): link, internet, in use, since, bytes, probes.

        `internet` is the probes' verdict for an unmetered uplink (true: a 204
        came back; false: no answer, or a captive portal's); null for a metered
        uplink (never probed) and for one whose link is down or not probed yet.
        """
        core = self.core
        names = core.config.uplink_names
        core.uplinks.poll(names)
        views = []
        for name in names:
            status = core.uplinks.status(name)
            metered = is_metered(core.config, name)
            view = {"ifname": name, "metered": metered, "link": status.link,
                    "internet": None if metered or not status.link else status.internet,
                    "in_use": status.in_use, "since": rfc3339(status.since),
                    "up_bytes": status.up_bytes, "down_bytes": status.down_bytes}
            if status.probes:  # an uplink that was probed: what the probes found and cost (none cross a metered one)
                view["probe"] = {"verdict": status.verdict, "count": status.probes, "bytes": status.probe_bytes,
                                 "max_a_day": MAX_PROBES_A_DAY}
            views.append(view)
        return views

    def _metered_access_view(self, mac: str) -> dict:
        """`metered_access` and whether it refuses the device's traffic now (a metered uplink is in use)."""
        allowed = mac not in no_metered_access(self.core.config)
        if allowed:  # the common case: no need to read the routing table (a file read) for each device
            return {"metered_access": True, "metered_refused": False}
        in_use = self.core.uplinks.in_use()
        return {"metered_access": False, "metered_refused": in_use is None or is_metered(self.core.config, in_use)}

    def _parse_metered_access(self, mac: str, value: Any) -> Callable[[uci.Section], None]:
        """The edit of the device's section that `"metered_access": true/false` asks for."""
        if not isinstance(value, bool):
            raise Invalid("metered_access must be true or false")
        device = self.core.config.devices.get(mac)
        group = self.core.config.groups.get(device.group) if device and device.group else None
        group_allows = group.metered_access if group else True
        if value == group_allows:
            return lambda s: s.delete("metered_access")  # as its group (or the default) says
        return lambda s: s.set("metered_access", "1" if value else "0")
