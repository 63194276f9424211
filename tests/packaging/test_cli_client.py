"""The commands that talk to the running daemon, as root on the router runs them: no token typed.

Most tests run the daemon (`routerguard run`) in a bare namespace of our own
with a usage history written beforehand through a Core; one runs it in the
lab's virtual router while a client moves real bytes. The CLI always runs
beside the daemon, in the same namespace, as the installed console script.
"""

import json
import os
import signal
import subprocess
import sysconfig

import pytest

from routerguard.core import Core
from routerguard.store.secrets import Secrets
from routerguard.units import format_size
from routerguard_lab.lab_daemon import LabDaemon
from routerguard_lab.netns import Namespace, kill_all, new_prefix
from routerguard_lab.wait import wait_until

pytestmark = pytest.mark.lab  # needs root and the kernel (see tests/conftest.py)

ROUTERGUARD = os.path.join(sysconfig.get_path("scripts"), "routerguard")
PORT = 8080  # the namespace is ours alone
A, B, NEW = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c"
START_TIMEOUT = 20.0

CONFIG = f"""config device
\toption mac '{A}'
\toption name '张伟的手机'
\toption cap '1GB'
\toption period 'daily'
\toption action 'block'

config device
\toption mac '{B}'
\toption name 'Laptop'
"""


