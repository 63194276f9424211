"""The one owner of the config file: every change goes through `ConfigFile.edit`.

An edit re-reads the file (so a change made meanwhile with `uci` or LuCI is
kept), applies the change to the parsed text, validates the result and only
then writes it atomically. A change that would make the config invalid raises
ConfigError and leaves both the file and the running settings as they were.
"""

from __future__ import annotations

import threading
from typing import Callable

from routerguard.config import uci
from routerguard.config.model import Cap, Config, build, read_package
from routerguard.units import SIZE_UNITS

Change = Callable[[uci.Package], None]


class ConfigFile:
    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        # What the running daemon adds to the file's settings each time they are read: the addresses of
        # `listen_interface` (daemon.py). Tests and the CLI leave it as it is.
        self.adjust: Callable[[Config], Config] = lambda config: config
        self.read = self.config = build(read_package(path), path)  # the file's settings; those in force

    def reload(self) -> Config:
        """Re-read the file; on error the old settings stay and ConfigError says why."""
        with self._lock:
            read = build(read_package(self.path), self.path)
            self.read, self.config = read, self.adjust(read)
            return self.config

    def readjust(self) -> Config:
        """Apply `adjust` again to the file's settings, e.g. once it is set, or after the LAN was renumbered."""
        with self._lock:
            self.config = self.adjust(self.read)
            return self.config

    def edit(self, change: Change) -> Config:
        with self._lock:
            package = read_package(self.path)
            change(package)
            read = build(package, self.path)
            config = self.adjust(read)
            uci.write_atomic(self.path, uci.dumps(package))
            self.read, self.config = read, config
            return config


def device_section(package: uci.Package, mac: str) -> uci.Section:
    """The `config device` section for `mac`, created when the device has none yet."""
    for section in package.find("device"):
        if (section.get("mac") or "").lower().replace("-", ":") == mac:
            return section
    section = package.add("device")
    section.set("mac", mac)
    return section


def group_section(package: uci.Package, gid: str) -> uci.Section | None:
    return next((s for s in package.find("group") if s.get("id") == gid), None)


def format_size_option(n: int) -> str:
    """A size as a user would type it: the largest exact unit (`5GB`, `512MiB`), else bytes."""
    for unit, factor in sorted(SIZE_UNITS.items(), key=lambda kv: -kv[1]):
        if factor > 1 and n and n % factor == 0:
            return f"{n // factor}{unit}"
    return str(n)


def write_cap(section: uci.Section, cap: Cap | None, size_option: str = "cap") -> None:
    """Write `cap` into a device, group or defaults section (None removes it)."""
    for name in (size_option, "period", "reset_day", "reset_hour", "start", "days", "action", "throttle"):
        section.delete(name)
    if cap is None:
        return
    section.set(size_option, format_size_option(cap.bytes))
    section.set("period", cap.period.kind)
    if cap.period.kind in ("monthly", "weekly"):
        section.set("reset_day", str(cap.period.reset_day))
    if cap.period.reset_hour:
        section.set("reset_hour", str(cap.period.reset_hour))
    if cap.period.kind == "days" and cap.period.start and cap.period.days:
        section.set("start", cap.period.start.isoformat(timespec="minutes"))
        section.set("days", str(cap.period.days))
    section.set("action", cap.action)
    if cap.throttle_kbit is not None:
        section.set("throttle", f"{cap.throttle_kbit}kbit")
