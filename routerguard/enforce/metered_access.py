"""`metered_access '0'` in routerguard's table: these devices' traffic never leaves by a metered uplink.

One rule in the forward chain, before any device's chain (so a refused packet
is charged to no quota): a packet from one of these MACs towards a metered
uplink goes to `cut`, which answers a TCP connection with a reset and
anything else with an ICMP "administratively prohibited", so the device
learns at once instead of waiting for a timeout. Traffic by an unmetered
uplink is not touched; while one works (decide/uplinks.py `choose`), these
devices are online as usual.
"""

from __future__ import annotations


def forward(macs: tuple[str, ...], table: str, lan: str, metered: str) -> list[str]:
    """`lan` and `metered` are nft names (a quoted name; a set of them)."""
    if not macs:
        return []
    return [f"add rule {table} forward iifname {lan} oifname {metered} ether saddr {{ {', '.join(macs)} }} goto cut"]