class Router:
    """A daemon in a namespace of its own, and the CLI beside it."""

    def __init__(self, ns: Namespace, config: str, data: str) -> None:
        self.ns, self.config, self.data = ns, config, data
        self.proc = None

    def cli(self, *args: str, env: dict | None = None):
        return self.ns.exec([ROUTERGUARD, *args, "--config", self.config], check=False, env=env)

    def json(self, *args: str):
        result = self.cli(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def start(self) -> None:
        self.proc = self.ns.popen([ROUTERGUARD, "run", "--config", self.config], stderr=subprocess.DEVNULL)
        wait_until(lambda: self.proc.poll() is not None or self.cli("devices").returncode == 0, START_TIMEOUT,
                   "the daemon to answer the CLI")
        assert self.proc.poll() is None, f"routerguard run exited with {self.proc.returncode}"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(START_TIMEOUT) == 0


@pytest.fixture
def router(fleet_config):
    config = fleet_config(CONFIG, port=PORT)
    core = Core(str(config))  # usage the daemon finds on disk when it starts
    core.ledger.add(A, 200_000_000, 1_300_000_000, core.now())
    core.ledger.add(B, 1_000, 2_000_000, core.now())
    core.ledger.add(NEW, 5, 7, core.now())
    assert core.ledger.commit()
    core.db.close()
    ns = Namespace.create(f"{new_prefix()}-cli")
    running = Router(ns, str(config), core.config.main.data_dir)
    try:
        running.start()
        yield running
    finally:
        kill_all([ns])
        ns.delete()


def test_status_shows_the_plan_and_a_table_of_devices(router):
    result = router.cli("status")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Plan 20.0 GB monthly, action block: used 1.5 GB (8%), 18.5 GB left")
    header, *rows = out.split("\n\n", 1)[1].splitlines()
    assert header.split()[:3] == ["MAC", "NAME", "STATE"]
    assert [row.split()[0] for row in rows] == [A, B, NEW]
    assert "张伟的手机  blocked" in rows[0] and "200.0 MB" in rows[0] and "1.3 GB" in rows[0]
    assert header.index("STATE") == rows[1].index("ok")  # CJK names take two cells and still line up


def test_status_and_devices_json_are_the_apis(router):
    status = router.json("status")
    assert status["plan"]["quota_bytes"] == 20_000_000_000
    assert status["plan"]["used_bytes"] == 200_000_000 + 1_300_000_000 + 1_000 + 2_000_000 + 12
    devices = router.json("devices")["devices"]
    assert [d["mac"] for d in devices] == [d["mac"] for d in status["devices"]] == [A, B, NEW]
    assert devices[0]["usage"] == {"up_bytes": 200_000_000, "down_bytes": 1_300_000_000, "total_bytes": 1_500_000_000}
    assert devices[0]["state"] == "blocked"


def test_top_once_prints_one_frame(router):
    result = router.cli("top", "--once")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("routerguard top - ") and "(Ctrl-C quits)" in result.stdout
    assert sum(mac in result.stdout for mac in (A, B, NEW)) == 3
    assert [d["mac"] for d in router.json("top", "--once")["devices"]] == [A, B, NEW]


def test_cap_sets_changes_and_removes_a_cap_written_to_the_config(router):
    device = router.json("cap", B, "2GB", "--period", "monthly", "--reset-day", "15")
    assert device["cap"]["bytes"] == 2_000_000_000 and device["cap"]["period"] == "monthly"
    assert device["cap"]["reset_day"] == 15 and device["cap"]["action"] == "block"
    throttled = router.json("cap", B, "3GB", "--action", "throttle", "--throttle", "1mbit")
    assert throttled["cap"]["period"] == "monthly" and throttled["cap"]["reset_day"] == 15  # kept
    assert throttled["cap"]["action"] == "throttle" and throttled["cap"]["throttle_kbit"] == 1000
    with open(router.config) as f:
        assert "option cap '3GB'" in f.read()
    result = router.cli("cap", B, "none")
    assert result.returncode == 0 and result.stdout.startswith(f"{B} Laptop: ok;") and "no cap of its own" in result.stdout
    assert router.json("devices")["devices"][1]["cap"] is None


def test_topup_lifts_a_used_up_cap(router):
    assert router.json("devices")["devices"][0]["state"] == "blocked"
    device = router.json("topup", A, "1GB")
    assert device["allowance_bytes"] == 2_000_000_000 and device["state"] != "blocked"


def test_block_for_a_while_and_unblock(router):
    result = router.cli("block", B, "--for", "1h")
    assert result.returncode == 0, result.stderr
    assert "blocked until" in result.stdout
    device = router.json("devices")["devices"][1]
    assert device["blocked"] is True and device["state"] == "blocked" and device["blocked_until"]
    assert router.json("unblock", B)["blocked"] is False


def test_api_errors_exit_2_with_the_apis_sentence(router):
    unknown = router.cli("topup", "02:00:00:00:00:99", "1GB")
    assert unknown.returncode == 2 and "no device 02:00:00:00:00:99" in unknown.stderr
    no_cap = router.cli("topup", B, "1GB")
    assert no_cap.returncode == 2 and "has no cap of its own" in no_cap.stderr
    bad_size = router.cli("cap", B, "5XB")
    assert bad_size.returncode == 2 and "unknown unit 'XB'" in bad_size.stderr


def test_a_stopped_daemon_is_a_clear_message_and_exit_1(router):
    router.stop()
    result = router.cli("status")
    assert result.returncode == 1
    assert f"routerguard does not answer on http://127.0.0.1:{PORT}" in result.stderr
    assert "is the daemon running?" in result.stderr


def test_the_token_file_is_root_only_and_replaced_at_each_start(router):
    path = Secrets(router.data).cli_token_path
    assert os.stat(path).st_mode & 0o777 == 0o600
    with open(path) as f:
        first = f.read().strip()
    router.stop()
    router.start()
    with open(path) as f:
        second = f.read().strip()
    secrets = Secrets(router.data)
    assert second != first and secrets.check_token(second) and not secrets.check_token(first)
    assert [t["label"] for t in secrets.tokens()].count("cli") == 1


def test_without_the_token_file_the_daemon_asks_for_one(router):
    os.unlink(Secrets(router.data).cli_token_path)
    result = router.cli("devices")
    assert result.returncode == 2 and "ROUTERGUARD_TOKEN" in result.stderr
    token = Secrets(router.data).new_token("me")
    assert router.cli("devices", env={**os.environ, "ROUTERGUARD_TOKEN": token}).returncode == 0


def test_in_the_virtual_router_the_cli_shows_what_a_client_moved(lab):
    daemon = LabDaemon(lab).start()
    client = lab.clients[0]
    client.truth(reset=True)
    client.download(2_000_000)
    daemon.wait_readings()
    listed = json.loads(daemon.routerguard("devices", "--json").stdout)["devices"]
    mine = next(d for d in listed if d["mac"] == client.mac)
    assert mine["usage"] == daemon.api("GET", f"/api/v1/devices/{client.mac}")["usage"]
    assert mine["usage"]["down_bytes"] >= client.truth()[1] >= 2_000_000
    row = next(line for line in daemon.routerguard("status").stdout.splitlines() if line.startswith(client.mac))
    assert format_size(mine["usage"]["down_bytes"]) in row
    assert client.mac in daemon.routerguard("top", "--once").stdout
    assert daemon.stop() == 0


# --- the plan as eSIM bundles: `routerguard plan` ---


def test_plan_adds_lists_and_removes_bundles(router):
    empty = router.cli("plan")
    assert empty.returncode == 0 and "no bundles" in empty.stdout
    added = router.json("plan", "add", "5GB", "--days", "7", "--name", "Jazz add-on", "--price", "700", "--currency", "PKR")
    assert added["quota_bytes"] == 5_000_000_000 and added["state"] == "active" and added["price"] == 700
    daily = router.json("plan", "add", "1GB", "--days", "30", "--daily")
    assert daily["daily_bytes"] == 1_000_000_000 and daily["quota_bytes"] == 1_000_000_000
    table = router.cli("plan")
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split()[:3] == ["ID", "NAME", "STATE"]
    assert any(added["id"] in row and "Jazz add-on" in row and "700 PKR" in row for row in rows)
    listed = router.json("plan")["bundles"]
    assert {b["id"] for b in listed} >= {added["id"], daily["id"]}
    with open(router.config) as f:
        assert "config bundle" in f.read()
    removed = router.cli("plan", "remove", added["id"])
    assert removed.returncode == 0 and f"bundle {added['id']} removed" in removed.stdout
    assert added["id"] not in {b["id"] for b in router.json("plan")["bundles"]}
    costs = router.json("plan", "costs")
    assert costs == {"costs": []} or all(row["currency"] == "PKR" for row in costs["costs"])


def test_plan_refuses_bad_bundles_with_exit_2_naming_the_field(router):
    before = open(router.config).read()
    zero_days = router.cli("plan", "add", "5GB", "--days", "0")
    assert zero_days.returncode == 2 and "days" in zero_days.stderr
    unknown = router.cli("plan", "remove", "nosuch")
    assert unknown.returncode == 2 and "no bundle 'nosuch'" in unknown.stderr
    assert open(router.config).read() == before
