"""The lab itself: topology, DHCP, DNS, exact byte counts, isolation, teardown, demo."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import select
import signal
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import pytest
import requests

from routerguard_lab import plan
from routerguard_lab.hosts import Router, read_truth
from routerguard_lab.netns import ETC_NETNS_DIR, NAME_PATTERN, Namespace, sweep_stale
from routerguard_lab.relay import Relay
from routerguard_lab.topology import Lab
from routerguard_lab.wait import wait_until

pytestmark = [pytest.mark.lab, pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")]

IFNAMSIZ = 15
TESTS = Path(__file__).resolve().parents[1]
SETTLE = 2.0


def conntrack_bytes(router: Router, src: str, v6: bool) -> tuple[int, int]:
    """(orig, reply) bytes of the TCP flows from ``src``, per the router's conntrack."""
    out = router.exec(["conntrack", "-L", "-o", "extended", "-f", "ipv6" if v6 else "ipv4",
                       "-p", "tcp", "-s", src]).stdout
    orig = reply = 0
    for line in out.splitlines():
        counts = [int(n) for n in re.findall(r"bytes=(\d+)", line)]
        orig, reply = orig + counts[0], reply + counts[1]
    return orig, reply


def settled(a: Callable[[], object], b: Callable[[], object]) -> tuple[object, object]:
    """Both readings once they agree (the last packets may still be in flight), else the last pair."""
    last: list[tuple[object, object]] = []

    def agree() -> bool:
        last[:] = [(a(), b())]
        return last[0][0] == last[0][1]

    try:
        wait_until(agree, SETTLE, "the counters to agree")
    except TimeoutError:
        pass
    return last[0]


def leases(router: Router) -> dict[str, tuple[str, str]]:
    with open(router.lease_file) as f:
        return {mac: (ip, host) for _, mac, ip, host, _ in (line.split() for line in f)}


def all_hosts(lab: Lab) -> list:
    return [lab.router, lab.internet, *lab.clients]


@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("direction", ["download", "upload"])
def test_client_truth_equals_router_conntrack(lab: Lab, direction: str, v6: bool) -> None:
    client = lab.clients[0]
    size = 3_000_000
    assert getattr(client, direction)(size, v6=v6) == size
    src = client.ip6 if v6 else client.ip4
    truth, conntrack = settled(client.truth, lambda: conntrack_bytes(lab.router, src, v6))
    assert truth == conntrack
    up, down = truth
    assert (down if direction == "download" else up) > size
    assert (up if direction == "download" else down) < size // 10


def test_truth_reset_reads_then_zeroes(lab: Lab) -> None:
    client = lab.clients[1]
    client.download(100_000)
    up, down = client.truth(reset=True)
    assert down > 100_000 and up > 0
    assert client.truth() == (0, 0)


def test_clients_lease_addresses_from_dnsmasq_with_hostnames(lab: Lab) -> None:
    table = leases(lab.router)
    for client in lab.clients:
        assert client.ip4 == plan.client_ip4(client.index)
        assert table[client.mac] == (client.ip4, client.hostname)
        info = json.loads(client.ns.ip("-j", "addr", "show", "dev", client.ifname).stdout)[0]
        assert info["address"] == client.mac
        assert {a["local"] for a in info["addr_info"]} >= set(client.ips)
        route = client.exec(["ip", "route", "show", "default"]).stdout
        assert f"via {lab.router.lan_ip}" in route


def test_new_mac_gets_a_dynamic_lease(lab: Lab) -> None:
    client = lab.clients[0]
    new_mac = "02:00:00:00:01:99"
    ip = client.set_mac(new_mac)
    low, high = (ipaddress.ip_address(a) for a in plan.DHCP_RANGE)
    assert low <= ipaddress.ip_address(ip) <= high
    assert client.download(10_000) == 10_000
    assert wait_until(lambda: leases(lab.router).get(new_mac), SETTLE, "the new lease") == (ip, client.hostname)


