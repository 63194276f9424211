"""GET /api/v1/uplinks over real HTTP and a real Core, the interfaces read from a /sys/class/net tree of the test's."""

from __future__ import annotations

import functools
from pathlib import Path

import requests

from routerguard.account.uplinks import Uplinks
from routerguard.read.links import read_link
from web_util import Site

HOTEL_WIFI = "\nconfig uplink\n\toption ifname 'wlan-sta'\n\toption metered '0'\n"


class Interfaces:
    """A fake /sys/class/net and default route the Core's uplink counters read."""

    def __init__(self, root: Path) -> None:
        self.root, self.default = root, None

    def set(self, name: str, operstate: str, tx: int, rx: int, ifindex: int) -> None:
        folder = self.root / name
        (folder / "statistics").mkdir(parents=True, exist_ok=True)
        for path, value in (("ifindex", ifindex), ("operstate", operstate), ("statistics/tx_bytes", tx),
                            ("statistics/rx_bytes", rx)):
            (folder / path).write_text(f"{value}\n")


def uplinks_of(site: Site) -> dict[str, dict]:
    response = requests.get(site.url("/api/v1/uplinks"), headers=site.bearer())
    assert response.status_code == 200, response.text
    return {u["ifname"]: u for u in response.json()["uplinks"]}


def test_every_known_uplink_with_its_use_metering_link_and_bytes(site: Site, tmp_path: Path) -> None:
    with open(site.config_path, "a") as f:
        f.write(HOTEL_WIFI)
    site.core.config_file.reload()
    interfaces = Interfaces(tmp_path / "sys")
    site.core.uplinks = Uplinks(functools.partial(read_link, root=str(interfaces.root)), lambda: interfaces.default)
    interfaces.set("wwan0", "up", tx=10_000, rx=50_000, ifindex=7)
    interfaces.default = "wwan0"
    first = uplinks_of(site)
    assert list(first) == ["wwan0", "wlan-sta"]
    assert first["wwan0"] == {"ifname": "wwan0", "metered": True, "link": True, "internet": None, "in_use": True,
                              "since": None, "up_bytes": 0, "down_bytes": 0}
    assert first["wlan-sta"] == {"ifname": "wlan-sta", "metered": False, "link": False, "internet": None,
                                 "in_use": False, "since": None, "up_bytes": 0, "down_bytes": 0}

    interfaces.set("wwan0", "up", tx=12_000, rx=80_000, ifindex=7)
    interfaces.set("wlan-sta", "up", tx=400, rx=900, ifindex=8)  # the hotel Wi-Fi joined: counted from its start
    interfaces.default = "wlan-sta"
    second = uplinks_of(site)
    assert (second["wwan0"]["up_bytes"], second["wwan0"]["down_bytes"]) == (2_000, 30_000)
    assert (second["wlan-sta"]["up_bytes"], second["wlan-sta"]["down_bytes"]) == (400, 900)
    assert second["wlan-sta"]["in_use"] and second["wlan-sta"]["link"] and not second["wwan0"]["in_use"]
    assert second["wlan-sta"]["since"] is not None and second["wlan-sta"]["since"] == second["wwan0"]["since"]


def test_uplinks_need_the_admin(site: Site) -> None:
    assert requests.get(site.url("/api/v1/uplinks")).status_code == 401
