"""The leak guard in routerguard's table: the data saver's sets and rules, and unmetered uplinks' marks.

Data saver. dnsmasq fills `saver_<category>_4` and `_6` with the addresses
it resolves for the category's domains (enforce/dnsmasq.py); each address
stays SET_TIMEOUT after its last answer, so a long-lived connection to it
stays blocked while a CDN address that moved on is freed again. Rules reject
forwarded traffic from the devices concerned to those sets, and only when
it leaves by a metered uplink: "while the uplink is metered". Who is
concerned by a category: devices whose own `list block` names it, members
of groups whose `list block` names it, and, when `config saver` names it,
every device but exempt ones. Addresses are matched, not names: an address
shared by a blocked and an allowed service (a CDN) is blocked for both while
it is in the set.

Unmetered uplinks. A flow leaving by an uplink marked `metered '0'` gets
the reserved device id FREE_ID in its ct mark (forwarded and the router's
own), which the meter reads as "nobody pays"; a flow that later leaves by a
metered uplink (IPv6 after a switch) loses it again, and the enforcement
rules give it its device as for any new flow. Both come before the
device chains in the forward chain, so a rejected packet is charged to no
quota.
"""

from __future__ import annotations

from dataclasses import dataclass

from routerguard.config.model import Config
from routerguard.attribute.marks import FREE_ID, MARK_MASK, mark_of

SET_TIMEOUT = "1d"
SET_TYPES = (("4", "ipv4_addr", "ip"), ("6", "ipv6_addr", "ip6"))  # dnsmasq family, set type, rule keyword
OUTPUT_CHAIN = "unmetered_out"
OUTPUT_PRIORITY = "filter"


@dataclass(frozen=True)
class Block:
    category: str
    macs: tuple[str, ...] = ()  # named by their own or their group's list
    everyone: bool = False  # named by `config saver`: every device but the exempt ones


@dataclass(frozen=True)
class Saver:
    blocks: tuple[Block, ...] = ()
    exempt: tuple[str, ...] = ()
    unmetered: tuple[str, ...] = ()  # uplinks whose flows nobody pays for


def desired(config: Config) -> Saver:
    """Who is kept from which category, from the config's block lists, and the unmetered uplinks."""
    by_category: dict[str, set[str]] = {}
    for mac, device in config.devices.items():
        group = config.groups.get(device.group) if device.group else None
        for category in device.block + (group.block if group else ()):
            by_category.setdefault(category, set()).add(mac)
    for category in config.saver_block:
        by_category.setdefault(category, set())
    everyone = set(config.saver_block)
    blocks = tuple(Block(c, tuple(sorted(macs)), c in everyone) for c, macs in sorted(by_category.items()))
    return Saver(blocks, tuple(sorted(mac for mac, d in config.devices.items() if d.exempt)),
                 tuple(u.ifname for u in config.uplinks if not u.metered))


def set_names(category: str) -> tuple[str, str]:
    """The IPv4 and IPv6 set of a category (ids are letters, digits, '_' and '-', all valid in nft names)."""
    return f"saver_{category}_4", f"saver_{category}_6"


def declarations(saver: Saver, table: str) -> list[str]:
    """`add set` lines: adding an existing set keeps its addresses, so an update loses none."""
    return [f"add set {table} {name} {{ type {kind}; flags timeout; timeout {SET_TIMEOUT}; }}"
            for block in saver.blocks for name, (_, kind, _) in zip(set_names(block.category), SET_TYPES)]


def forward(saver: Saver, table: str, lan: str, metered: str, keep: int) -> list[str]:
    """Rules for the forward chain, before any device's: unmetered marks, then the saver's rejects.

    `lan` and `metered` are nft names (a quoted name; a set of them, not
    empty); `keep` the ct mark bits that are not a device id.
    """
    head = f"add rule {table} forward iifname {lan}"
    lines = [f"{head} {rule}" for rule in _marks(saver, metered, keep)]
    for block in saver.blocks:
        spared = [mac for mac in saver.exempt if mac not in block.macs]  # an exempt device's own list still counts
        if block.everyone:
            who = f" ether saddr != {{ {', '.join(spared)} }}" if spared else ""
        elif block.macs:
            who = f" ether saddr {{ {', '.join(block.macs)} }}"
        else:
            continue
        lines += [f"{head} oifname {metered}{who} {keyword} daddr @{name} goto cut"
                  for name, (_, _, keyword) in zip(set_names(block.category), SET_TYPES)]
    return lines


def router(saver: Saver, table: str, metered: str, keep: int) -> list[str]:
    """The router's own flows by an unmetered uplink are nobody's either."""
    if not saver.unmetered:
        return []
    return ([f"add chain {table} {OUTPUT_CHAIN} {{ type filter hook output priority {OUTPUT_PRIORITY}; policy accept; }}"]
            + [f"add rule {table} {OUTPUT_CHAIN} {rule}" for rule in _marks(saver, metered, keep)])


def chains(saver: Saver) -> set[str]:
    return {OUTPUT_CHAIN} if saver.unmetered else set()


def _marks(saver: Saver, metered: str, keep: int) -> list[str]:
    if not saver.unmetered:
        return []
    free, mask = f"{mark_of(FREE_ID):#010x}", f"{MARK_MASK:#010x}"
    unmetered = "{ " + ", ".join(f'"{name}"' for name in saver.unmetered) + " }"  # interface names, quoted as nft wants
    return [f"oifname {unmetered} ct mark and {mask} != {free} ct mark set ct mark and {keep:#010x} or {free}",
            f"oifname {metered} ct mark and {mask} == {free} ct mark set ct mark and {keep:#010x}"]
