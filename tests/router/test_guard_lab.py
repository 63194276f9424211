"""Guarding the guard, in the virtual router: no way around a cut through the router's resolver, new devices.

The router's dnsmasq forwards a tunnel zone to a tunnel server on the
internet host (routerguard_lab/dnstunnel.py), as a DNS tunnel's server would
be reached: every TXT answer carries 1000 bytes.
"""

from __future__ import annotations

import json
import os
import re
import sys

import pytest

from routerguard.enforce.ruleset import (DNS_ANSWER_BURST_KBYTES, DNS_ANSWER_KBYTES, DNS_BURST, DNS_RATE, TABLE,
                                         dns_counter_names)
from routerguard.enforce.dnsmasq import SNIPPET
from routerguard_lab import dnstunnel, plan
from routerguard_lab.lab_daemon import LabDaemon
from routerguard_lab.wait import wait_until

pytestmark = pytest.mark.lab  # needs root and the kernel (see tests/conftest.py)

FLOOD_SECONDS = 3.0
RECEIVER_PORT = 8098
# The webhook's receiver, run on the internet host: each POST's body as a line in a file.
RECEIVER = """
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(sys.argv[2], "a") as f:
            f.write(body.decode() + "\\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
server = HTTPServer(("0.0.0.0", int(sys.argv[1])), Handler)
print("ready", flush=True)
server.serve_forever()
"""


def start_daemon(lab, extra: str = "") -> LabDaemon:
    daemon = LabDaemon(lab, extra).start()
    wait_until(lambda: os.path.exists(os.path.join(lab.router.dnsmasq_conf_dir, SNIPPET)), 10, "routerguard's dnsmasq snippet")
    daemon.wait_readings(1)
    return daemon


@pytest.fixture
def tunnel(lab):
    """The tunnel server up and the router's dnsmasq forwarding its zone to it."""
    server = lab.internet.popen([sys.executable, "-m", "routerguard_lab.dnstunnel", "serve", plan.INTERNET4,
                                 str(dnstunnel.PORT)], stdout=-1, text=True)
    assert server.stdout.readline().strip() == "ready"
    with open(os.path.join(lab.router.dnsmasq_conf_dir, "tunnel.conf"), "w") as f:
        f.write(f"server=/{dnstunnel.ZONE}/{plan.INTERNET4}#{dnstunnel.PORT}\n")
    lab.router.restart_dnsmasq()
    return lab


def flood(client) -> dict:
    out = client.exec([sys.executable, "-m", "routerguard_lab.dnstunnel", "flood", plan.ROUTER_LAN4, dnstunnel.ZONE,
                       str(FLOOD_SECONDS)], timeout=60).stdout
    return json.loads(out)


def tcp_answer(client, name: str = "dl.example.test") -> int:
    """The length of the router's answer to a query over TCP, or -1."""
    return int(client.exec([sys.executable, "-m", "routerguard_lab.dnstunnel", "tcp", plan.ROUTER_LAN4, name],
                           timeout=30).stdout)


def webhook(lab) -> tuple[str, callable]:
    """A webhook receiver on the internet host: (its URL, a function that reads what it got)."""
    hooks = os.path.join(lab.dir, "guard-hooks.jsonl")
    receiver = lab.internet.popen([sys.executable, "-c", RECEIVER, str(RECEIVER_PORT), hooks], stdout=-1, text=True)
    assert receiver.stdout.readline().strip() == "ready"

    def posted() -> list[dict]:
        try:
            with open(hooks) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []
    return f"http://{plan.INTERNET4}:{RECEIVER_PORT}/hook", posted


