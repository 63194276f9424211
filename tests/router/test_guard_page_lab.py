"""Guarding the guard, the page's half, in the virtual router (issue 19): the real daemon, the kernel's neighbour
table, clients in their own namespaces talking to the page over the LAN.

- a session is dead after `routerguard passwd`;
- with two-factor login on, the password alone is a 401 and the password with a standard TOTP code a session;
- more IPv4 addresses on one device (one MAC) are no more password guesses;
- 200 idle connections from one client leave /healthz answering another within 1 s.
"""

from __future__ import annotations

import json
import os
import re

import pyotp
import pytest

from routerguard.serve.auth import FREE_FAILURES
from routerguard_lab import plan
from routerguard_lab.hosts import Client
from routerguard_lab.lab_daemon import LabDaemon
from routerguard_lab.topology import Lab
from routerguard_lab.wait import wait_until

pytestmark = pytest.mark.lab  # needs root and the kernel (see tests/conftest.py)

PASSWORD = "guard lab admin"
PAGE = f"http://{plan.ROUTER_LAN4}:{plan.PAGE_PORT}"
EXTRA_ADDRESSES = ("192.168.8.241", "192.168.8.242")  # outside DHCP_RANGE and the reservations


def daemon_with_password(lab: Lab) -> LabDaemon:
    daemon = LabDaemon(lab).start()
    assert daemon.routerguard("passwd", input=PASSWORD + "\n").returncode == 0
    return daemon


def curl(client: Client, method: str, path: str, body: object = None, *, jar: str | None = None,
         source: str | None = None, max_time: float = 10) -> int:
    """The HTTP status of a request from `client` (from `source` if given), keeping cookies in `jar`."""
    args = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", str(max_time), "-X", method]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
    if jar:
        args += ["-b", jar, "-c", jar]
    if source:
        args += ["--interface", source]
    result = client.exec([*args, PAGE + path], check=False)
    return int(result.stdout.strip() or 0)


def test_a_session_is_dead_after_routerguard_passwd(lab: Lab) -> None:
    client = lab.clients[0]
    jar = os.path.join(lab.dir, "jar")
    daemon = daemon_with_password(lab)
    try:
        assert curl(client, "POST", "/api/v1/session", {"password": PASSWORD}, jar=jar) == 200
        assert curl(client, "GET", "/api/v1/devices", jar=jar) == 200
        assert daemon.routerguard("passwd", input="another lab password\n").returncode == 0
        assert curl(client, "GET", "/api/v1/devices", jar=jar) == 401
    finally:
        daemon.stop()


def test_with_2fa_the_password_alone_is_401_and_with_a_totp_code_a_session(lab: Lab) -> None:
    client = lab.clients[0]
    daemon = daemon_with_password(lab)
    try:
        enabled = daemon.routerguard("2fa", "enable")
        assert enabled.returncode == 0, enabled.stderr
        secret = re.search(r"^secret: (\w+)$", enabled.stdout, re.M).group(1)
        assert pyotp.parse_uri(re.search(r"^uri: (\S+)$", enabled.stdout, re.M).group(1)).secret == secret
        assert curl(client, "POST", "/api/v1/session", {"password": PASSWORD}) == 401
        assert curl(client, "POST", "/api/v1/session", {"password": PASSWORD, "otp": pyotp.TOTP(secret).now()}) == 200
    finally:
        daemon.stop()


def test_more_ipv4_addresses_on_one_device_are_no_more_guesses(lab: Lab) -> None:
    client, other = lab.clients
    daemon = daemon_with_password(lab)
    try:
        client.ns.ip_batch([f"addr add {address}/{plan.LAN4_PREFIXLEN} dev {client.ifname}" for address in EXTRA_ADDRESSES])
        def known() -> bool:  # the router's neighbour table learns each address with the client's MAC
            for address in EXTRA_ADDRESSES:
                curl(client, "GET", "/healthz", source=address)
            return set(EXTRA_ADDRESSES) <= set(daemon.api("GET", f"/api/v1/devices/{client.mac}")["ips"])

        wait_until(known, 10, "the daemon to know the client's extra addresses")
        first, second = EXTRA_ADDRESSES
        for _ in range(FREE_FAILURES):
            assert curl(client, "POST", "/api/v1/session", {"password": "guess"}, source=first) == 401
        assert curl(client, "POST", "/api/v1/session", {"password": PASSWORD}, source=second) == 429
        assert curl(client, "POST", "/api/v1/session", {"password": PASSWORD}, source=client.ip4) == 429
        assert curl(other, "POST", "/api/v1/session", {"password": PASSWORD}) == 200
    finally:
        daemon.stop()


HOLD = """
import socket, sys, time
held = [socket.create_connection(("{host}", {port}), timeout=5) for _ in range(200)]
print("held", flush=True)
sys.stdin.readline()
"""


def test_200_idle_connections_from_one_client_leave_the_page_to_another(lab: Lab) -> None:
    client, other = lab.clients
    daemon = daemon_with_password(lab)
    holder = None
    try:
        holder = client.popen(["python3", "-c", HOLD.format(host=plan.ROUTER_LAN4, port=plan.PAGE_PORT)],
                              stdin=-1, stdout=-1, text=True)
        assert holder.stdout.readline().strip() == "held"
        assert curl(other, "GET", "/healthz", max_time=1) == 200
    finally:
        if holder is not None:
            holder.stdin.close()
            holder.wait(10)
        daemon.stop()
