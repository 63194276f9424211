"""The data saver in the kernel: per blocked category, two nftables sets and the rules that use them.

dnsmasq fills `saver_<category>_4` and `_6` with the addresses it resolves
for the category's domains (enforce/dnsmasq.py); each address stays
SET_TIMEOUT after its last answer, so a long-lived connection to it stays
blocked while a CDN address that moved on is freed again. Rules reject
forwarded traffic from the devices concerned to those sets, and only when
it leaves by a metered uplink: "while the uplink is metered".

Who is concerned by a category: devices whose own `list block` names it,
members of groups whose `list block` names it, and, when `config saver`
names it, every device but exempt ones. Addresses are matched, not names:
an address shared by a blocked and an allowed service (a CDN) is blocked for
both while it is in the set.
"""

from __future__ import annotations

from dataclasses import dataclass

from routerguard.config.model import Config

TABLE_FAMILY, TABLE_NAME = "inet", "routerguard"
SET_TIMEOUT = "1d"
SET_TYPES = (("4", "ipv4_addr", "ip"), ("6", "ipv6_addr", "ip6"))  # dnsmasq family, set type, rule keyword


@dataclass(frozen=True)
class Block:
    category: str
    macs: tuple[str, ...] = ()  # named by their own or their group's list
    everyone: bool = False  # named by `config saver`: every device but the exempt ones


@dataclass(frozen=True)
class Saver:
    blocks: tuple[Block, ...] = ()
    exempt: tuple[str, ...] = ()


def desired(config: Config) -> Saver:
    """Who is kept from which category, from the config's block lists."""
    by_category: dict[str, set[str]] = {}
    for mac, device in config.devices.items():
        group = config.groups.get(device.group) if device.group else None
        for category in device.block + (group.block if group else ()):
            by_category.setdefault(category, set()).add(mac)
    for category in config.saver_block:
        by_category.setdefault(category, set())
    everyone = set(config.saver_block)
    blocks = tuple(Block(c, tuple(sorted(macs)), c in everyone) for c, macs in sorted(by_category.items()))
    return Saver(blocks, tuple(sorted(mac for mac, d in config.devices.items() if d.exempt)))


def set_names(category: str) -> tuple[str, str]:
    """The IPv4 and IPv6 set of a category (ids are letters, digits, '_' and '-', all valid in nft names)."""
    return f"saver_{category}_4", f"saver_{category}_6"


def sets(saver: Saver) -> set[str]:
    return {name for block in saver.blocks for name in set_names(block.category)}


def declarations(saver: Saver, table: str) -> list[str]:
    """`add set` lines: adding an existing set keeps its addresses, so an update loses none."""
    return [f"add set {table} {name} {{ type {kind}; flags timeout; timeout {SET_TIMEOUT}; }}"
            for block in saver.blocks for name, (_, kind, _) in zip(set_names(block.category), SET_TYPES)]


def rules(saver: Saver, table: str, chain: str, lan: str, metered: str, verdict: str) -> list[str]:
    """Rules for `chain` (a forward chain): `verdict` (e.g. "goto cut") for concerned traffic; `metered` is an nft set of names."""
    lines = []
    for block in saver.blocks:
        spared = [mac for mac in saver.exempt if mac not in block.macs]  # an exempt device's own list still counts
        if block.everyone:
            who = f" ether saddr != {{ {', '.join(spared)} }}" if spared else ""
        elif block.macs:
            who = f" ether saddr {{ {', '.join(block.macs)} }}"
        else:
            continue
        for name, (_, _, keyword) in zip(set_names(block.category), SET_TYPES):
            lines.append(f"add rule {table} {chain} iifname {lan} oifname {metered}{who} {keyword} daddr @{name} {verdict}")
    return lines
