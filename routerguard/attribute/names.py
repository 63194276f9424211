"""Which name a device looked up for an address: address → name → service → category.

Names come from the DNS answers the router sends to each device. A device
asks over IPv4 and connects over IPv6 (or the other way round), so answers
are kept per device (MAC), not per client address. An address answered to
another device is the fallback: a CDN address shared by two names then
takes the name seen last, which is the likelier one. Bounded: the oldest
answers are forgotten first.
"""

from __future__ import annotations

import socket
import threading
from collections import OrderedDict

from routerguard.attribute.categories import Catalog
from routerguard.read.dns import Answer

MAX_NAMES = 8192  # (device, address) pairs remembered; ~1 MB


def address_text(packed: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6 if len(packed) == 16 else socket.AF_INET, packed)


class Names:
    def __init__(self, limit: int = MAX_NAMES) -> None:
        self.limit = limit
        self._lock = threading.Lock()  # the meter loop learns while the page looks up
        self._by_device: OrderedDict[tuple[str, bytes], str] = OrderedDict()
        self._by_address: OrderedDict[bytes, str] = OrderedDict()

    def learn(self, mac: str | None, answer: Answer) -> None:
        """Remember an answer sent to `mac` (None: a device not known yet)."""
        with self._lock:
            for address in answer.addresses:
                if mac is not None:
                    _put(self._by_device, (mac, address), answer.name, self.limit)
                _put(self._by_address, address, answer.name, self.limit)

    def name(self, mac: str, address: bytes) -> str | None:
        with self._lock:
            return self._by_device.get((mac, address)) or self._by_address.get(address)


def _put(table: OrderedDict, key: object, name: str, limit: int) -> None:
    table[key] = name
    table.move_to_end(key)
    if len(table) > limit:
        table.popitem(last=False)


def describe(name: str, catalog: Catalog) -> dict:
    """The API's view of one destination name: its service and category, when listed."""
    match = catalog.classify(name)
    return {"name": name, "service": match.service if match else None, "category": match.category if match else None}
