"""What the web tests share besides their fixtures (in conftest.py): a running router page and its devices."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import requests

from routerguard.core import Core
from routerguard.read.dns import Answer
from routerguard.read.leases import Lease
from routerguard.read.neighbours import Neighbour
from routerguard.service import Service

PASSWORD = "correct horse battery"
PHONE = "02:00:00:00:00:0a"
LAPTOP = "02:00:00:00:00:0b"
LAN_IFINDEX = 1


@dataclass
class Site:
    """One running router page, and the state behind it."""

    base: str
    core: Core
    service: Service
    config_path: str

    def url(self, path: str) -> str:
        return self.base + path

    def device(self, mac: str, ip: str, hostname: str | None = None) -> None:
        """A device on the LAN, as the neighbour table and the leases would show it."""
        self.core.directory.refresh([Neighbour(ip, mac, LAN_IFINDEX)], [Lease(mac, ip, hostname, 0)], LAN_IFINDEX,
                                    self.core.now())

    def usage(self, mac: str, up: int, down: int, ago: float = 0) -> None:
        self.core.ledger.add(mac, up, down, self.core.now() - ago)

    def charge(self, mac: str, address: str, up: int, down: int, name: str | None = None) -> None:
        """Bytes to one address, charged as the meter does (the ledger and the destinations); `name`: the DNS answer seen."""
        packed = socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET, address)
        if name:
            self.core.names.learn(mac, Answer(name, (packed,)))
        self.core.ledger.add(mac, up, down, self.core.now())
        self.core.destinations.add(mac, packed, up, down)

    def login(self) -> requests.Session:
        """A browser-like session: logged in, sending its CSRF token on every request."""
        session = requests.Session()
        response = session.post(self.url("/api/v1/session"), json={"password": PASSWORD})
        assert response.status_code == 200, response.text
        session.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        return session

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.core.secrets.new_token('test')}"}

    def config_bytes(self) -> bytes:
        return Path(self.config_path).read_bytes()
