"""`routerguard topup plan|group:ID SIZE` and `routerguard plan calibrate --used SIZE | --left SIZE` against the
running daemon, as root on the router runs them (the daemon in a namespace of our own, see test_cli_client.py)."""

import pytest

from routerguard.core import Core
from routerguard_lab.netns import Namespace, kill_all, new_prefix
from test_cli_client import A, B, CONFIG, Router

pytestmark = pytest.mark.lab  # needs root and the kernel (see tests/conftest.py)

PORT = 8080
GB = 10**9
GROUP = """
config group
\toption id 'pair'
\toption name 'Pair'
\toption cap '2GB'
\toption period 'daily'
\toption action 'block'

config device
\toption mac '02:00:00:00:00:0d'
\toption group 'pair'
"""
USED = 200_000_000 + 1_300_000_000 + 1_000 + 2_000_000


@pytest.fixture
def router(fleet_config):
    config = fleet_config(CONFIG + GROUP, port=PORT)  # plan 20 GB monthly
    core = Core(str(config))
    core.ledger.add(A, 200_000_000, 1_300_000_000, core.now())
    core.ledger.add(B, 1_000, 2_000_000, core.now())
    core.ledger.add("02:00:00:00:00:0d", 0, 2 * GB, core.now())
    assert core.ledger.commit()
    core.db.close()
    ns = Namespace.create(f"{new_prefix()}-clitop")
    running = Router(ns, str(config), core.config.main.data_dir)
    try:
        running.start()
        yield running
    finally:
        kill_all([ns])
        ns.delete()


def test_topup_of_the_plan_and_of_a_group(router):
    plan = router.json("topup", "plan", "1GB")
    assert plan["allowance_bytes"] == 21 * GB and plan["quota_bytes"] == 20 * GB
    result = router.cli("topup", "plan", "500MB")
    assert result.returncode == 0 and result.stdout.startswith("Plan 20.0 GB monthly"), result.stderr
    assert router.json("plan")["allowance_bytes"] == 21_500_000_000
    group = router.json("topup", "group:pair", "1GB")
    assert group["id"] == "pair" and group["allowance_bytes"] == 3 * GB and group["state"] != "blocked"
    line = router.cli("topup", "group:pair", "1GB").stdout
    assert line.startswith("group pair (Pair):") and "allowance 4.0 GB" in line


def test_topup_refusals_exit_2_with_the_apis_sentence(router):
    ghost = router.cli("topup", "group:ghost", "1GB")
    assert ghost.returncode == 2 and "no group 'ghost'" in ghost.stderr
    bad = router.cli("topup", "plan", "0")
    assert bad.returncode == 2 and "bytes must be a whole number" in bad.stderr
    assert router.json("plan")["allowance_bytes"] == 20 * GB


def test_calibrate_by_used_or_left_and_the_plan_shows_the_difference(router):
    plan = router.json("plan", "calibrate", "--used", "1.6GB")
    assert plan["used_bytes"] == 1_600_000_000 and plan["counted_bytes"] == USED + 2 * GB
    assert plan["calibration_bytes"] == 1_600_000_000 - USED - 2 * GB
    plan = router.json("plan", "calibrate", "--left", "15GB")
    assert plan["remaining_bytes"] == 15 * GB and plan["calibration_bytes"] == 5 * GB - USED - 2 * GB
    out = router.cli("plan", "calibrate", "--used", "4GB").stdout
    assert "carrier says 4.0 GB" in out and "we counted 3.5 GB" in out and "difference +498.0 MB" in out
    assert "difference +498.0 MB" in router.cli("plan").stdout
    assert router.json("plan")["used_bytes"] == 4 * GB


@pytest.mark.parametrize("args, named", [
    ((), "one of the arguments --used --left is required"),
    (("--used", "1GB", "--left", "1GB"), "argument --left: not allowed with argument --used"),
    (("--used", "5XB"), "argument --used:"),
    (("--left", "30GB"), "left_bytes is more than the plan's allowance"),
])
def test_calibrate_refusals_exit_2_naming_the_option_and_change_nothing(router, args, named):
    result = router.cli("plan", "calibrate", *args)
    assert result.returncode == 2 and named in result.stderr
    assert router.json("plan")["calibration_bytes"] == 0
