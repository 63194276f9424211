"""``routerguard lab``: a live router with busy clients, for newcomers and demos.

Builds the lab, keeps its clients downloading and uploading, forwards
127.0.0.1:PORT on the host to the daemon's page inside the router
namespace, optionally runs the daemon there, and removes everything on
Ctrl-C or SIGTERM.

The daemon command runs with ``ip netns exec`` in the router namespace and
finds the lab in its environment, so a wrapper can write its config:
RG_LAB_DIR (a temp dir, removed at the end), RG_LAB_LEASE_FILE,
RG_LAB_DNSMASQ_CONF_DIR, RG_LAB_DNSMASQ_RESTART, RG_LAB_LAN_IF,
RG_LAB_WAN_IF, RG_LAB_LISTEN (the page address the relay forwards to) and
RG_LAB_CLIENTS (how many; the last one leaks: traffic.LEAK).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import TextIO

from . import plan
from .relay import Relay
from .topology import Lab
from .traffic import MixedTraffic

DAEMON_STOP_TIMEOUT = 15.0


class _Stop(BaseException):
    """Raised by our SIGINT/SIGTERM handler; a handler that touched locks could deadlock."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop


def run_demo(port: int, clients: int = 3, daemon_argv: list[str] | None = None, *,
             page_port: int = plan.PAGE_PORT, out: TextIO = sys.stdout) -> int:
    """Run the demo until a signal or the daemon's exit; returns the daemon's exit code (0 without one).

    ``port`` 0 picks a free port (printed). Must run in the main thread: it
    handles SIGINT and SIGTERM itself so that teardown always happens.
    """
    handlers = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Lab(clients) as lab:
            return _serve(lab, port, daemon_argv, page_port, out)
    except _Stop:
        return 0  # stopped while the lab was being built or torn down
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _serve(lab: Lab, port: int, daemon_argv: list[str] | None, page_port: int,
           out: TextIO) -> int:
    """Everything that runs on the built lab; stopping it is shielded from further signals."""
    daemon_exited = threading.Event()
    relay = traffic = daemon = None
    try:
        relay = Relay(("127.0.0.1", port), lab.router.ns, (lab.router.lan_ip, page_port))
        traffic = MixedTraffic(lab.clients, leaky=lab.clients[-1])
        if daemon_argv:
            daemon = _start_daemon(lab, daemon_argv, page_port, daemon_exited)
        print(describe(lab, relay.port, page_port), file=out, flush=True)
        daemon_exited.wait()
    except _Stop:
        pass
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        if traffic:
            traffic.stop()
        if relay:
            relay.close()
    return _stop_daemon(daemon) if daemon else 0


def lab_environment(lab: Lab, page_port: int) -> dict[str, str]:
    return {
        "RG_LAB_DIR": lab.dir,
        "RG_LAB_LEASE_FILE": lab.router.lease_file,
        "RG_LAB_DNSMASQ_CONF_DIR": lab.router.dnsmasq_conf_dir,
        "RG_LAB_DNSMASQ_RESTART": lab.router.dnsmasq_restart,
        "RG_LAB_LAN_IF": lab.router.lan_if,
        "RG_LAB_WAN_IF": lab.router.wan_if,
        "RG_LAB_LISTEN": f"{lab.router.lan_ip}:{page_port}",
        "RG_LAB_CLIENTS": str(len(lab.clients)),
    }


def describe(lab: Lab, port: int, page_port: int) -> str:
    r = lab.router
    lines = [
        f"routerguard lab is up (namespaces {lab.prefix}-*).",
        f"  page      http://127.0.0.1:{port}/  ->  {r.lan_ip}:{page_port} in the router",
        f"  router    {r.lan_if} {r.lan_ip} {r.lan_ip6}, {r.wan_if} {r.wan_ip} {r.wan_ip6}"
        f"   (shell: ip netns exec {r.ns.name} sh)",
        f"  leases    {r.lease_file}",
        f"  internet  {lab.internet.ip4} {lab.internet.ip6}, names {', '.join(lab.internet.names)}",
    ]
    for c in lab.clients:
        lines.append(f"  {c.hostname:<9} {c.mac}  {c.ip4}  {c.ip6}  {c.ip6_privacy}"
                     f"   (shell: ip netns exec {c.ns.name} sh)")
    lines.append(f"Clients are generating traffic (video, OS updates, photo backup...); {lab.clients[-1].hostname} leaks:"
                 " a photo backup that never rests. Ctrl-C stops and removes everything.")
    return "\n".join(lines)


def _start_daemon(lab: Lab, argv: list[str], page_port: int,
                  exited: threading.Event) -> subprocess.Popen:
    """Start the daemon in the router; its exit ends the demo. Own session: Ctrl-C is ours to pass on."""
    proc = lab.router.popen(argv, env={**os.environ, **lab_environment(lab, page_port)},
                            stdin=subprocess.DEVNULL, start_new_session=True)

    def watch() -> None:
        proc.wait()
        exited.set()

    threading.Thread(target=watch, name="lab-daemon-watch", daemon=True).start()
    return proc


def _stop_daemon(proc: subprocess.Popen) -> int:
    """SIGTERM (the daemon flushes and exits 0), SIGKILL if it hangs; shell-style exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(DAEMON_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    code = proc.returncode
    return 128 - code if code < 0 else code
