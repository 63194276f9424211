"""The rpcd plugin as a program (JSON in, JSON out), against the daemon running in the lab's router.

What `ubus call routerguard status` runs on OpenWrt: rpcd execs
/usr/libexec/rpcd/routerguard with `list`, or `call METHOD` and the arguments on
stdin (openwrt/files/routerguard.rpcd -> routerguard/rpcd.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routerguard_lab import plan
from routerguard_lab.lab_daemon import ROUTERGUARD, LabDaemon

pytestmark = pytest.mark.lab

PLUGIN = Path(__file__).resolve().parents[2] / "openwrt" / "files" / "routerguard.rpcd"


@pytest.fixture
def rpcd(lab, tmp_path):
    """Runs the plugin in the router as rpcd would, the daemon up; returns (call, daemon)."""
    daemon = LabDaemon(lab, "config plan 'plan'\n\toption quota '2GB'\n\toption period 'monthly'\n").start()
    plugin = tmp_path / "routerguard"
    plugin.write_text(PLUGIN.read_text().replace("/usr/bin/routerguard", ROUTERGUARD))

    def call(*argv: str, args: object = None) -> dict:
        result = lab.router.exec(["env", f"ROUTERGUARD_CONFIG={daemon.config}", "sh", str(plugin), *argv],
                                 input="" if args is None else json.dumps(args), check=False)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    yield call, daemon
    daemon.stop()


def test_list_names_every_method_with_its_arguments(rpcd):
    call, _ = rpcd
    methods = call("list")
    assert methods["status"] == {} and methods["block"] == {"mac": "str", "blocked": True}
    assert {"devices", "plan", "page", "set_password", "create_token"} <= set(methods)


def test_status_devices_and_plan_answer_json_from_the_running_daemon(rpcd, lab):
    call, daemon = rpcd
    lab.clients[0].download(200_000)
    daemon.wait_readings()
    status = call("call", "status")
    assert status["plan"]["quota_bytes"] == 2_000_000_000
    macs = {d["mac"] for d in status["devices"]}
    assert plan.client_mac(1) in macs
    assert {d["mac"] for d in call("call", "devices")["devices"]} == macs
    assert call("call", "plan")["quota_bytes"] == 2_000_000_000
    assert call("call", "page")["url"] == f"http://{lab.router.lan_ip}:{plan.PAGE_PORT}/"


def test_block_switch_cuts_a_device_off_and_lets_it_back_on(rpcd):
    call, daemon = rpcd
    mac = plan.client_mac(1)
    assert call("call", "block", args={"mac": mac, "blocked": True})["state"] == "blocked"
    assert daemon.api("GET", f"/api/v1/devices/{mac}")["blocked"] is True
    assert call("call", "block", args={"mac": mac, "blocked": False})["blocked"] is False


def test_bad_arguments_are_refused_naming_the_argument_and_change_nothing(rpcd):
    call, daemon = rpcd
    assert call("call", "block", args={"mac": "nonsense"})["error"].startswith("mac:")
    assert call("call", "block", args={"mac": plan.client_mac(1), "blocked": "yes"})["error"].startswith("blocked:")
    assert call("call", "set_password", args={"password": "short"})["error"].startswith("password:")
    assert "unknown method" in call("call", "shutdown")["error"]
    assert daemon.api("GET", f"/api/v1/devices/{plan.client_mac(1)}")["blocked"] is False


def test_luci_sets_the_first_password_and_token(rpcd, lab):
    call, daemon = rpcd
    assert call("call", "set_password", args={"password": "from LuCI 1"}) == {"ok": True}
    token = call("call", "create_token", args={"label": "LuCI"})["token"]
    result = lab.router.exec(["curl", "-sS", "-f", "-H", f"Authorization: Bearer {token}",
                              f"http://{lab.router.lan_ip}:{plan.PAGE_PORT}/api/v1/plan"], check=False)
    assert result.returncode == 0 and json.loads(result.stdout)["quota_bytes"] == 2_000_000_000
    login = lab.router.exec(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json",
                             "--data-binary", json.dumps({"password": "from LuCI 1"}),
                             f"http://{lab.router.lan_ip}:{plan.PAGE_PORT}/api/v1/session"], check=False)
    assert login.stdout.strip() in ("200", "201"), login.stdout


def test_a_stopped_daemon_is_an_error_answer_not_a_traceback(rpcd):
    call, daemon = rpcd
    daemon.stop()
    answer = call("call", "status")
    assert answer["error"].startswith("routerguard is not running")
    daemon.start()
