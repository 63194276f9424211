"""The four contract commands, run as a user runs them: the console script.

The script is this environment's, its code the checkout's (tests/conftest.py
puts the tree first on PYTHONPATH for every process a test starts).
"""

import os
import signal
import subprocess
import sys
import sysconfig
import time
import json

import pytest

from routerguard.store.secrets import Secrets

ROUTERGUARD = os.path.join(sysconfig.get_path("scripts"), "routerguard")

GOOD = """config routerguard 'main'
\toption lan_if 'lo'
\tlist wan_if 'lo'
\toption listen '127.0.0.1:{port}'
\toption data_dir '{data}'
\toption poll_interval '0.2'
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_lab_without_its_package_says_where_to_run_it():
    """The router packages leave routerguard_lab out: `routerguard lab` says so, not a traceback."""
    code = ("import sys; sys.modules['routerguard_lab'] = None; "  # None: import refused, as where it is absent
            "from routerguard.cli import main; sys.exit(main(['lab']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "not installed here" in result.stderr and "pip install . && routerguard lab" in result.stderr
    assert "Traceback" not in result.stderr


def routerguard(*args, stdin="", netns=None, **kw):
    argv = [ROUTERGUARD, *args]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60, **kw)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "routerguard.conf"
    path.write_text(GOOD.format(port=free_port(), data=tmp_path / "data"))
    return path


@pytest.fixture
def netns():
    """A bare namespace with loopback up: the daemon touches kernel state only there."""
    name = f"rgcli{os.getpid()}-{time.monotonic_ns() % 100000}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "pids", name], capture_output=True)
        for pid in subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split():
            os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", name], check=True)


def test_help_lists_the_four_commands():
    out = routerguard("--help").stdout
    for command in ("run", "passwd", "token", "check"):
        assert command in out


@pytest.mark.parametrize("command", ["run", "check"])
def test_bad_config_exits_2_naming_file_section_and_option(config, command):
    config.write_text(config.read_text() + "\nconfig device\n\toption mac '02:00:00:00:00:01'\n\toption cap '5XB'\n")
    result = routerguard(command, "--config", str(config))
    assert result.returncode == 2
    assert f"{config}:10: section '@device[0]', option 'cap'" in result.stderr
    assert "valid units" in result.stderr


@pytest.mark.parametrize("command", ["run", "check"])
def test_bad_config_exits_2_listing_every_problem(config, command):
    config.write_text(config.read_text() + "\nconfig device\n\toption mac 'nope'\n\toption cap '5XB'\n\toption period 'hourly'\n"
                      "\nconfig group\n\toption id 'family'\n\toption reset_day '32'\n")
    result = routerguard(command, "--config", str(config))
    assert result.returncode == 2
    for where, hint in [(f"{config}:9: section '@device[0]', option 'mac'", "02:00:00:00:00:0a"),
                        (f"{config}:10: section '@device[0]', option 'cap'", "valid units"),
                        (f"{config}:11: section '@device[0]', option 'period'", "daily, weekly, monthly, days, none"),
                        (f"{config}:15: section '@group[0]', option 'reset_day'", "1..31")]:
        assert f"  {where}: " in result.stderr and hint in result.stderr.split(where)[1].splitlines()[0], result.stderr


@pytest.mark.lab
def test_check_passes_on_a_usable_system(config, netns):
    result = routerguard("check", "--config", str(config), netns=netns)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: nftables works" in result.stdout


@pytest.mark.lab
def test_check_names_a_missing_interface_with_the_fix(config, netns):
    config.write_text(config.read_text().replace("option lan_if 'lo'", "option lan_if 'br-nope'"))
    result = routerguard("check", "--config", str(config), netns=netns)
    assert result.returncode == 2
    assert "problem: lan_if interface br-nope does not exist" in result.stdout
    assert "fix: fix option lan_if" in result.stdout


@pytest.mark.lab
def test_check_notes_a_missing_uplink_without_failing(config, netns):
    config.write_text(config.read_text().replace("list wan_if 'lo'", "list wan_if 'wwan9'"))
    result = routerguard("check", "--config", str(config), netns=netns)
    assert result.returncode == 0
    assert "note: wan_if interface wwan9 does not exist (yet)" in result.stdout


def test_passwd_reads_stdin_and_stores_only_a_hash(config, tmp_path):
    assert routerguard("passwd", "--config", str(config), stdin="short\n").returncode == 2
    result = routerguard("passwd", "--config", str(config), stdin="correct horse\n")
    assert result.returncode == 0, result.stderr
    secrets = Secrets(str(tmp_path / "data"))
    assert secrets.check_password("correct horse") and not secrets.check_password("wrong horse")
    assert "correct horse" not in (tmp_path / "data" / "secrets.json").read_text()
    assert os.stat(tmp_path / "data" / "secrets.json").st_mode & 0o077 == 0


def test_token_prints_a_token_alone_that_authenticates(config, tmp_path):
    result = routerguard("token", "--config", str(config))
    assert result.returncode == 0
    token = result.stdout.strip()
    assert result.stdout == token + "\n" and len(token) > 30
    assert Secrets(str(tmp_path / "data")).check_token(token)


def _health(netns: str, port: int) -> dict | None:
    result = subprocess.run(["ip", "netns", "exec", netns, "curl", "-sf", f"http://127.0.0.1:{port}/healthz"],
                            capture_output=True, text=True)
    return json.loads(result.stdout) if result.returncode == 0 else None


def _wait(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.mark.lab
def test_run_serves_reloads_on_sighup_and_exits_0_on_sigterm(config, netns):
    port = int(config.read_text().split("127.0.0.1:")[1].split("'")[0])
    proc = subprocess.Popen(["ip", "netns", "exec", netns, ROUTERGUARD, "run", "--config", str(config)],
                            stderr=subprocess.PIPE, text=True)
    try:
        first = _wait(lambda: _health(netns, port))
        assert first["ok"] is True
        _wait(lambda: (_health(netns, port) or {}).get("readings", 0) > first["readings"])
        config.write_text(config.read_text() + "\nconfig device\n\toption mac 'bogus'\n")
        proc.send_signal(signal.SIGHUP)
        refused = _wait(lambda: (_health(netns, port) or {}).get("config_error"))
        assert "option 'mac'" in refused
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        log = proc.stderr.read()
        assert "config reload refused" in log and "option 'mac'" in log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.lab
def test_check_looks_for_dnsmasq_nftset_when_categories_are_blocked(config, netns):
    config.write_text(config.read_text() + "\nconfig saver 'saver'\n\tlist block 'os_updates'\n")
    result = routerguard("check", "--config", str(config), netns=netns)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: dnsmasq fills nftables sets (data saver)" in result.stdout
