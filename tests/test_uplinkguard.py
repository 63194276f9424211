"""uplinkguard.py's steps with the kernel and the network faked: the choice follows the probes, the routing
follows the choice, connections of the uplink left behind are dropped, and moves raise `uplink` alerts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import routerguard.uplinkguard as guard_module
from routerguard.core import Core
from routerguard.decide import uplinks as decide
from routerguard.read.links import LinkReading
from routerguard.read.probe import CAPTIVE, OK, ProbeResult
from routerguard.uplinkguard import UplinkGuard

CONFIG = """config routerguard 'main'
\toption lan_if 'br-lan'
\tlist wan_if 'wwan0'
\toption listen '127.0.0.1:8080'
\toption data_dir '{data}'

config uplink
\toption ifname 'wlan-sta'
\toption metered '0'
\toption probe_url 'http://192.0.2.1/generate_204'
"""


class FakeRouting:
    def __init__(self) -> None:
        self.current = None
        self.log: list[tuple] = []

    def start(self) -> None:
        self.log.append(("start",))

    def use(self, ifname, gateways, others_unreachable=True) -> None:
        self.current = (ifname, dict(gateways)) if ifname else None
        self.log.append(("use", ifname, dict(gateways)))

    def close(self) -> None:
        self.log.append(("close",))


@pytest.fixture
def world(tmp_path: Path, monkeypatch):
    path = tmp_path / "routerguard"
    path.write_text(CONFIG.format(data=tmp_path / "data"))
    core = Core(str(path))
    core.uplinks._route = lambda: "wwan0"  # the main table's default: the eSIM
    monkeypatch.setattr(guard_module, "default_interface", lambda: state["main"])
    state = {"verdict": OK, "dropped": [], "tx": 0, "main": "wwan0"}
    monkeypatch.setattr(guard_module, "read_link", lambda name: LinkReading(3, True, 0, state["tx"]))
    monkeypatch.setattr(guard_module, "probe", lambda ifname, sources, target: ProbeResult(state["verdict"], None, 690))
    monkeypatch.setattr(guard_module.iproute, "interface_addresses",
                        lambda name: {socket.AF_INET: {"wlan-sta": "192.168.77.2", "wwan0": "10.1.2.3"}[name]})
    monkeypatch.setattr(guard_module.iproute, "gateway", lambda name, family: (
        {"wlan-sta": "192.168.77.1", "wwan0": "10.1.2.1"}[name] if family == socket.AF_INET else None))
    monkeypatch.setattr(guard_module, "drop_flows", lambda addresses: state["dropped"].append(list(addresses)) or 1)
    monkeypatch.setattr(guard_module.mwan3, "running", lambda: False)
    alerts = []
    guard = UplinkGuard(core, alerts.append)
    guard.routing = FakeRouting()
    return core, guard, state, alerts


def test_the_free_uplink_is_chosen_left_and_taken_back(world) -> None:
    core, guard, state, alerts = world
    guard.step(0.0)
    assert guard.routing.current == ("wlan-sta", {socket.AF_INET: "192.168.77.1"})
    assert core.uplinks.in_use() == "wlan-sta" and state["dropped"] == [["10.1.2.3"]]  # the eSIM's flows
    assert alerts == []  # the first choice is no move

    state["verdict"], state["tx"] = CAPTIVE, 100_000  # busy, then a portal
    t = decide.HEALTHY_INTERVAL
    guard.step(t)
    assert core.uplinks.in_use() == "wlan-sta"  # one failure: not yet
    guard.step(t + decide.RETRY_AFTER)
    assert guard.routing.current is None and core.uplinks.in_use() == "wwan0"  # the main table's: the eSIM
    assert state["dropped"][-1] == ["192.168.77.2"]  # the hotel's flows
    assert [(a.kind, a.params["to"], a.params["metered"], a.params["why"]) for a in alerts] == [
        ("uplink", "wwan0", True, "captive")]

    state["verdict"] = OK
    t += decide.RETRY_AFTER + decide.FAILING_INTERVAL
    guard.step(t)
    guard.step(t + decide.FAILING_INTERVAL)
    assert core.uplinks.in_use() == "wlan-sta" and alerts[-1].params == {
        "to": "wlan-sta", "from": "wwan0", "metered": False, "why": ""}
    status = core.uplinks.status("wlan-sta")
    assert status.probes == 5 and status.probe_bytes == 5 * 690 and status.internet is True

    guard.stop()
    assert guard.routing.log[-1] == ("close",) and core.uplinks.in_use() == "wwan0"


def test_prefer_unmetered_off_probes_but_never_routes(world, tmp_path: Path) -> None:
    core, guard, state, alerts = world
    path = Path(core.config.path)
    path.write_text(path.read_text().replace("\toption data_dir", "\toption prefer_unmetered '0'\n\toption data_dir"))
    core.config_file.reload()
    guard.step(0.0)
    assert guard.routing.log == [] and core.uplinks.in_use() == "wwan0"
    assert core.uplinks.status("wlan-sta").internet is True


def test_a_broken_hotel_preferred_by_metric_is_routed_around(world) -> None:
    core, guard, state, alerts = world
    state["main"], state["verdict"] = "wlan-sta", CAPTIVE  # netifd gave the hotel the better metric
    core.uplinks._route = lambda: "wlan-sta"
    guard.step(0.0)
    assert guard.routing.current == ("wwan0", {socket.AF_INET: "10.1.2.1"}) and core.uplinks.in_use() == "wwan0"
