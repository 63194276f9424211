"""Shared pytest fixtures. Each owner keeps a clearly named block."""

# ---- lab: the virtual router in network namespaces (routerguard/lab) ----
# `lab` (two clients, fresh per test) and `lab_factory(clients=N)`.
from routerguard.lab.fixtures import lab, lab_factory  # noqa: F401
# ---- end lab ----

# ---- fleet: a config file beside real SQLite, for metrics, SNMP agent, export and CLI tests ----
import pytest  # noqa: E402

FLEET_MAIN = """config routerguard 'main'
\toption lan_if 'lo'
\tlist wan_if 'lo'
\toption listen '127.0.0.1:{port}'
\toption data_dir '{data}'
\toption poll_interval '0.2'

config plan 'plan'
\toption quota '20GB'
\toption period 'monthly'
"""


@pytest.fixture
def fleet_config(tmp_path):
    """write(sections, port=8080) -> path of a config: loopback interfaces, a 20 GB monthly plan, then `sections`."""
    def write(sections: str, port: int = 8080):
        path = tmp_path / "routerguard.conf"
        path.write_text(FLEET_MAIN.format(port=port, data=tmp_path / "data") + sections)
        return path

    return write
# ---- end fleet ----
