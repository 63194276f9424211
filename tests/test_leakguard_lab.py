"""Leak guard in the virtual router: named destinations that add up, metered hints, a burst that reaches a webhook.

The daemon runs in the lab's router namespace; its dnsmasq forwards to the
internet host's, which answers dl.example.test and cdn.example.test.
"""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from routerguard.decide.periods import HOUR
from routerguard.enforce.dnsmasq import SNIPPET
from routerguard.lab.daemon import LabDaemon
from routerguard.lab.wait import wait_until
from routerguard.store.db import Database

TOLERANCE = 0.01
RECEIVER_PORT = 8099
# The webhook's receiver, run on the internet host: each POST's headers and body as a line of JSON in a file.
RECEIVER = """
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(sys.argv[2], "a") as f:
            f.write(json.dumps({"path": self.path, "type": self.headers.get("Content-Type"), "body": body.decode()}) + "\\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
server = HTTPServer(("0.0.0.0", int(sys.argv[1])), Handler)
print("ready", flush=True)
server.serve_forever()
"""


def start_daemon(lab, extra: str = "") -> LabDaemon:
    """The daemon, once its dnsmasq snippet is in place (writing it restarts the router's dnsmasq)."""
    daemon = LabDaemon(lab, extra).start()
    wait_until(lambda: os.path.exists(os.path.join(lab.router.dnsmasq_conf_dir, SNIPPET)), 10, "routerguard's dnsmasq snippet")
    daemon.wait_readings(1)
    return daemon


@pytest.fixture
def leak(lab):
    daemon = start_daemon(lab)
    yield lab, daemon
    if daemon.proc.poll() is None:
        daemon.stop()


def assert_close(measured: int, truth: int, what: str) -> None:
    assert truth > 0, what
    assert abs(measured - truth) <= truth * TOLERANCE, f"{what}: {measured}, truth {truth}"


def test_top_destinations_carry_the_names_looked_up_and_add_up(leak) -> None:
    lab, daemon = leak
    client = lab.clients[0]
    client.truth(reset=True)
    client.download(3_000_000, host="dl.example.test")
    client.upload(500_000, host="dl.example.test")
    dl = sum(client.truth(reset=True))
    client.download(1_000_000, v6=True, host="www.cdn.example.test")
    cdn = sum(client.truth(reset=True))
    daemon.wait_readings()
    rows = {row["name"]: row for row in daemon.api("GET", f"/api/v1/devices/{client.mac}/destinations")["destinations"]}
    assert_close(rows["dl.example.test"]["total_bytes"], dl, "dl.example.test")
    assert_close(rows["www.cdn.example.test"]["total_bytes"], cdn, "www.cdn.example.test")
    usage = daemon.api("GET", f"/api/v1/devices/{client.mac}")["usage"]
    assert_close(sum(row["total_bytes"] for row in rows.values()), usage["total_bytes"], "all destinations")
    first = daemon.api("GET", f"/api/v1/devices/{client.mac}/destinations")["destinations"][0]
    assert first["name"] == "dl.example.test" and first["service"] is None


def test_devices_are_told_the_network_is_metered(leak) -> None:
    lab, daemon = leak
    with open(os.path.join(lab.router.dnsmasq_conf_dir, SNIPPET)) as f:
        assert "dhcp-option-force=43,ANDROID_METERED" in f.read()
    client = lab.clients[0]
    assert daemon.api("GET", f"/api/v1/devices/{client.mac}")["told_metered"] is False  # its lease predates the hint
    client.set_mac(client.mac)  # a fresh DHCP exchange, as when the phone rejoins the Wi-Fi
    wait_until(lambda: daemon.api("GET", f"/api/v1/devices/{client.mac}")["told_metered"], 10, "the ack to be seen")
    assert daemon.api("GET", "/api/v1/plan")["uplink"] == {"ifname": lab.router.wan_if, "metered": True}


def seed_quiet_week(lab, mac: str) -> None:
    """A week of a few KB an hour: what the daemon learns a quiet device's usual rate from."""
    db = Database(os.path.join(lab.dir, "data"))
    now_hour = int(time.time() // HOUR * HOUR)  # the lab's daemon keeps UTC
    with db.batch() as tx:
        tx.executemany("INSERT INTO usage (mac, hour, up, down) VALUES (?, ?, ?, ?)",
                       [(mac, now_hour - k * HOUR, 1000, 9000) for k in range(1, 7 * 24 + 1)])
    db.close()


def test_a_burst_from_a_quiet_device_reaches_the_webhook(lab) -> None:
    hooks = os.path.join(lab.dir, "hooks.jsonl")
    receiver = lab.internet.popen([sys.executable, "-c", RECEIVER, str(RECEIVER_PORT), hooks], stdout=-1, text=True)
    assert receiver.stdout.readline().strip() == "ready"
    quiet = lab.clients[1]
    seed_quiet_week(lab, quiet.mac)
    daemon = start_daemon(lab, f"config notify 'notify'\n\toption webhook 'http://{lab.internet.ip4}:{RECEIVER_PORT}/hook'\n")
    try:
        quiet.download(20_000_000)

        def posted() -> list[dict]:
            try:
                with open(hooks) as f:
                    return [json.loads(json.loads(line)["body"]) for line in f]
            except FileNotFoundError:
                return []

        alerts = wait_until(lambda: [a for a in posted() if a["kind"] == "unusual_rate"], 15, "the webhook's POST")
        assert alerts[0]["mac"] == quiet.mac and "MB in the last 10 minutes" in alerts[0]["message"]
        assert {"kind", "mac", "message", "time"} <= set(alerts[0])
        stored = daemon.api("GET", "/api/v1/alerts")["alerts"]
        assert {(a["kind"], a["mac"]) for a in stored} >= {("unusual_rate", quiet.mac), ("unusual_hour", quiet.mac)}
        assert all(a["mac"] != lab.clients[0].mac for a in stored)
    finally:
        daemon.stop()
