"""Flows the internet opens to a LAN device, in the virtual router: what P2P apps, games and port forwards do.

Two ways in: an IPv6 connection to the device's own address (the lab routes
IPv6 without NAT, and its forward chain accepts everything, like a router
with a "allow inbound IPv6" rule), and an IPv4 port forward of the router's
WAN address (a DNAT rule in a table of the test's own). A web server runs on
client one; the internet host downloads from it (the device's upload) and
posts to it (the device's download). The client's own counters are the truth.
"""

import json
import re
import subprocess
import sys
import time

import pytest

from routerguard_lab import plan
from routerguard_lab.lab_daemon import LabDaemon
from routerguard_lab.wait import wait_until
from test_enforce import BIG, PROMPT, TRANSFER_TIMEOUT, assert_near, device, total, wait_state
from test_metering import assert_close, usage

pytestmark = pytest.mark.lab  # needs root and the kernel (see tests/conftest.py)

PORT = 8000
READY_TIMEOUT = 10.0
FORWARD_TABLE = "labforward"  # the test's own; routerguard's table is never touched
# With fw4 as the firewall (its forward policy drops, wan -> lan rejected), the rules fw4 itself renders for a
# UCI `config rule` opening the port to IPv6 and for a `config redirect` (any port forward: accept what was DNATed).
FW4_OPENINGS = f"""insert rule inet fw4 forward_wan meta nfproto ipv6 tcp dport {PORT} counter jump accept_to_lan
insert rule inet fw4 forward_wan ct status dnat accept comment "!fw4: Accept port forwards"
"""


@pytest.fixture(params=["ipv6", "ipv4-port-forward"])
def way_in(request, lab):
    """The URL by which the internet host reaches the web server on client one."""
    one = lab.clients[0]
    one.popen([sys.executable, "-m", "routerguard_lab.httpd", str(PORT)],
              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    local = f"http://127.0.0.1:{PORT}/bytes/1"
    wait_until(lambda: one.exec(["curl", "-sf", "-o", "/dev/null", local], check=False).returncode == 0,
               READY_TIMEOUT, "the client's web server")
    if lab.firewall != "lab":  # what fw4 renders for a UCI `rule` (IPv6, wan -> lan, tcp 8000) and any `redirect`
        lab.router.exec(["nft", "-f", "-"], input=FW4_OPENINGS)
    if request.param == "ipv6":
        return f"http://[{one.ip6}]:{PORT}"
    lab.router.exec(["nft", "-f", "-"], input=f"""table ip {FORWARD_TABLE} {{
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        iifname "{plan.WAN_IF}" tcp dport {PORT} dnat to {one.ip4}:{PORT}
    }}
}}
""")
    return f"http://{lab.router.wan_ip}:{PORT}"


def from_internet(lab, argv, timeout=TRANSFER_TIMEOUT):
    """curl on the internet host; returns (bytes it moved, as curl's -w prints them, and the seconds it took)."""
    started = time.monotonic()
    proc = lab.internet.exec(["curl", "-sS", "-g", "--max-time", str(timeout), "-o", "/dev/null", *argv],
                             check=False, timeout=None)
    return int(proc.stdout or 0), time.monotonic() - started


def fetch(lab, url, nbytes, timeout=TRANSFER_TIMEOUT):
    """The internet host downloads from the device: the device's upload."""
    return from_internet(lab, ["-w", "%{size_download}", f"{url}/bytes/{nbytes}"], timeout)


def send(lab, url, nbytes, timeout=TRANSFER_TIMEOUT):
    """The internet host posts to the device: the device's download."""
    with lab.clients[0].body_file(nbytes) as body:
        return from_internet(lab, ["-T", body, "-X", "POST", "-H", "Expect:", "-w", "%{size_upload}", f"{url}/upload"],
                             timeout)


def known_by_address(lab, daemon, client):
    """The device has talked (as a P2P app does before a peer calls it), and the kernel finds it by address."""
    client.download(1000, v6=True)
    client.download(1000)
    listing = lambda: lab.router.exec(["nft", "list", "table", "inet", "routerguard"]).stdout  # noqa: E731
    wait_until(lambda: f"{client.ip6} : goto" in listing() and f"{client.ip4} : goto" in listing(), READY_TIMEOUT,
               "the device's addresses in routerguard's table")


def device_counters(lab, mac):
    """The device's own counters in routerguard's table (up, down): what recovery after a crash would charge it."""
    table = ["table", "inet", "routerguard"]
    device_id = re.search(rf"{mac} : jump mark_(\d+)", lab.router.exec(["nft", "list", *table]).stdout)[1]
    listing = json.loads(lab.router.exec(["nft", "-j", "list", "counters", *table]).stdout)["nftables"]
    counts = {item["counter"]["name"]: item["counter"]["bytes"] for item in listing if "counter" in item}
    return counts[f"c_dev_{device_id}_up"], counts[f"c_dev_{device_id}_down"]


@pytest.mark.fw4
def test_the_device_is_charged_its_upload_and_download_the_right_way_round(lab, way_in):
    one = lab.clients[0]
    daemon = LabDaemon(lab).start()
    known_by_address(lab, daemon, one)
    daemon.wait_readings()
    before = usage(daemon, one.mac)
    one.truth(reset=True)
    counted = device_counters(lab, one.mac)
    assert fetch(lab, way_in, 3_000_000)[0] == 3_000_000
    assert send(lab, way_in, 1_000_000)[0] == 1_000_000
    daemon.wait_readings()
    truth_up, truth_down = one.truth()
    after = usage(daemon, one.mac)
    assert_close(after["up_bytes"] - before["up_bytes"], truth_up, "metered up (the device's upload)")
    assert_close(after["down_bytes"] - before["down_bytes"], truth_down, "metered down (the device's download)")
    up, down = device_counters(lab, one.mac)
    assert (up - counted[0], down - counted[1]) == (truth_up, truth_down)  # every packet in the device's chain
    assert usage(daemon, lab.clients[1].mac)["total_bytes"] == 0


@pytest.mark.fw4
def test_a_capped_device_is_cut_at_its_cap_and_then_refuses_connections_from_the_internet(lab, way_in):
    one = lab.clients[0]
    daemon = LabDaemon(lab, device(one.mac, "5MB")).start()
    known_by_address(lab, daemon, one)
    one.truth(reset=True)
    spent = usage(daemon, one.mac)["total_bytes"]
    moved, seconds = send(lab, way_in, BIG)
    assert moved < BIG and seconds < TRANSFER_TIMEOUT  # cut, and the sender told so
    assert_near(total(one), 5_000_000 - spent, "a download over a connection the internet opened")
    wait_state(daemon, one.mac, "blocked")
    moved, seconds = fetch(lab, way_in, 1000, timeout=PROMPT * 2)
    assert moved == 0 and seconds < PROMPT  # refused at once, not left to time out
