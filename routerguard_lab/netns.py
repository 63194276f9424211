"""Network namespace primitives: create, run in, kill everything in, delete, sweep.

Names embed the creating process's PID (``rg<pid>x<n>-<role>``) so that
several test processes on one machine never collide, and so that a later
run can tell a namespace left behind by a killed process (PID gone) from
one in use, and remove only the former.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from typing import Any, Mapping, Sequence

from .wait import LabTimeout, wait_until

NETNS_DIR = "/var/run/netns"
ETC_NETNS_DIR = "/etc/netns"
NAME_PATTERN = re.compile(r"^rg(?P<pid>\d+)x\d+-")
CLONE_NEWNET = 0x40000000
KILL_GRACE = 2.0
COMMAND_TIMEOUT = 60.0

_serial = itertools.count(1)
_libc = ctypes.CDLL(None, use_errno=True)


class LabError(RuntimeError):
    """A command the lab ran failed; the message carries its stderr."""


def new_prefix() -> str:
    """A name prefix unique on this machine while this process lives."""
    return f"rg{os.getpid()}x{next(_serial)}"


def run(argv: Sequence[str], *, check: bool = True, input: str | None = None,
        timeout: float | None = COMMAND_TIMEOUT, env: Mapping[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    """Run a command, capture text output, and fail with its stderr in the message."""
    proc = subprocess.run(list(argv), input=input, capture_output=True, text=True,
                          timeout=timeout, env=None if env is None else dict(env))
    if check and proc.returncode != 0:
        raise LabError(f"lab: {' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


class Namespace:
    """One named network namespace and the ways to act inside it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = os.path.join(NETNS_DIR, name)

    def __repr__(self) -> str:
        return f"Namespace({self.name!r})"

    @classmethod
    def create(cls, name: str) -> Namespace:
        """Add the namespace and bring its loopback up (servers bind to it)."""
        run(["ip", "netns", "add", name])
        ns = cls(name)
        try:
            ns.ip("link", "set", "lo", "up")
        except LabError:
            ns.delete()
            raise
        return ns

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def ip(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``ip -n NAME ...``: iproute2 enters the namespace itself, no mount games."""
        return run(["ip", "-n", self.name, *args])

    def ip_batch(self, commands: Sequence[str]) -> None:
        """Many ip commands in one process: builds stay fast."""
        run(["ip", "-n", self.name, "-batch", "-"], input="\n".join(commands) + "\n")

    def exec(self, argv: Sequence[str], *, check: bool = True, input: str | None = None,
             timeout: float | None = COMMAND_TIMEOUT, env: Mapping[str, str] | None = None,
             ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the namespace to completion; text output captured."""
        return run(["ip", "netns", "exec", self.name, *argv], check=check, input=input,
                   timeout=timeout, env=env)

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        """Start ``argv`` inside the namespace; ``kwargs`` go to subprocess.Popen.

        ``ip netns exec`` execs the command, so the Popen's pid is the
        command's own and signals reach it directly.
        """
        return subprocess.Popen(["ip", "netns", "exec", self.name, *argv], **kwargs)

    def sysctl(self, settings: Mapping[str, str | int]) -> None:
        self.exec(["sysctl", "-q", "-w", *(f"{k}={v}" for k, v in settings.items())])

    def set_resolver(self, nameserver: str) -> None:
        """Point the namespace's /etc/resolv.conf at ``nameserver``.

        ``ip netns exec`` bind-mounts /etc/netns/NAME/resolv.conf over
        /etc/resolv.conf, so the machine's own resolver stays untouched.
        """
        folder = os.path.join(ETC_NETNS_DIR, self.name)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "resolv.conf"), "w") as f:
            f.write(f"nameserver {nameserver}\n")

    def pids(self) -> list[int]:
        """PIDs of the processes whose network namespace is this one (not ours)."""
        try:
            target = os.stat(self.path)
        except FileNotFoundError:
            return []
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                st = os.stat(f"/proc/{entry}/ns/net")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
                found.append(int(entry))
        return found

    def delete(self) -> None:
        """Remove the namespace (its links go with it) and its /etc/netns folder."""
        if self.exists():
            run(["ip", "netns", "del", self.name])
        shutil.rmtree(os.path.join(ETC_NETNS_DIR, self.name), ignore_errors=True)

    def socket(self, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM) -> socket.socket:
        """A socket that lives in this namespace, made from the host process.

        setns(2) moves only the calling thread, and a socket keeps the
        namespace it was made in, so the thread returns home at once.
        """
        with open("/proc/thread-self/ns/net") as home, open(self.path) as there:
            _setns(there.fileno())
            try:
                return socket.socket(family, type)
            finally:
                _setns(home.fileno())


def kill_all(namespaces: Sequence[Namespace], grace: float = KILL_GRACE) -> None:
    """SIGTERM every process inside ``namespaces``, SIGKILL what is left after ``grace`` s.

    Catches processes that daemonized (dnsmasq) or that a test started and
    forgot, so the namespaces can really go away. All are signalled before
    any is waited for, so a teardown costs one grace period at most.
    """
    def remaining() -> list[int]:
        return [pid for ns in namespaces for pid in ns.pids()]

    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = remaining()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        try:
            wait_until(lambda: not remaining(), grace, "processes in the lab's namespaces to exit")
            return
        except LabTimeout:
            continue


def sweep_stale() -> list[str]:
    """Delete lab namespaces, /etc/netns folders and temp dirs whose creator PID is dead.

    Only names of our own pattern are considered, and only when the PID in
    the name no longer runs: another process's live lab is never touched.
    Returns the namespaces removed.
    """
    removed = []
    names = os.listdir(NETNS_DIR) if os.path.isdir(NETNS_DIR) else []
    for name in names:
        if _stale(name):
            ns = Namespace(name)
            kill_all([ns])
            try:
                ns.delete()
            except LabError:
                continue  # another process swept it first
            removed.append(name)
    for folder in (ETC_NETNS_DIR, tempfile.gettempdir()):
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if _stale(name):
                    shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
    return removed


def _stale(name: str) -> bool:
    match = NAME_PATTERN.match(name)
    return bool(match) and not pid_alive(int(match["pid"]))
