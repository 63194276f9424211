"""Is the firewall's flow offloading on? From the ruleset (a flowtable) and from OpenWrt's UCI firewall file.

With `firewall.@defaults[0].flow_offloading='1'` fw4 adds a flowtable and
`flow offload @ft` first in its forward chain: an offloaded connection's
packets skip the forward hook of every table, so routerguard's counters,
quotas and limits there no longer see them (docs/enforcement.md). The
ruleset says so when the kernel took the flowtable; the UCI file says so
also where it did not (a kernel without CONFIG_NF_FLOW_TABLE: fw4's load
fails, or the flowtable is left out) and before fw4 ran at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from routerguard.config import uci

FIREWALL_CONFIG = "/etc/config/firewall"  # OpenWrt's; absent on Debian, which means "not said"
ON = ("1", "on", "true", "yes", "enabled")  # what uci's boolean options accept as true


@dataclass(frozen=True)
class Offload:
    """`found`: where it was seen, a flowtable ("inet fw4 ft") or the UCI option ("firewall.@defaults[0].flow_offloading='1'")."""

    found: tuple[str, ...] = ()
    hardware: bool = False

    @property
    def on(self) -> bool:
        return bool(self.found)


def from_uci(text: str) -> Offload:
    """The `config defaults` section of a UCI firewall file: flow_offloading, flow_offloading_hw."""
    package = uci.parse(text, FIREWALL_CONFIG)
    found: list[str] = []
    hardware = False
    for index, section in enumerate(package.find("defaults")):
        if (section.get("flow_offloading") or "").lower() in ON:
            found.append(f"firewall.@defaults[{index}].flow_offloading='1'")
            hardware |= (section.get("flow_offloading_hw") or "").lower() in ON
    return Offload(tuple(found), hardware)


def detect(firewall_config: str | None, flowtables: list[str]) -> Offload:
    """Both sources together: `flowtables` as enforce/nft.py lists them ("inet fw4 ft (hardware)")."""
    said = Offload()
    if firewall_config:
        try:
            with open(firewall_config) as f:
                said = from_uci(f.read())
        except (OSError, ValueError):  # no such file (Debian), or not UCI: the ruleset alone says
            pass
    found = tuple(flowtables) + said.found
    return Offload(found, said.hardware or any(name.endswith("(hardware)") for name in flowtables))
