"""Shared pytest fixtures. Each owner keeps a clearly named block.

Where a test lives, by one rule: the folder of the layer it tests, mirroring the
package (tests/read for routerguard/read, tests/account for routerguard/account,
... tests/serve, tests/config, tests/store); tests of routerguard's top-level
modules (units.py, service.py, notify.py) sit here in tests/. Two folders are
not a layer: tests/router runs the whole daemon, or the lab itself, in the
virtual router (routerguard_lab); tests/packaging tests routerguard as a user
installs and types it (the OpenWrt and systemd packaging, the console script).

Markers (setup.cfg, --strict-markers): `lab` needs root and the kernel
(network namespaces, nft, conntrack, snmpd, dnsmasq); `browser` drives
Chromium; `slow` takes seconds each. `pytest -m "not lab"` runs every pure test,
as any user.

The tests run the tree they sit in, not an installed copy: setup.cfg's
`pythonpath` puts the checkout first for this process, and PYTHONPATH below for
every Python it starts (`routerguard` console script, `python -m
routerguard_lab...` in a namespace).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

import pytest

from routerguard_lab.topology import Lab

# ---- the tree under test, for the processes the tests start ----
CHECKOUT = str(Path(__file__).resolve().parent.parent)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (CHECKOUT, os.environ.get("PYTHONPATH")) if p)
# ---- end tree ----

# ---- lab: the virtual router in network namespaces (routerguard_lab) ----
# `lab` (two clients, fresh per test) and `lab_factory(clients=N)`: as many labs
# as a test wants. Every lab is torn down after the test, passed or failed.
# A test marked `fw4` runs twice: with the lab's own firewall and with OpenWrt
# fw4's real ruleset as the router's (routerguard_lab/fw4/); `lab.firewall` says which.


@pytest.fixture
def lab_factory() -> Iterator[Callable[..., Lab]]:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (it creates network namespaces)")
    labs: list[Lab] = []

    def make(clients: int = 2, firewall: str = "lab") -> Lab:
        lab = Lab(clients, firewall)
        labs.append(lab)
        return lab.start()

    yield make
    errors = []
    for lab in reversed(labs):
        try:
            lab.close()
        except Exception as e:  # close the others all the same
            errors.append(e)
    if errors:
        raise errors[0]


@pytest.fixture
def lab(request: pytest.FixtureRequest, lab_factory: Callable[..., Lab]) -> Lab:
    return lab_factory(firewall=getattr(request, "param", "lab"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("fw4") and "lab" in metafunc.fixturenames:
        metafunc.parametrize("lab", ["lab", "fw4"], indirect=True)
# ---- end lab ----


# ---- fleet: a config file beside real SQLite, for metrics, SNMP agent, export and CLI tests ----
FLEET_MAIN = """config routerguard 'main'
\toption lan_if 'lo'
\tlist wan_if 'wwan0'
\toption listen '127.0.0.1:{port}'
\toption data_dir '{data}'
\toption poll_interval '0.2'

config plan 'plan'
\toption quota '20GB'
\toption period 'monthly'
"""


@pytest.fixture
def fleet_config(tmp_path):
    """write(sections, port=8080) -> path of a config: the LAN on loopback, an uplink the namespace does not have
    (the page's own traffic on lo is not the router's use of the plan), a 20 GB monthly plan, then `sections`."""
    def write(sections: str, port: int = 8080):
        path = tmp_path / "routerguard.conf"
        path.write_text(FLEET_MAIN.format(port=port, data=tmp_path / "data") + sections)
        return path

    return write
# ---- end fleet ----


# ---- parallel runs: pytest-xdist (setup.cfg's addopts: -n auto --dist loadgroup) ----
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The virtual-router tests run one after another on one worker: they measure rates and bytes through the
    kernel, which two of them at once would disturb; the other tests share the remaining workers."""
    for item in items:
        if item.get_closest_marker("lab"):
            item.add_marker(pytest.mark.xdist_group("lab"))
# ---- end parallel ----