def test_names_resolve_through_the_routers_dnsmasq_and_upstream(lab: Lab) -> None:
    client = lab.clients[1]
    for name in lab.internet.names:
        assert client.download(1000, host=name) == 1000
        assert client.download(1000, v6=True, host=f"www.{name}") == 1000
    flows = lab.router.exec(["conntrack", "-L", "-p", "tcp"]).stdout
    for v4, v6 in lab.internet.names.values():
        assert f"dst={v4} " in flows and f"dst={v6} " in flows

    def forwarded() -> bool:
        with open(lab.router.dnsmasq.log_file) as f:
            return f"forwarded dl.example.test to {plan.INTERNET4}" in f.read()

    wait_until(forwarded, SETTLE, "the router's dnsmasq to log the forwarded query")


def test_dnsmasq_restart_reads_conf_dir_and_keeps_leases(lab: Lab) -> None:
    router, client = lab.router, lab.clients[0]
    with open(os.path.join(router.dnsmasq_conf_dir, "extra.conf"), "w") as f:
        f.write(f"address=/only-after-restart.test/{lab.internet.ip4}\n")
    assert client.download(10, host="only-after-restart.test", check=False) == 0
    pid_before = Path(router.dnsmasq.pid_file).read_text()
    router.exec([router.dnsmasq_restart])  # as the daemon's dnsmasq_restart would, from inside
    assert Path(router.dnsmasq.pid_file).read_text() != pid_before
    assert client.download(10, host="only-after-restart.test") == 10
    router.restart_dnsmasq()  # and from the test process
    assert set(leases(router)) == {c.mac for c in lab.clients}
    assert client.download(10, host="dl.example.test") == 10


def test_privacy_address_is_a_second_source_with_the_same_mac(lab: Lab) -> None:
    client = lab.clients[0]
    client.download(10_000, v6=True)
    client.download(10_000, v6=True, src=client.ip6_privacy)
    flows = lab.router.exec(["conntrack", "-L", "-f", "ipv6", "-p", "tcp"]).stdout
    assert f"src={client.ip6} " in flows and f"src={client.ip6_privacy} " in flows
    neighbours = json.loads(lab.router.ns.ip("-j", "-6", "neigh", "show", "dev", plan.LAN_IF).stdout)
    macs = {n["dst"]: n.get("lladdr") for n in neighbours}
    assert macs[client.ip6] == macs[client.ip6_privacy] == client.mac


def test_uploads_of_any_encoding_are_counted_by_the_server(lab: Lab) -> None:
    client = lab.clients[0]
    url = lab.internet.url("/upload", v6=True)
    with client.body_file(2_500_000) as body:
        plain = client.exec(["curl", "-sS", "-T", body, "-X", "POST", "-g", url]).stdout
    chunked = client.exec(["sh", "-c", f"head -c 1234567 /dev/zero | curl -sS -T - -X POST -g '{url}'"]).stdout
    assert (plain.strip(), chunked.strip()) == ("2500000", "1234567")


def test_offloads_off_on_every_veth(lab: Lab) -> None:
    for host in all_hosts(lab):
        links = json.loads(host.ns.ip("-j", "-d", "link", "show", "type", "veth").stdout)
        assert links
        for link in links:
            assert link["gso_max_segs"] == 1
            features = host.exec(["ethtool", "-k", link["ifname"]]).stdout
            for feature in ("tcp-segmentation-offload", "generic-segmentation-offload",
                            "generic-receive-offload"):
                assert f"{feature}: off" in features, (host, link["ifname"], feature)


def test_router_forwards_and_accounts(lab: Lab) -> None:
    keys = ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding",
            "net.netfilter.nf_conntrack_acct", "net.netfilter.nf_conntrack_events"]
    assert lab.router.exec(["sysctl", "-n", *keys]).stdout.split() == ["1"] * len(keys)


def test_no_ipv6_address_waits_for_dad(lab: Lab) -> None:
    for host in all_hosts(lab):
        assert host.ns.ip("-6", "addr", "show", "tentative").stdout == ""


