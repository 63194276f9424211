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
from typing import Any, Callable, Mapping, Sequence, TypeVar

from . import plan
from .demo import lab_environment
from .topology import Lab
from .wait import wait_until

START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0
SETTLE_TRIES = 10
T = TypeVar("T")
ROUTERGUARD = os.path.join(sysconfig.get_path("scripts"), "routerguard")


DEMO_PASSWORD = "routerguard-lab"  # printed by `routerguard lab`; a lab is not a router
DEMO_FAMILY = ("Zhang phone", "Zhang laptop")
LEAKY_NAME = "Guest tablet"
LEAKY_CAP = "50MB"  # the leaking client reaches 80% of it within a minute or two: a threshold alert
DEMO_POLICY = """
config plan 'plan'
\toption quota '2GB'
\toption period 'monthly'
\toption action 'block'

config defaults 'new_device'
\toption cap '300MB'
\toption period 'daily'
\toption action 'throttle'
\toption throttle '1mbit'

config group
\toption id 'family'
\toption name 'Zhang family'
\toption cap '1GB'
\toption period 'daily'
\toption action 'throttle'
\toption throttle '512kbit'
"""


def demo_policy(clients: int) -> str:
    """The demo's plan and devices: clients 1 and 2 are the family's, the last one (it leaks) has a small cap."""
    family = "".join(f"\nconfig device\n\toption mac '{plan.client_mac(i)}'\n\toption name '{name}'\n\toption group 'family'\n"
                     for i, name in zip(range(1, clients), DEMO_FAMILY))
    leaky = (f"\nconfig device\n\toption mac '{plan.client_mac(clients)}'\n\toption name '{LEAKY_NAME}'\n"
             f"\toption cap '{LEAKY_CAP}'\n\toption period 'daily'\n\toption action 'throttle'\n\toption throttle '256kbit'\n")
    return DEMO_POLICY + family + leaky


def config_text(env: dict[str, str], extra: str = "", *, poll_interval: float = 0.5, commit_interval: int = 60,
                timezone: str = "UTC") -> str:
    """A daemon config for a lab described by `env` (demo.lab_environment's RG_LAB_* variables)."""
    return f"""config routerguard 'main'
\toption lan_if '{env["RG_LAB_LAN_IF"]}'
\tlist wan_if '{env["RG_LAB_WAN_IF"]}'
\toption listen '{env["RG_LAB_LISTEN"]}'
\toption data_dir '{os.path.join(env["RG_LAB_DIR"], "data")}'
\toption poll_interval '{poll_interval}'
\toption commit_interval '{commit_interval}'
\toption leases '{env["RG_LAB_LEASE_FILE"]}'
\toption dnsmasq_conf_dir '{env["RG_LAB_DNSMASQ_CONF_DIR"]}'
\toption dnsmasq_restart '{env["RG_LAB_DNSMASQ_RESTART"]}'
\toption timezone '{timezone}'
{extra}"""


def demo_main() -> int:
    """The daemon of `routerguard lab`: runs inside the router namespace, config from RG_LAB_*."""
    path = os.path.join(os.environ["RG_LAB_DIR"], "routerguard.conf")
    with open(path, "w") as f:
        f.write(config_text(dict(os.environ), demo_policy(int(os.environ["RG_LAB_CLIENTS"])), poll_interval=1))
    subprocess.run([ROUTERGUARD, "passwd", "--config", path], input=DEMO_PASSWORD + "\n", text=True, check=True)
    os.execv(ROUTERGUARD, [ROUTERGUARD, "run", "--config", path])


class LabDaemon:
    """One `routerguard run` in the lab's router namespace."""

    def __init__(self, lab: Lab, extra: str = "", *, env: Mapping[str, str] | None = None,
                 command: Sequence[str] = (ROUTERGUARD,), **options: Any) -> None:
        """`extra`: config sections after main; `options`: config_text's; `env`: added to the daemon's environment;
        `command`: the `routerguard` to run (another install of it, e.g. the OpenWrt package's layout)."""
        self.lab = lab
        self.command = list(command)
        self.env = {**os.environ, **env} if env else None
        self.config = os.path.join(lab.dir, "routerguard.conf")
        with open(self.config, "w") as f:
            f.write(config_text(lab_environment(lab, plan.PAGE_PORT), extra, **options))
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(lab.dir, "routerguard.log")
        self._token: str | None = None

    def routerguard(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.lab.router.exec([*self.command, *args, "--config", self.config], input=input, check=False)

    def start(self) -> "LabDaemon":
        log = open(self.log_path, "a")
        self.proc = self.lab.router.popen([*self.command, "run", "--config", self.config], stdout=log, stderr=log,
                                          env=self.env)
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

    def settled(self, read: Callable[[], T]) -> T:
        """What `read` gives once two readings apart agree: the last packets of finished transfers (FIN, ACK,
        resets) are counted a reading or two after the transfer ends."""
        previous = None
        for _ in range(SETTLE_TRIES):
            self.wait_readings()
            current = read()
            if current == previous:
                return current
            previous = current
        raise AssertionError(f"never settled: {previous}")

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


if __name__ == "__main__":
    raise SystemExit(demo_main())
