"""An interface's link state and its own byte counters, from /sys/class/net (this network namespace's view).

The counters are the kernel's per-interface statistics: link-layer bytes
(Ethernet headers included) of everything the interface sent and received,
the router's own traffic as well as the LAN's forwarded traffic. They start
at 0 when the interface is created, so a modem that re-enumerates or a PPP
session that reconnects starts them again: account/uplinks.py tells that
from the interface's index, which a re-created interface does not keep.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

SYS_NET = "/sys/class/net"
NO_CARRIER_STATE = "unknown"  # tun, ppp and lo: the driver reports no operstate, the carrier says it


@dataclass(frozen=True)
class LinkReading:
    ifindex: int  # a re-created interface gets a new one
    link: bool  # operstate up (or unknown with a carrier: point-to-point devices)
    rx_bytes: int
    tx_bytes: int


def read_link(ifname: str, root: str = SYS_NET) -> LinkReading | None:
    """The interface's state now, or None when it does not exist (a USB modem unplugged, a PPP link down)."""
    folder = os.path.join(root, ifname)
    try:
        ifindex = int(_text(folder, "ifindex"))
        state = _text(folder, "operstate")
        rx = int(_text(folder, "statistics", "rx_bytes"))
        tx = int(_text(folder, "statistics", "tx_bytes"))
    except (OSError, ValueError):
        return None
    return LinkReading(ifindex, state == "up" or (state == NO_CARRIER_STATE and _carrier(folder)), rx, tx)


def _carrier(folder: str) -> bool:
    try:
        return _text(folder, "carrier") == "1"
    except OSError:  # reading carrier of an interface that is down is EINVAL
        return False


def _text(folder: str, *parts: str) -> str:
    with open(os.path.join(folder, *parts)) as f:
        return f.read().strip()
