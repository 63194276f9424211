"""The page's waitress server stops when told: promptly, with every thread and socket gone.

waitress has no public way to stop a server (routerguard/serve/server.py says
why the loop is ours), so these run on every waitress upgrade.
"""

from __future__ import annotations

import socket
import threading

import pytest
import requests

from routerguard.serve.server import Server
from web_util import Site


def waitress_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "http" or t.name.startswith("waitress")}


def refused(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def has_ipv6_loopback() -> bool:
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.parametrize("addresses", [
    (("127.0.0.1", 0),),
    pytest.param((("127.0.0.1", 0), ("::1", 0)), marks=pytest.mark.skipif(not has_ipv6_loopback(), reason="no ::1")),
], ids=["one address", "two addresses"])
def test_stop_ends_the_loop_and_the_task_threads_with_a_keep_alive_connection_open(site: Site, addresses) -> None:
    before = waitress_threads()
    server = Server(site.service, addresses)
    server.start()
    idle = requests.Session()  # keeps its connection open after the answer
    assert idle.get(f"http://127.0.0.1:{server.port}/healthz").status_code == 200
    assert waitress_threads() - before, "the server runs threads of its own"
    server.stop()
    assert waitress_threads() - before == set()
    assert refused(server.port)
    idle.close()
