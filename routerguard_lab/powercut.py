"""A flash chip that loses power: a FUSE file system in memory that keeps only what was synced.

Every write lands in the current state at once, as in a page cache; a
file's data reaches the "medium" only when the file is fsynced (fsync or
fdatasync), a directory's entries (creates, renames, removals) only when the
directory is fsynced, except that fsyncing a newly created file also keeps
its name (ext4, and most journaling file systems, commit a new file's entry
with it; a rename over an existing name is kept only by the directory's
fsync). Nothing is ever written back on its own: the worst case, where the
kernel had written nothing back when the power went (LazyFS's model, which
design.md's measurements used).

A power cut is two steps, driven over a Unix socket (`Flash`):

- the cut: from this moment no change reaches the file system (every call
  that would change something fails with EIO, as on a dead chip), either at
  once (`cut`) or at the n-th operation of a kind on paths that match a
  pattern (`arm`: "the 3rd write to usage.db-wal", the middle of a fold);
- the restart (`revive`), once the caller has killed the processes that used
  it: every file and directory goes back to what was synced, and the file
  system works again.

Run as `python -m routerguard_lab.powercut MOUNTPOINT SOCKET` (Flash does).
Not shipped: the tests' harness (tests/router/test_power_cuts.py).

Why mfusepy: ctypes over the distribution's libfuse (3 here, 2 elsewhere),
so nothing is compiled and no async runtime comes along (pyfuse3 needs
libfuse3-dev, a C compiler and trio); it is the maintained fork of fusepy
(released 2026, fusepy last in 2018); an in-memory file system this size
needs nothing of the low-level API.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .wait import wait_until

MOUNT_TIMEOUT = 10.0
CHANGING = ("write", "truncate", "create", "mkdir", "rename", "unlink", "rmdir", "fsync", "fsyncdir", "chmod",
            "symlink")


@dataclass
class Node:
    mode: int
    data: bytearray = field(default_factory=bytearray)  # a file's current content
    synced: bytes = b""  # a file's content on the medium
    entries: dict[str, "Node"] = field(default_factory=dict)  # a directory's current entries
    synced_entries: dict[str, "Node"] = field(default_factory=dict)  # a directory's entries on the medium
    target: str = ""  # a symlink's
    mtime: int = field(default_factory=time.time_ns)

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


class LazyFlash:
    """The file system's operations (mfusepy's high-level API); one lock serialises them."""

    use_ns = True  # times in nanoseconds

    def __init__(self) -> None:
        self.root = Node(stat.S_IFDIR | 0o755)
        self.mutex = threading.RLock()
        self.handles: dict[int, Node] = {}
        self.next_handle = 1
        self.dead = False
        self.armed: tuple[str, re.Pattern, int] | None = None  # (operation, path pattern, matches left)
        self.trigger: str | None = None  # what cut the power, for the test's log
        self.counts = {"fsync": 0, "fsyncdir": 0, "dropped_bytes": 0}

    # ---- power ----

    def _check(self, operation: str, path: str | None) -> None:
        """Called by every changing operation before it changes anything: EIO once the power is cut."""
        if self.dead:
            raise _error(errno.EIO)
        if self.armed and operation == self.armed[0] and path and self.armed[1].search(path):
            kind, pattern, left = self.armed
            if left <= 1:
                self.dead, self.armed, self.trigger = True, None, f"{operation} {path}"
                raise _error(errno.EIO)
            self.armed = (kind, pattern, left - 1)

    def cut(self) -> None:
        with self.mutex:
            self.dead, self.armed, self.trigger = True, None, self.trigger or "cut"

    def arm(self, operation: str, pattern: str, nth: int) -> None:
        if operation not in CHANGING:
            raise ValueError(f"not a changing operation: {operation}")
        with self.mutex:
            self.armed = (operation, re.compile(pattern), max(1, nth))

    def revive(self) -> dict[str, Any]:
        """Back to what was synced: the state the medium has when the power comes back."""
        with self.mutex:
            dropped = 0
            stack, seen = [self.root], set()
            while stack:
                node = stack.pop()
                if id(node) in seen:
                    continue
                seen.add(id(node))
                if node.is_dir:
                    node.entries = dict(node.synced_entries)
                    stack.extend(node.entries.values())
                elif stat.S_ISREG(node.mode):
                    dropped += abs(len(node.data) - len(node.synced)) + (0 if bytes(node.data) == node.synced else 1)
                    node.data = bytearray(node.synced)
            self.handles.clear()
            trigger, self.trigger, self.dead, self.armed = self.trigger, None, False, None
            self.counts["dropped_bytes"] += dropped
            return {"trigger": trigger}

    def sync_all(self) -> None:
        """Everything on the medium, as a clean shutdown would leave it."""
        with self.mutex:
            stack = [self.root]
            while stack:
                node = stack.pop()
                if node.is_dir:
                    node.synced_entries = dict(node.entries)
                    stack.extend(node.entries.values())
                else:
                    node.synced = bytes(node.data)

    # ---- paths ----

    def _node(self, path: str | None, fh: int | None = None) -> Node:
        if fh and fh in self.handles:
            return self.handles[fh]
        if path is None:
            raise _error(errno.EBADF)
        node = self.root
        for part in _parts(path):
            if not node.is_dir or part not in node.entries:
                raise _error(errno.ENOENT)
            node = node.entries[part]
        return node

    def _parent(self, path: str) -> tuple[Node, str]:
        parts = _parts(path)
        if not parts:
            raise _error(errno.EINVAL)
        parent = self._node("/" + "/".join(parts[:-1]))
        if not parent.is_dir:
            raise _error(errno.ENOTDIR)
        return parent, parts[-1]

    def _handle(self, node: Node) -> int:
        self.handles[self.next_handle] = node
        self.next_handle += 1
        return self.next_handle - 1

    # ---- reading ----

    def getattr(self, path: str | None, fh: int | None = None) -> dict[str, Any]:
        with self.mutex:
            node = self._node(path, fh)
            size = len(node.data) if stat.S_ISREG(node.mode) else len(node.target) if stat.S_ISLNK(node.mode) else 0
            return {"st_mode": node.mode, "st_nlink": 2 if node.is_dir else 1, "st_size": size,
                    "st_uid": os.getuid(), "st_gid": os.getgid(), "st_blocks": (size + 511) // 512,
                    "st_atime": node.mtime, "st_mtime": node.mtime, "st_ctime": node.mtime}

    def readdir(self, path: str, fh: int) -> list[str]:
        with self.mutex:
            return [".", "..", *self._node(path, fh).entries]

    def opendir(self, path: str) -> int:
        with self.mutex:
            node = self._node(path)
            if not node.is_dir:
                raise _error(errno.ENOTDIR)
            return self._handle(node)

    def releasedir(self, path: str | None, fh: int) -> int:
        with self.mutex:
            self.handles.pop(fh, None)
        return 0

    def open(self, path: str, flags: int) -> int:
        with self.mutex:
            return self._handle(self._node(path))

    def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
        with self.mutex:
            return bytes(self._node(path, fh).data[offset:offset + size])

    def readlink(self, path: str) -> str:
        with self.mutex:
            return self._node(path).target

    def release(self, path: str | None, fh: int) -> int:
        with self.mutex:
            self.handles.pop(fh, None)
        return 0

    def flush(self, path: str | None, fh: int) -> int:
        return 0

    def lock(self, path: str | None, fh: int, cmd: int, lock: Any) -> int:
        """POSIX locks always granted (libfuse's high-level API refuses them otherwise): one process at a time
        uses the files here (the daemon, or after its death the test's checks)."""
        import fcntl

        if cmd == fcntl.F_GETLK:
            lock.contents.l_type = fcntl.F_UNLCK
        return 0

    def access(self, path: str, amode: int) -> int:
        with self.mutex:
            self._node(path)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": 1 << 20, "f_bfree": 1 << 19, "f_bavail": 1 << 19,
                "f_files": 1 << 16, "f_ffree": 1 << 15, "f_favail": 1 << 15, "f_namemax": 255}

    # ---- changing ----

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        with self.mutex:
            self._check("create", path)
            parent, name = self._parent(path)
            node = parent.entries.get(name)
            if node is None:
                node = parent.entries[name] = Node(stat.S_IFREG | (mode & 0o7777))
            return self._handle(node)

    def mkdir(self, path: str, mode: int) -> int:
        with self.mutex:
            self._check("mkdir", path)
            parent, name = self._parent(path)
            if name in parent.entries:
                raise _error(errno.EEXIST)
            parent.entries[name] = Node(stat.S_IFDIR | (mode & 0o7777))
        return 0

    def symlink(self, target: str, source: str) -> int:
        with self.mutex:
            self._check("symlink", target)
            parent, name = self._parent(target)
            parent.entries[name] = Node(stat.S_IFLNK | 0o777, target=source)
        return 0

    def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
        with self.mutex:
            self._check("write", path)
            node = self._node(path, fh)
            if offset > len(node.data):
                node.data.extend(bytes(offset - len(node.data)))
            node.data[offset:offset + len(data)] = data
            node.mtime = time.time_ns()
            return len(data)

    def truncate(self, path: str | None, length: int, fh: int | None = None) -> int:
        with self.mutex:
            self._check("truncate", path)
            node = self._node(path, fh)
            if length < len(node.data):
                del node.data[length:]
            else:
                node.data.extend(bytes(length - len(node.data)))
            node.mtime = time.time_ns()
        return 0

    def rename(self, old: str, new: str) -> int:
        with self.mutex:
            self._check("rename", new)
            old_parent, old_name = self._parent(old)
            new_parent, new_name = self._parent(new)
            if old_name not in old_parent.entries:
                raise _error(errno.ENOENT)
            new_parent.entries[new_name] = old_parent.entries.pop(old_name)
        return 0

    def unlink(self, path: str) -> int:
        with self.mutex:
            self._check("unlink", path)
            parent, name = self._parent(path)
            if parent.entries.pop(name, None) is None:
                raise _error(errno.ENOENT)
        return 0

    def rmdir(self, path: str) -> int:
        with self.mutex:
            self._check("rmdir", path)
            parent, name = self._parent(path)
            node = parent.entries.get(name)
            if node is None:
                raise _error(errno.ENOENT)
            if node.entries:
                raise _error(errno.ENOTEMPTY)
            del parent.entries[name]
        return 0

    def chmod(self, path: str | None, mode: int) -> int:
        with self.mutex:
            self._check("chmod", path)
            node = self._node(path)
            node.mode = (node.mode & ~0o7777) | (mode & 0o7777)
        return 0

    def chown(self, path: str | None, uid: int, gid: int) -> int:
        return 0

    def utimens(self, path: str | None, times: tuple[int, int] | None = None) -> int:
        return 0

    def fsync(self, path: str | None, datasync: int, fh: int) -> int:
        with self.mutex:
            self._check("fsync", path)
            node = self._node(path, fh)
            node.synced = bytes(node.data)
            self.counts["fsync"] += 1
            if path:  # a new file's name comes with it (see the module's doc); a rename's does not
                try:
                    parent, name = self._parent(path)
                except OSError:
                    return 0
                if parent.entries.get(name) is node and name not in parent.synced_entries:
                    parent.synced_entries[name] = node
        return 0

    def fsyncdir(self, path: str | None, datasync: int, fh: int) -> int:
        with self.mutex:
            self._check("fsyncdir", path)
            node = self._node(path, fh)
            node.synced_entries = dict(node.entries)
            self.counts["fsyncdir"] += 1
        return 0


def _die_with_parent() -> None:
    """In the file system's process: SIGTERM (libfuse then unmounts) when the test that made it dies."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _parts(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def _error(code: int) -> OSError:
    from mfusepy import FuseOSError

    return FuseOSError(code)


def _control(fs: LazyFlash, path: str) -> None:
    """One JSON request a connection: {"op": "cut" | "arm" | "status" | "revive" | "sync"}."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(4)
    while True:
        conn, _ = server.accept()
        with conn, conn.makefile("rw") as stream:
            try:
                request = json.loads(stream.readline())
                op = request["op"]
                if op == "cut":
                    fs.cut()
                    answer: dict[str, Any] = {}
                elif op == "arm":
                    fs.arm(request["operation"], request["pattern"], int(request.get("nth", 1)))
                    answer = {}
                elif op == "revive":
                    answer = fs.revive()
                elif op == "sync":
                    fs.sync_all()
                    answer = {}
                else:
                    answer = {}
                with fs.mutex:
                    answer = {"dead": fs.dead, "trigger": fs.trigger, "armed": bool(fs.armed), **fs.counts, **answer}
            except (ValueError, KeyError) as e:
                answer = {"error": str(e)}
            stream.write(json.dumps(answer) + "\n")
            stream.flush()


def main(argv: list[str]) -> int:
    from mfusepy import FUSE

    mountpoint, control = argv
    logging.basicConfig(level=logging.WARNING)
    fs = LazyFlash()
    threading.Thread(target=_control, args=(fs, control), daemon=True).start()
    # No kernel caching of names or attributes: after a cut the next process must see the medium's state.
    FUSE(fs, mountpoint, foreground=True, fsname="rg-lazyflash", hard_remove=True,
         entry_timeout=0, attr_timeout=0, negative_timeout=0)
    return 0


class Flash:
    """A LazyFlash mounted at `mountpoint`, served by a process of its own; `close()` unmounts it."""

    def __init__(self, mountpoint: str) -> None:
        self.mountpoint = mountpoint
        self.control = mountpoint.rstrip("/") + ".control"
        os.makedirs(mountpoint, exist_ok=True)
        self.proc = subprocess.Popen([sys.executable, "-m", "routerguard_lab.powercut", mountpoint, self.control],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, preexec_fn=_die_with_parent)
        try:
            wait_until(lambda: self.proc.poll() is not None or (os.path.ismount(mountpoint) and
                                                                os.path.exists(self.control)),
                       MOUNT_TIMEOUT, f"the power-cut file system at {mountpoint}")
            if self.proc.poll() is not None:
                raise RuntimeError(f"the power-cut file system did not mount: {self.proc.stderr.read()}")
        except BaseException:
            self.close()
            raise

    def _ask(self, **request: Any) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(self.control)
            conn.sendall((json.dumps(request) + "\n").encode())
            answer = json.loads(conn.makefile().readline())
        if "error" in answer:
            raise ValueError(answer["error"])
        return answer

    def cut(self) -> None:
        """The power goes now: nothing more reaches the medium."""
        self._ask(op="cut")

    def arm(self, operation: str, pattern: str, nth: int = 1) -> None:
        """The power goes at the `nth` `operation` (write, fsync, rename...) on a path matching `pattern`
        (a regular expression searched in the path inside the file system, e.g. r"/usage\\.db-wal$")."""
        self._ask(op="arm", operation=operation, pattern=pattern, nth=nth)

    def status(self) -> dict[str, Any]:
        return self._ask(op="status")

    @property
    def dead(self) -> bool:
        return self.status()["dead"]

    def revive(self) -> str | None:
        """The power comes back (call it once the processes using the files are dead): only what was synced
        is there. Returns what cut it."""
        return self._ask(op="revive")["trigger"]

    def sync_all(self) -> None:
        """Everything on the medium (the state a test starts from)."""
        self._ask(op="sync")

    def close(self) -> None:
        if os.path.ismount(self.mountpoint):
            subprocess.run(["fusermount3", "-u", "-z", self.mountpoint], check=False, capture_output=True)
        if self.proc.poll() is None:
            try:
                self.proc.wait(MOUNT_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if os.path.exists(self.control):
            os.unlink(self.control)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
