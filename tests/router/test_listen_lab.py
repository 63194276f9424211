"""The page follows the LAN interface (listen_interface), and a page that cannot bind never stops the meter.

Travel-router users renumber the LAN to dodge a hotel's subnet. Before issue
#20 the page's address was fixed at install: waitress could not bind, the
daemon died after its table was up and metering stopped.
"""

from __future__ import annotations

import re
import signal

import pytest

from routerguard.enforce.captive import CAPTIVE_PORT
from routerguard_lab import plan
from routerguard_lab.lab_daemon import LabDaemon
from routerguard_lab.wait import wait_until

pytestmark = pytest.mark.lab

NEW_LAN = "192.168.77.1"
ELSEWHERE = "192.168.78.1"  # not on the router when the daemon starts


def healthz(lab, host: str) -> dict | None:
    import json

    result = lab.router.exec(["curl", "-sS", "-f", "--max-time", "5", f"http://{host}:{plan.PAGE_PORT}/healthz"],
                             check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def readings_grow(lab, host: str) -> None:
    first = wait_until(lambda: healthz(lab, host), 30, f"the page on {host}")["readings"]
    wait_until(lambda: (healthz(lab, host) or {}).get("readings", 0) >= first + 2, 30, "two more meter readings")


def with_main_options(daemon: LabDaemon, options: str) -> None:
    """The daemon's config with its `listen` line replaced by `options`."""
    with open(daemon.config) as f:
        text = f.read()
    with open(daemon.config, "w") as f:
        f.write(re.sub(r"^\toption listen '[^']*'\n", options, text, count=1, flags=re.M))


def test_a_renumbered_lan_keeps_the_page_and_the_meter_after_a_reload(lab):
    daemon = LabDaemon(lab)
    with_main_options(daemon, f"\toption listen_interface '{lab.router.lan_if}'\n\toption listen_port '{plan.PAGE_PORT}'\n")
    daemon.start()  # the page on the LAN device's addresses, found at start
    readings_grow(lab, lab.router.lan_ip)
    lab.router.exec(["ip", "addr", "add", f"{NEW_LAN}/24", "dev", lab.router.lan_if])
    lab.router.exec(["ip", "addr", "del", f"{lab.router.lan_ip}/24", "dev", lab.router.lan_if])
    daemon.proc.send_signal(signal.SIGHUP)  # what netifd's ifup hotplug and reload_config end in
    readings_grow(lab, NEW_LAN)
    # A blocked device's plain HTTP goes to the redirect on the new address, which sends it to the page there.
    wait_until(lambda: f"dnat ip to {NEW_LAN}:{CAPTIVE_PORT}" in lab.router.exec(
        ["nft", "list", "chain", "inet", "routerguard", "captive"]).stdout, 10, "the redirect on the new address")
    answer = lab.router.exec(["curl", "-sS", "-o", "/dev/null", "-w", "%{redirect_url}",
                              f"http://{NEW_LAN}:{CAPTIVE_PORT}/"]).stdout
    assert answer == f"http://{NEW_LAN}:{plan.PAGE_PORT}/blocked"
    assert daemon.proc.poll() is None
    assert daemon.stop() == 0
    assert "Traceback" not in daemon.log()


def test_an_address_that_cannot_be_bound_is_retried_while_the_meter_goes_on(lab):
    daemon = LabDaemon(lab)
    with_main_options(daemon, f"\tlist listen '{lab.router.lan_ip}:{plan.PAGE_PORT}'\n"
                              f"\tlist listen '{ELSEWHERE}:{plan.PAGE_PORT}'\n")
    daemon.start()
    readings_grow(lab, lab.router.lan_ip)  # metering, and the page on the address that could be bound
    assert re.search(rf"cannot serve the page on {re.escape(ELSEWHERE)}:{plan.PAGE_PORT} \(", daemon.log())
    lab.router.exec(["ip", "addr", "add", f"{ELSEWHERE}/24", "dev", lab.router.lan_if])
    readings_grow(lab, ELSEWHERE)  # the next try binds it, with no reload
    assert daemon.stop() == 0


def test_no_address_at_all_leaves_the_meter_running(lab):
    daemon = LabDaemon(lab)
    with_main_options(daemon, f"\toption listen '{ELSEWHERE}:{plan.PAGE_PORT}'\n")
    log = open(daemon.log_path, "a")
    daemon.proc = lab.router.popen([*daemon.command, "run", "--config", daemon.config], stdout=log, stderr=log)
    log.close()
    wait_until(lambda: "cannot serve the page" in daemon.log(), 30, "the bind error in the log")
    lab.router.exec(["ip", "addr", "add", f"{ELSEWHERE}/24", "dev", lab.router.lan_if])
    readings_grow(lab, ELSEWHERE)  # it metered all along: the page comes when the address does
    assert daemon.stop() == 0
