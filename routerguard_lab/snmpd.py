"""A real net-snmp agent for tests, and the WAN poller run beside it in a namespace.

Started inside a network namespace, snmpd reports that namespace's
interfaces and listens on that namespace's 127.0.0.1, so the poller that
reads it must run there too: `NamespacedPoller` runs it in a child process
(`ip netns exec NS python3 -m routerguard_lab.snmpd poll ...`) that prints a
JSON snapshot a line, while the test process stays in the root namespace.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from typing import Any, Callable, Sequence

from routerguard_lab.wait import LabTimeout, wait_until

SNMPD = "snmpd"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
PORT_ATTEMPTS = 3  # an auto-chosen port may be taken between choosing and binding
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SNAPSHOT_TIMEOUT = 30.0


def in_netns(netns: str | None, argv: Sequence[str]) -> list[str]:
    """`argv`, run inside `netns` when one is given."""
    return ["ip", "netns", "exec", netns, *argv] if netns else list(argv)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SnmpAgent:
    """snmpd on 127.0.0.1:port, v2c read-only `community`, optionally inside `netns`.

    A context manager; `stop()` and `start()` in between restart it on the
    same port, as an agent restart on a router would. `config` lines are
    added to snmpd.conf (e.g. `pass_persist`, see routerguard_lab.snmppass).
    """

    def __init__(
        self, netns: str | None = None, port: int | None = None, community: str = "public", config: Sequence[str] = (),
    ) -> None:
        self.netns, self.community, self.config = netns, community, list(config)
        self.port = port or 0  # 0: choose a free one at the first start, keep it for restarts
        self._dir = tempfile.mkdtemp(prefix="rg-snmpd-")
        self._process: subprocess.Popen[bytes] | None = None
        # No MIB files: snmpd speaks numeric OIDs and stays quiet about missing modules.
        self._env = {**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": os.path.join(self._dir, "persist")}

    def __enter__(self) -> "SnmpAgent":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def log(self) -> str:
        """What snmpd printed: the first thing to read when a test fails."""
        try:
            with open(self._log_path, encoding="utf-8", errors="replace") as log:
                return log.read()
        except FileNotFoundError:
            return ""

    def start(self) -> None:
        """Start snmpd and return once it answers; a port chosen here is chosen again if taken."""
        for _attempt in range(1 if self.port else PORT_ATTEMPTS):
            port = self.port or free_udp_port()
            self._launch(port)
            if self._wait_ready(port):
                self.port = port
                return
        raise RuntimeError(f"lab: snmpd (netns {self.netns}) did not start:\n{self.log}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    @property
    def _log_path(self) -> str:
        return os.path.join(self._dir, "snmpd.log")

    def _launch(self, port: int) -> None:
        config = os.path.join(self._dir, "snmpd.conf")
        with open(config, "w", encoding="utf-8") as out:
            out.write(f"agentAddress udp:127.0.0.1:{port}\nrocommunity {self.community} 127.0.0.1\n")
            out.writelines(line + "\n" for line in self.config)
        with open(self._log_path, "ab") as log:
            self._process = subprocess.Popen(
                in_netns(self.netns, [SNMPD, "-f", "-Lo", "-C", "-c", config]),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=self._env,
            )

    def _wait_ready(self, port: int) -> bool:
        """Whether snmpd answers a GET; False if it exited (e.g. the port was taken)."""
        process = self._process
        assert process is not None
        try:
            wait_until(lambda: process.poll() is not None or self._answers(port), START_TIMEOUT, f"snmpd on port {port}")
        except LabTimeout:
            self.stop()
            raise
        if process.poll() is not None:
            self._process = None
            return False
        return True

    def _answers(self, port: int) -> bool:
        probe = in_netns(self.netns, [
            "snmpget", "-v2c", "-c", self.community, "-t", "0.2", "-r", "0", f"127.0.0.1:{port}", SYS_UPTIME,
        ])
        return subprocess.run(probe, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self._env).returncode == 0


class NamespacedPoller:
    """A WanPoller in a child process inside `netns`, watched through its JSON snapshots."""

    def __init__(
        self, netns: str, port: int, if_name: str, interval: float = 0.5, state: dict[str, Any] | None = None,
        community: str = "public",
    ) -> None:
        self.argv = in_netns(netns, [
            sys.executable, "-m", "routerguard_lab.snmpd", "poll", "--port", str(port), "--if-name", if_name,
            "--community", community, "--interval", str(interval), "--state", json.dumps(state),
        ])
        self._snapshot: dict[str, Any] | None = None
        self._stderr = tempfile.TemporaryFile()
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> "NamespacedPoller":
        self._process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr)
        self._reader = threading.Thread(target=self._read_snapshots, daemon=True)
        self._reader.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._process is not None and self._reader is not None
        self._process.terminate()
        try:
            self._process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.join()
        assert self._process.stdout is not None
        self._process.stdout.close()
        self._stderr.close()

    def snapshot(self) -> dict[str, Any] | None:
        """The child's latest report: {"total", "health", "state"}, or None before the first."""
        return self._snapshot

    def wait_for(self, condition: Callable[[dict[str, Any]], bool], what: str, timeout: float = SNAPSHOT_TIMEOUT) -> dict[str, Any]:
        """The first snapshot that meets `condition`; LabTimeout shows the last one and the child's stderr.

        Each snapshot is judged once, so a condition may afford to look at the
        system (e.g. read counters in the namespace).
        """
        judged: list[dict[str, Any] | None] = [None]

        def met() -> dict[str, Any] | None:
            snapshot = self._snapshot
            if snapshot is None or snapshot is judged[0]:
                return None
            judged[0] = snapshot
            return snapshot if condition(snapshot) else None

        try:
            snapshot = wait_until(met, timeout, what)
        except LabTimeout as timeout_error:
            self._stderr.seek(0)
            stderr = self._stderr.read().decode(errors="replace")
            raise LabTimeout(f"{timeout_error}; last snapshot: {self._snapshot}; poller stderr:\n{stderr}") from None
        assert snapshot is not None
        return snapshot

    def _read_snapshots(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self._snapshot = json.loads(line)


def _poll(args: argparse.Namespace) -> None:
    """The child's side: poll and print a snapshot every interval until terminated."""
    from routerguard.config.model import SnmpSource
    from routerguard.account.wan_poller import WanPoller

    source = SnmpSource(host="127.0.0.1", port=args.port, community=args.community, if_name=args.if_name)
    poller = WanPoller(source, interval=args.interval, state=json.loads(args.state), timeout=args.interval / 2, retries=0)
    with poller:
        while True:
            snapshot = {"total": poller.latest(), "health": asdict(poller.health()), "state": poller.state()}
            print(json.dumps(snapshot), flush=True)
            time.sleep(args.interval / 2)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python3 -m routerguard_lab.snmpd")
    commands = parser.add_subparsers(dest="command", required=True)
    poll = commands.add_parser("poll", help="run a WAN poller against 127.0.0.1 and print JSON snapshots")
    poll.add_argument("--port", type=int, required=True)
    poll.add_argument("--if-name", required=True)
    poll.add_argument("--community", default="public")
    poll.add_argument("--interval", type=float, default=0.5)
    poll.add_argument("--state", default="null", help="JSON from a previous snapshot's 'state'")
    _poll(parser.parse_args(argv))


if __name__ == "__main__":
    main()