@pytest.mark.fw4
def test_a_cut_device_cannot_tunnel_through_the_routers_resolver(tunnel) -> None:
    lab = tunnel
    cut, other = lab.clients
    daemon = start_daemon(lab)
    try:
        free = flood(cut)
        assert free["answers"] > DNS_BURST + DNS_RATE * FLOOD_SECONDS, f"the tunnel should work while not cut: {free}"
        daemon.api("PATCH", f"/api/v1/devices/{cut.mac}", {"blocked": True})
        held = flood(cut)
        # Counted, not timed: the limiter lets through its burst and its rate, a slow machine only fewer.
        most = DNS_BURST + DNS_RATE * (FLOOD_SECONDS + 1)
        assert held["answers"] <= most, held
        # The answers' bytes: a burst and 2 KB/s (nft's kbytes are KiB); measured 10,880 bytes in 3 s (free: 2.3 MB).
        assert held["answer_bytes"] <= 1024 * (DNS_ANSWER_BURST_KBYTES + DNS_ANSWER_KBYTES * (FLOOD_SECONDS + 1)), held
        assert tcp_answer(cut) == -1  # DNS over TCP (one query, a 64 KB answer) is refused
        assert flood(other)["answers"] > most  # the others' DNS is as before
        assert tcp_answer(other) > 0
        # The cut device still resolves names (its captive and own page need them), slowly.
        assert cut.exec(["getent", "hosts", "dl.example.test"], check=False).returncode == 0
    finally:
        daemon.stop()


IP_UDP_HEADERS = 28


def usage(daemon, mac: str | None) -> int:
    """A device's (or, for None, the router's) bytes this period, as the API has them."""
    if mac is None:
        devices = sum(d["usage"]["total_bytes"] for d in daemon.api("GET", "/api/v1/devices")["devices"])
        return daemon.api("GET", "/api/v1/plan")["used_bytes"] - devices
    return daemon.api("GET", f"/api/v1/devices/{mac}")["usage"]["total_bytes"]


def test_the_dns_a_device_asks_the_router_for_is_charged_to_it_not_the_router(tunnel) -> None:
    lab = tunnel
    asker = lab.clients[0]
    daemon = start_daemon(lab, "\nconfig plan 'plan'\n\toption quota '20GB'\n\toption period 'monthly'\n")
    try:
        before = daemon.settled(lambda: (usage(daemon, asker.mac), usage(daemon, None)))
        result = flood(asker)
        answered = result["answer_bytes"] + IP_UDP_HEADERS * result["answers"]  # IP-layer bytes down
        assert answered > 1_000_000, result
        device, router = daemon.settled(lambda: (usage(daemon, asker.mac), usage(daemon, None)))
        charged, router_grew = device - before[0], router - before[1]
        # Down: the answers, as the LAN side saw them; up: the queries. The router moved the same upstream.
        assert 0.95 * answered <= charged <= 1.6 * answered, (charged, answered, result)
        assert router_grew < 0.1 * charged, (router_grew, charged)

        def resolver_bytes() -> int:  # "what ate the data" shows it too, once sampled beside the readings
            rows = daemon.api("GET", f"/api/v1/devices/{asker.mac}/destinations")["destinations"]
            return next((row["total_bytes"] for row in rows if row["name"] == plan.ROUTER_LAN4), 0)

        wait_until(lambda: resolver_bytes() >= 0.95 * charged, 10, f"the resolver's row of {charged} bytes")
    finally:
        daemon.stop()


# A client's own count of its DNS with the router (the only resolver it asks): IP-layer bytes, both protocols.
DNS_TRUTH = """table inet dnstruth {
    counter up { }
    counter down { }
    chain output { type filter hook output priority 0; policy accept; meta l4proto { tcp, udp } th dport 53 counter name "up"; }
    chain input { type filter hook input priority 0; policy accept; meta l4proto { tcp, udp } th sport 53 counter name "down"; }
}
"""
READ_COUNTERS = ("import json, sys; from routerguard.read import nftcounters;"
                 " print(json.dumps(nftcounters.read(*sys.argv[1:])[1]))")


# One A query over UDP to the router's IPv6 address; prints the answer's length.
UDP6_QUERY = """import socket, sys
from routerguard_lab.dnstunnel import query
sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
sock.settimeout(5)
request = bytearray(query(sys.argv[2], 6))
request[-4:-2] = (1).to_bytes(2, "big")  # type A
sock.sendto(bytes(request), (sys.argv[1], 53))
print(len(sock.recv(4096)))
"""


