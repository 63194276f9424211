"""`routerguard lab` as a newcomer runs it (README's first command): the leak guard shows within two minutes.

The demo runs as a subprocess of the installed command, with its own
namespaces; this test reads its API through the relay on 127.0.0.1, logged
in with the password it prints. Within DEMO_BUDGET seconds of starting it
must show destinations in the shipped categories (no configuration), an alert
about the client that leaks, and the uplink in use with its bytes moving.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest
import requests

from routerguard_lab import plan
from routerguard_lab.lab_daemon import DEMO_PASSWORD
from routerguard_lab.wait import wait_until
from test_lab import ROUTERGUARD, announcement, lab_namespaces, stop_demo

pytestmark = [pytest.mark.lab, pytest.mark.slow]

DEMO_BUDGET = 120.0  # seconds from `routerguard lab` to all of it on the page
CLIENTS = 3
SHIPPED = {"os_updates", "video", "cloud_backup"}  # what the lab's names fall into (routerguard_lab/plan.py)


def start() -> tuple[subprocess.Popen, str, int]:
    """`routerguard lab --port 0` once it says it is up: (process, namespace prefix, page port)."""
    proc = subprocess.Popen([str(ROUTERGUARD), "lab", "--port", "0", "--clients", str(CLIENTS)], stdout=subprocess.PIPE)
    text = announcement(proc)
    assert f"admin password of the lab's page: {DEMO_PASSWORD}" in text
    return proc, re.search(r"namespaces (rg\d+x\d+)-\*", text)[1], int(re.search(r"http://127\.0\.0\.1:(\d+)/", text)[1])


def logged_in(base: str) -> requests.Session | None:
    session = requests.Session()
    try:
        response = session.post(f"{base}/api/v1/session", json={"password": DEMO_PASSWORD}, timeout=5)
    except requests.ConnectionError:
        return None  # the daemon is still starting behind the relay
    return session if response.status_code == 200 else None


def test_the_demo_shows_categories_an_alert_and_the_uplink_within_two_minutes() -> None:
    began = time.monotonic()
    budget_end = began + DEMO_BUDGET
    proc, prefix, port = start()
    base = f"http://127.0.0.1:{port}"
    leaky = plan.client_mac(CLIENTS)

    def get(path: str) -> dict:
        response = session.get(base + path, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def categorised() -> dict[str, set[str]]:
        found = {}
        for mac in (plan.client_mac(i) for i in range(1, CLIENTS + 1)):
            categories = {row["category"] for row in get(f"/api/v1/devices/{mac}/destinations")["destinations"]}
            found[mac] = categories & SHIPPED
        return found if all(found.values()) else {}

    try:
        session = wait_until(lambda: logged_in(base), budget_end - time.monotonic(), "the daemon's page")
        found = wait_until(categorised, budget_end - time.monotonic(), "every client's destinations in shipped categories")
        assert "cloud_backup" in found[leaky]
        alert = wait_until(lambda: [a for a in get("/api/v1/alerts")["alerts"] if a["mac"] == leaky],
                           budget_end - time.monotonic(), "an alert about the leaking client")[0]
        assert alert["kind"] == "threshold" and "Guest tablet" in alert["message"]

        def wan() -> dict:
            return next(u for u in get("/api/v1/uplinks")["uplinks"] if u["ifname"] == plan.WAN_IF)

        first = wan()
        assert first["in_use"] and first["link"] and first["metered"] and first["internet"] is None
        wait_until(lambda: wan()["up_bytes"] > first["up_bytes"] and wan()["down_bytes"] > first["down_bytes"],
                   budget_end - time.monotonic(), "the uplink's bytes to move")
        print(f"categories, alert and uplink on the page {time.monotonic() - began:.1f} s after `routerguard lab`")
    finally:
        code = stop_demo(proc)
    assert code == 0
    assert lab_namespaces(prefix) == []
