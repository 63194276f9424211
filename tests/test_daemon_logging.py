"""`routerguard run --syslog`: each line reaches the system log at its own level (procd files stderr as daemon.err)."""

import logging
import socket

from routerguard.daemon import setup_logging

DAEMON_INFO, DAEMON_ERR = 3 * 8 + 6, 3 * 8 + 3  # facility daemon (3) * 8 + severity


def test_syslog_lines_carry_their_level(tmp_path, monkeypatch):
    path = str(tmp_path / "log")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(5)
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()
    try:
        setup_logging(path)
        logging.getLogger("routerguard").info("serving on 192.168.8.1:8080")
        logging.getLogger("routerguard").error("config reload refused")
        got = [server.recv(4096).decode() for _ in range(2)]
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = saved
        server.close()
    assert got[0].startswith(f"<{DAEMON_INFO}>routerguard[") and got[0].rstrip("\x00").endswith("serving on 192.168.8.1:8080")
    assert got[1].startswith(f"<{DAEMON_ERR}>routerguard[") and "config reload refused" in got[1]