def udp6_answer(client, name: str = "dl.example.test") -> int:
    return int(client.exec([sys.executable, "-c", UDP6_QUERY, plan.ROUTER_LAN6, name], timeout=30).stdout)


def dns_truth(client) -> tuple[int, int]:
    listing = json.loads(client.exec(["nft", "-j", "list", "counters", "table", "inet", "dnstruth"]).stdout)["nftables"]
    counts = {item["counter"]["name"]: item["counter"]["bytes"] for item in listing if "counter" in item}
    return counts["up"], counts["down"]


def dns_counted(lab, mac: str) -> tuple[int, int]:
    """The device's DNS counters in routerguard's table (up, down), read over netlink as the meter will."""
    listing = lab.router.exec(["nft", "list", "map", *TABLE.split(), "dev_by_mac"]).stdout
    device_id = int(re.search(rf"{mac} : jump mark_(\d+)", listing).group(1))
    counters = json.loads(lab.router.exec([sys.executable, "-c", READ_COUNTERS, *TABLE.split()]).stdout)
    return tuple(counters[name] for name in dns_counter_names(device_id))


def moved(after: tuple[int, int], before: tuple[int, int]) -> tuple[int, int]:
    return after[0] - before[0], after[1] - before[1]


@pytest.mark.fw4
def test_the_kernel_counts_each_devices_dns_to_the_router_free_or_held_byte_for_byte(tunnel) -> None:
    lab = tunnel
    free, held = lab.clients
    daemon = start_daemon(lab)
    try:
        for client in lab.clients:
            client.exec(["nft", "-f", "-"], input=DNS_TRUTH)
        daemon.api("PATCH", f"/api/v1/devices/{held.mac}", {"blocked": True})
        start = {c.mac: (dns_truth(c), dns_counted(lab, c.mac)) for c in lab.clients}
        # A few names each, within the held device's burst: nothing dropped, so byte for byte, UDP and TCP,
        # IPv4 and IPv6.
        for client in lab.clients:
            for _ in range(3):
                assert client.exec(["getent", "hosts", "dl.example.test"], check=False).returncode == 0
            assert udp6_answer(client) > 0
        assert tcp_answer(free) > 0  # the held device's TCP is refused before it is marked: its reset counts nowhere
        assert int(free.exec([sys.executable, "-m", "routerguard_lab.dnstunnel", "tcp", plan.ROUTER_LAN6,
                              "dl.example.test"], timeout=30).stdout) > 0
        for client in lab.clients:
            truth = moved(dns_truth(client), start[client.mac][0])
            assert truth[0] > 0 and truth[1] > 0, truth
            wait_until(lambda: moved(dns_counted(lab, client.mac), start[client.mac][1]) == truth, 10,
                       f"{client.mac}'s DNS counters to match its own count {truth}")
        # A flood: the held device's answers are limited, and counted after the limiter (byte for byte still);
        # its queries the limiter dropped are not counted. The free device's flow in full.
        start = {c.mac: (dns_truth(c), dns_counted(lab, c.mac)) for c in lab.clients}
        held_flood, free_flood = flood(held), flood(free)
        most = DNS_BURST + DNS_RATE * (FLOOD_SECONDS + 1)
        truth = moved(dns_truth(held), start[held.mac][0])
        counted = wait_until(lambda: (lambda c: c if c[1] == truth[1] else None)(
            moved(dns_counted(lab, held.mac), start[held.mac][1])), 10, "the held device's answers counted")
        ceiling = 1024 * (DNS_ANSWER_BURST_KBYTES + DNS_ANSWER_KBYTES * (FLOOD_SECONDS + 1)) + IP_UDP_HEADERS * most
        assert counted[1] <= ceiling, (counted, held_flood)
        assert 0 < counted[0] < truth[0], (counted, truth, held_flood)  # the limiter dropped most queries
        truth = moved(dns_truth(free), start[free.mac][0])
        assert free_flood["answers"] > most and truth[1] > 10 * ceiling, (truth, free_flood)  # not limited
        wait_until(lambda: moved(dns_counted(lab, free.mac), start[free.mac][1]) == truth, 10,
                   f"the free device's DNS counters to match its own count {truth}")
    finally:
        daemon.stop()


