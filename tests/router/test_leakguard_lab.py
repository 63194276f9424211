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
from routerguard.store.db import Database
from routerguard_lab.lab_daemon import LabDaemon
from routerguard_lab.wait import wait_until

pytestmark = pytest.mark.lab  # needs root and the kernel (see tests/conftest.py)

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


def destination_rows(daemon: LabDaemon, mac: str) -> dict[str, dict]:
    """A device's destinations by name; the meter's sampler adds them right after a reading (account/meter.py)."""
    return {row["name"]: row for row in daemon.api("GET", f"/api/v1/devices/{mac}/destinations")["destinations"]}


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

    def sampled() -> dict | None:  # the destinations come from the meter's sampler, right after a reading
        rows = destination_rows(daemon, client.mac)
        total = daemon.api("GET", f"/api/v1/devices/{client.mac}")["usage"]["total_bytes"]
        found = sum(row["total_bytes"] for row in rows.values())
        names = {"dl.example.test", "www.cdn.example.test"} <= set(rows)
        return rows if names and abs(found - total) <= total * TOLERANCE else None

    rows = wait_until(sampled, 30, "destinations that add up to the device's usage")
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


def test_a_blocked_category_cannot_be_fetched_while_an_allowed_one_can(lab) -> None:
    kept, other = lab.clients
    daemon = start_daemon(lab, "config category\n\toption id 'labvideo'\n\toption name 'Lab video'\n"
                               "\tlist domain 'cdn.example.test'\n\n"
                               f"config device\n\toption mac '{kept.mac}'\n\tlist block 'labvideo'\n")
    try:
        assert kept.download(100_000, host="dl.example.test") == 100_000
        assert kept.download(100_000, host="cdn.example.test", check=False) == 0
        assert kept.download(100_000, v6=True, host="www.cdn.example.test", check=False) == 0
        assert other.download(100_000, host="cdn.example.test") == 100_000
        wait_until(lambda: "cdn.example.test" in destination_rows(daemon, other.mac), 10, "the destination sampled")
        row = destination_rows(daemon, other.mac)["cdn.example.test"]
        assert (row["service"], row["category"]) == ("Lab video", "labvideo")
        assert daemon.api("PATCH", f"/api/v1/devices/{other.mac}", {"block": ["labvideo"]})["block"] == ["labvideo"]
        assert other.download(100_000, host="cdn.example.test", check=False) == 0
        assert other.download(100_000, host="dl.example.test") == 100_000
    finally:
        daemon.stop()


SECOND_UPLINK = "wan1"
SECOND_ROUTER, SECOND_INTERNET = "198.18.1.2", "198.18.1.1"


def add_second_uplink(lab) -> None:
    """A second veth from the router to the internet host (198.18.1.0/24), like a hotel Wi-Fi beside the eSIM."""
    lab.router.ns.ip_batch([f"link add {SECOND_UPLINK} type veth peer name eth1 netns {lab.internet.ns.name}",
                            f"addr add {SECOND_ROUTER}/24 dev {SECOND_UPLINK}", f"link set {SECOND_UPLINK} up"])
    lab.internet.ns.ip_batch([f"addr add {SECOND_INTERNET}/24 dev eth1", "link set eth1 up",
                              f"route add 192.168.8.0/24 via {SECOND_ROUTER}"])  # not NATed there: the way back to the LAN
    lab.router.exec(["ethtool", "-K", SECOND_UPLINK, "tso", "off", "gso", "off", "gro", "off"])
    lab.internet.exec(["ethtool", "-K", "eth1", "tso", "off", "gso", "off", "gro", "off"])
    wait_until(lambda: "state UP" in lab.router.ns.ip("link", "show", SECOND_UPLINK).stdout, 10, "the second uplink")


def test_traffic_over_an_unmetered_uplink_is_not_charged(lab) -> None:
    add_second_uplink(lab)
    daemon = start_daemon(lab, f"config uplink\n\toption ifname '{SECOND_UPLINK}'\n\toption metered '0'\n")
    try:
        client = lab.clients[0]
        client.truth(reset=True)  # counts the first uplink's addresses only: the metered truth
        assert client.download(3_000_000, host=SECOND_INTERNET) == 3_000_000
        client.download(1_000_000)
        lab.router.exec(["curl", "-sS", "-o", "/dev/null", f"http://{SECOND_INTERNET}/bytes/500000"])
        daemon.wait_readings()
        _, truth_down = client.truth()
        usage = daemon.api("GET", f"/api/v1/devices/{client.mac}")["usage"]
        assert_close(usage["down_bytes"], truth_down, "metered download")
        plan = daemon.api("GET", "/api/v1/plan")
        assert plan["router_bytes"] < 100_000 and plan["uplink"] == {"ifname": lab.router.wan_if, "metered": True}
        lab.router.ns.ip_batch([f"route replace default via {SECOND_INTERNET} dev {SECOND_UPLINK}"])
        wait_until(lambda: daemon.api("GET", "/api/v1/plan")["uplink"] == {"ifname": SECOND_UPLINK, "metered": False},
                   10, "the plan to show the unmetered uplink")
        snippet = os.path.join(lab.router.dnsmasq_conf_dir, SNIPPET)
        wait_until(lambda: "ANDROID_METERED" not in open(snippet).read(), 10, "the metered hint to go")
    finally:
        daemon.stop()
