"""Whether the Python libraries on this system are new enough: OpenWrt's feeds decide them, not pip.

OpenWrt 23.05 ships Flask 2.0.2 and Werkzeug 2.0: the admin password's scrypt
hash needs Werkzeug 2.3, and setup.cfg asks Flask 2.2. routerguard supports
OpenWrt 24.10 and later (docs/openwrt.md); on 23.05 `check` says so rather
than the page failing at the first login.
"""

from __future__ import annotations

import re
from importlib import metadata

from routerguard.system.check import Finding

# the floors of setup.cfg's install_requires
FLOORS = {"flask": (2, 2), "werkzeug": (2, 3)}


def _version(name: str) -> tuple[int, ...] | None:
    try:
        text = metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
    return tuple(int(n) for n in re.findall(r"\d+", text)[:2])


def web_libraries() -> Finding:
    old = []
    for name, floor in FLOORS.items():
        found = _version(name)
        if found is not None and found < floor:
            old.append(f"{name} {'.'.join(map(str, found))} (needs {'.'.join(map(str, floor))} or later)")
    if not old:
        return Finding(True, "Flask and Werkzeug are new enough")
    return Finding(False, f"too old: {', '.join(old)}; OpenWrt 23.05's are, routerguard needs OpenWrt 24.10 or later",
                   "upgrade the router to OpenWrt 24.10 or later (docs/openwrt.md)")