APPROVE = "\toption new_devices 'approve'\n"


def notify(url: str, extra: str = "") -> str:
    return f"\nconfig notify 'notify'\n\toption webhook '{url}'\n{extra}"


@pytest.mark.fw4
def test_under_approve_a_new_mac_waits_for_the_admin_and_the_webhook_hears_of_it(lab) -> None:
    url, posted = webhook(lab)
    known, newcomer = lab.clients
    daemon = start_daemon(lab, APPROVE + notify(url) + f"\nconfig device\n\toption mac '{known.mac}'\n\toption name 'Known'\n")
    try:
        assert known.download(100_000) == 100_000  # configured: approved
        mac = "02:00:00:00:00:7e"
        newcomer.set_mac(mac)  # DHCP still answers it
        hooks = wait_until(lambda: [h for h in posted() if h["kind"] == "new_device"], 20, "the new_device webhook")
        assert hooks[0]["mac"] == mac and hooks[0]["hostname"] == newcomer.hostname and hooks[0]["address"]
        assert newcomer.download(100_000, check=False, timeout=5) == 0  # no internet
        assert newcomer.exec(["getent", "hosts", "dl.example.test"], check=False).returncode == 0  # DNS, limited
        me = json.loads(newcomer.exec(["curl", "-sS", "--max-time", "10",
                                       f"http://{plan.ROUTER_LAN4}:{plan.PAGE_PORT}/api/v1/me"]).stdout)
        assert me["mac"] == mac and me["approved"] is False and me["state"] == "blocked"  # the router's page
        assert daemon.routerguard("approve", mac).returncode == 0
        assert daemon.api("GET", f"/api/v1/devices/{mac}")["approved"] is True
        assert newcomer.download(100_000) == 100_000
        assert [h["mac"] for h in posted() if h["kind"] == "new_device"] == [mac]  # the devices of the first run: no news
    finally:
        daemon.stop()


def test_a_device_that_takes_anothers_mac_raises_an_alert(lab) -> None:
    owner, borrower = lab.clients
    daemon = start_daemon(lab, f"\nconfig device\n\toption mac '{owner.mac}'\n\toption name 'Owner laptop'\n\toption exempt '1'\n")
    try:
        daemon.wait_readings()  # both identities (hostname, client id) are known
        owner.ns.ip_batch([f"link set {owner.ifname} down"])
        borrower.set_mac(owner.mac)
        alerts = wait_until(lambda: [a for a in daemon.api("GET", "/api/v1/alerts")["alerts"] if a["kind"] == "borrowed_mac"],
                            20, "the borrowed_mac alert")
        assert alerts[0]["mac"] == owner.mac and plan.client_mac(2) in alerts[0]["message"]
    finally:
        daemon.stop()


@pytest.mark.fw4
def test_random_macs_share_one_newcomer_allowance(lab) -> None:
    first, _ = lab.clients
    daemon = start_daemon(lab, "\nconfig defaults 'new_device'\n\toption cap '5MB'\n\toption period 'daily'\n"
                               "\toption action 'block'\n\toption newcomer_cap '3MB'\n")
    try:
        assert first.download(2_000_000) == 2_000_000
        daemon.wait_readings()
        first.set_mac("02:00:00:00:00:71")  # a fresh MAC: a fresh 5 MB default cap, but the same 3 MB pool
        daemon.wait_readings()
        got = first.download(3_000_000, check=False, timeout=10)
        assert got < 1_500_000, got  # what the pool had left, not a fresh allowance
        device = daemon.api("GET", "/api/v1/devices/02:00:00:00:00:71")
        assert "newcomers" in [limit["scope"] for limit in device["limits"]]
    finally:
        daemon.stop()