def test_labs_are_isolated_named_by_pid_and_leave_the_root_namespace_alone(
        lab_factory: Callable[..., Lab]) -> None:
    a, b = lab_factory(1), lab_factory(1)
    assert set(a.namespaces).isdisjoint(b.namespaces)
    for lab in (a, b):
        for name in lab.namespaces:
            match = NAME_PATTERN.match(name)
            assert match and match["pid"] == str(os.getpid())
        for host in all_hosts(lab):
            links = json.loads(host.ns.ip("-j", "link", "show").stdout)
            assert all(len(link["ifname"]) <= IFNAMSIZ for link in links)
    a.clients[0].download(1_000_000)
    assert b.clients[0].truth() == (0, 0)
    root_links = {link["ifname"] for link in json.loads(
        subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True).stdout)}
    assert root_links.isdisjoint({plan.LAN_IF, plan.WAN_IF, "lan1"})
    root_tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert "labfw" not in root_tables and "labtruth" not in root_tables


def test_relay_reaches_a_server_in_the_router_namespace(lab: Lab, tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hello from the router\n")
    lab.router.popen([sys.executable, "-m", "http.server", "--bind", lab.router.lan_ip,
                      "--directory", str(tmp_path), str(plan.PAGE_PORT)],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    relay = Relay(("127.0.0.1", 0), lab.router.ns, (lab.router.lan_ip, plan.PAGE_PORT))
    try:
        body = wait_until(lambda: http_get(relay.port, "/hello.txt"), 10, "the page via the relay")
    finally:
        relay.close()
    assert body == b"hello from the router\n"
    on_lan = lab.clients[0].exec(["curl", "-sS", f"http://{lab.router.lan_ip}:{plan.PAGE_PORT}/hello.txt"])
    assert on_lan.stdout == "hello from the router\n"


def http_get(port: int, path: str) -> bytes | None:
    """The body, or None while nothing answers behind the relay."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.read()
    except (urllib.error.URLError, ConnectionError, OSError):
        return None


FAILING_TEST = """
import json, subprocess

def test_fails_after_starting_things(lab):
    lab.router.popen(["sleep", "600"])
    lab.router.exec(["sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $! > {orphan}"])
    with open({record!r}, "w") as f:
        json.dump({{"namespaces": lab.namespaces, "dir": lab.dir}}, f)
    assert False, "deliberately failing"
"""


def test_failing_test_leaves_no_namespace_process_or_file(tmp_path: Path) -> None:
    record, orphan = tmp_path / "record.json", tmp_path / "orphan.pid"
    (tmp_path / "test_failing.py").write_text(FAILING_TEST.format(record=str(record), orphan=orphan))
    suite = os.pathsep.join([str(TESTS), os.environ["PYTHONPATH"]])  # its conftest as a plugin: the `lab` fixture
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider",
                          "test_failing.py"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": suite, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})  # 2 s less
    assert run.returncode == 1 and "1 failed" in run.stdout, run.stdout + run.stderr
    seen = json.loads(record.read_text())
    existing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for name in seen["namespaces"]:
        assert name not in existing
        assert not os.path.exists(os.path.join(ETC_NETNS_DIR, name))
    assert not os.path.exists(seen["dir"])
    assert not running(int(orphan.read_text()))


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's reaper may collect it a little later)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_sweep_removes_only_namespaces_whose_creator_is_dead() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    alive = subprocess.Popen(["sleep", "60"])
    stale = Namespace.create(f"rg{gone.pid}x1-r")
    live = Namespace.create(f"rg{alive.pid}x1-r")
    stale.set_resolver("127.0.0.1")
    leftover = stale.popen(["sleep", "60"])
    try:
        wait_until(lambda: leftover.pid in stale.pids(), SETTLE, "sleep to enter the namespace")
        removed = sweep_stale()
        assert stale.name in removed and not stale.exists()
        assert not os.path.exists(os.path.join(ETC_NETNS_DIR, stale.name))
        assert leftover.wait(5) is not None  # killed by the sweep
        assert live.exists() and live.name not in removed
    finally:
        leftover.kill()
        leftover.wait()
        stale.delete()
        live.delete()
        alive.kill()
        alive.wait()


DEMO = """
import sys
from routerguard_lab.demo import run_demo
sys.exit(run_demo(0, clients={clients}, daemon_argv={argv!r}))
"""

FAKE_DAEMON = """
import functools, http.server, os, signal, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # like routerguard run
host, port = os.environ["RG_LAB_LISTEN"].rsplit(":", 1)
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=os.environ["RG_LAB_DIR"])
http.server.HTTPServer((host, int(port)), handler).serve_forever()
"""


def start_demo(clients: int, daemon_argv: list[str] | None) -> tuple[subprocess.Popen, str, int]:
    """The demo in its own process, once it says it is up: (process, name prefix, host port)."""
    proc = subprocess.Popen([sys.executable, "-c", DEMO.format(clients=clients, argv=daemon_argv)],
                            stdout=subprocess.PIPE)
    text = announcement(proc)
    return proc, re.search(r"namespaces (rg\d+x\d+)-\*", text)[1], int(re.search(r"http://127\.0\.0\.1:(\d+)/", text)[1])


def announcement(proc: subprocess.Popen) -> str:
    """What the demo prints up to its "Ctrl-C stops" line (stopping it if that never comes)."""
    assert proc.stdout is not None
    text = ""
    try:
        while "Ctrl-C" not in text:  # raw reads: select and a buffered reader do not mix
            ready, _, _ = select.select([proc.stdout], [], [], 30)
            chunk = os.read(proc.stdout.fileno(), 4096) if ready else b""
            assert chunk, f"demo did not come up: {text!r}"
            text += chunk.decode()
    except BaseException:
        stop_demo(proc)
        raise
    return text


def stop_demo(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> int:
    """Signal the demo and return its exit code; SIGKILL only if it does not stop."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()
    finally:
        if proc.stdout:
            proc.stdout.close()


def lab_namespaces(prefix: str) -> list[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in listing.splitlines() if line.startswith(f"{prefix}-")]


def test_demo_runs_daemon_relays_page_makes_traffic_and_cleans_up(tmp_path: Path) -> None:
    daemon = tmp_path / "daemon.py"
    daemon.write_text(textwrap.dedent(FAKE_DAEMON))
    proc, prefix, port = start_demo(2, [sys.executable, str(daemon)])
    try:
        page = wait_until(lambda: http_get(port, "/dhcp.leases"), 10, "the daemon's page via the relay")
        assert b" client1 " in page and b" client2 " in page
        client1 = Namespace(f"{prefix}-c1")
        wait_until(lambda: sum(read_truth(client1)) > 0, 15, "client1's demo traffic")
    finally:
        code = stop_demo(proc)
    assert code == 0
    assert lab_namespaces(prefix) == []


def test_demo_without_daemon_stops_on_ctrl_c() -> None:
    proc, prefix, _ = start_demo(1, None)
    try:
        assert len(lab_namespaces(prefix)) == 3
    finally:
        code = stop_demo(proc, signal.SIGINT)
    assert code == 0
    assert lab_namespaces(prefix) == []


ROUTERGUARD = Path(sys.executable).with_name("routerguard")  # the installed command, as README runs it


@pytest.mark.lab
def test_routerguard_lab_serves_the_metered_clients_and_leaves_no_namespace_on_ctrl_c() -> None:
    """README's first command, `routerguard lab --port N`: the real daemon, its page, its password."""
    proc = subprocess.Popen([str(ROUTERGUARD), "lab", "--port", "0", "--clients", "2"], stdout=subprocess.PIPE)
    text = announcement(proc)
    prefix = re.search(r"namespaces (rg\d+x\d+)-\*", text)[1]
    try:
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", text)[1])
        password = re.search(r"admin password of the lab's page: (\S+)", text)[1]
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_get(port, "/healthz"), 30, "the lab's page to answer")
        session = requests.Session()
        login = session.post(f"{base}/api/v1/session", json={"password": password}, timeout=10)
        assert login.status_code == 200, login.text

        def busy_devices() -> list[str]:
            devices = session.get(f"{base}/api/v1/devices", timeout=10).json()["devices"]
            return sorted(d["mac"] for d in devices if d["usage"]["total_bytes"] > 0)

        assert wait_until(lambda: len(busy_devices()) == 2 and busy_devices(), 60, "both clients' usage") == \
            [plan.client_mac(1), plan.client_mac(2)]
    finally:
        code = stop_demo(proc, signal.SIGINT)
    assert code == 0
    assert lab_namespaces(prefix) == []
