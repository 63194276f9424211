"""routerguard itself inside the lab's router: its config, start, stop, and its API.

Tests and the demo share this so the daemon always runs the same way: the
installed `routerguard run` in the router namespace, a config written next to
the lab, the API reached over real HTTP from inside the router.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sysconfig
from typing import Any

from . import plan
from .topology import Lab
from .wait import wait_until

START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0
ROUTERGUARD = os.path.join(sysconfig.get_path("scripts"), "routerguard")


def lab_config(lab: Lab, extra: str = "", *, poll_interval: float = 0.5, commit_interval: int = 60) -> str:
    """The text of a config for the daemon in `lab`; `extra` is appended (caps, plan, groups...)."""
    router = lab.router
    return f"""config routerguard 'main'
\toption lan_if '{router.lan_if}'
\tlist wan_if '{router.wan_if}'
\toption listen '{router.lan_ip}:{plan.PAGE_PORT}'
\toption data_dir '{os.path.join(lab.dir, "data")}'
\toption poll_interval '{poll_interval}'
\toption commit_interval '{commit_interval}'
\toption leases '{router.lease_file}'
\toption dnsmasq_conf_dir '{router.dnsmasq_conf_dir}'
\toption dnsmasq_restart '{router.dnsmasq_restart}'
\toption timezone 'UTC'
{extra}"""


class LabDaemon:
    """One `routerguard run` in the lab's router namespace."""

    def __init__(self, lab: Lab, extra: str = "", **options: Any) -> None:
        self.lab = lab
        self.config = os.path.join(lab.dir, "routerguard.conf")
        with open(self.config, "w") as f:
            f.write(lab_config(lab, extra, **options))
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(lab.dir, "routerguard.log")
        self._token: str | None = None

    def routerguard(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.lab.router.exec([ROUTERGUARD, *args, "--config", self.config], input=input, check=False)

    def start(self) -> "LabDaemon":
        log = open(self.log_path, "a")
        self.proc = self.lab.router.popen([ROUTERGUARD, "run", "--config", self.config], stdout=log, stderr=log)
        log.close()
        wait_until(lambda: self.proc.poll() is not None or self.health(), START_TIMEOUT, "routerguard to answer /healthz")
        if self.proc.poll() is not None:
            raise RuntimeError(f"routerguard exited with {self.proc.returncode}:\n{self.log()}")
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Stop the daemon (SIGTERM: cleanly; SIGKILL: as a crash) and return its exit status."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(STOP_TIMEOUT)

    def log(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def health(self) -> dict | None:
        result = self._curl("/healthz", "-f")
        return json.loads(result.stdout) if result.returncode == 0 else None

    def readings(self) -> int:
        return (self.health() or {}).get("readings", 0)

    def wait_readings(self, count: int = 2) -> None:
        """Wait until `count` more meter readings have happened: what is in conntrack now is counted."""
        target = self.readings() + count
        wait_until(lambda: self.readings() >= target, START_TIMEOUT, f"{count} more meter readings")

    def token(self) -> str:
        if self._token is None:
            self._token = self.routerguard("token").stdout.strip()
        return self._token

    def api(self, method: str, path: str, body: Any = None, *, expect: int = 200) -> Any:
        """Call the API as the admin (bearer token) and return its JSON."""
        args = ["-X", method, "-H", f"Authorization: Bearer {self.token()}"]
        if body is not None:
            args += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
        result = self._curl(path, *args, "-w", "\n%{http_code}")
        text, _, status = result.stdout.rpartition("\n")
        if int(status or 0) != expect:
            raise AssertionError(f"{method} {path}: HTTP {status}, expected {expect}: {text}")
        return json.loads(text) if text else None

    def _curl(self, path: str, *args: str) -> subprocess.CompletedProcess[str]:
        url = f"http://{self.lab.router.lan_ip}:{plan.PAGE_PORT}{path}"
        return self.lab.router.exec(["curl", "-sS", "--max-time", "10", *args, url], check=False)
