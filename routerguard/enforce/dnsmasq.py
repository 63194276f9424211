"""routerguard's dnsmasq snippet: data-saver domains into nftables sets, and the metered hint.

dnsmasq reads every file in its conf-dir (`dnsmasq_conf_dir`); routerguard
owns one, `routerguard.conf`, and restarts dnsmasq (`dnsmasq_restart`) only
when its text changed, since a restart drops dnsmasq's cache and briefly
its service.

- `nftset=/domain/.../4#inet#routerguard#SET4,6#inet#routerguard#SET6` per
  blocked category: each address dnsmasq forwards for a listed domain (or
  a subdomain) lands in the category's sets, with the sets' timeout; the
  saver's rules (enforce/saver.py) reject devices' traffic to them.
- `dhcp-option-force=43,ANDROID_METERED` while the uplink in use is metered:
  Android, Linux NetworkManager and ChromeOS then treat the Wi-Fi as metered
  and hold back background data. It is forced because clients do not ask
  for option 43. Nothing else is set here: Windows reads cost from the Wi-Fi
  beacon, and Apple systems from the user's Low Data Mode (docs/leakguard.md).

The snippet never sets `log-facility` or other once-only options: dnsmasq
refuses a repeated one and would not start.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from typing import Mapping

from routerguard.enforce.ruleset import TABLE
from routerguard.enforce.saver import SET_TYPES, set_names

log = logging.getLogger("routerguard.dnsmasq")

SNIPPET = "routerguard.conf"
HEADER = "# Written by routerguard: data saver and metered hint. Rewritten when they change; do not edit.\n"
METERED_HINT = "dhcp-option-force=43,ANDROID_METERED"
MAX_LINE = 900  # dnsmasq reads config lines into a buffer of about 1 KiB
RESTART_TIMEOUT = 30.0


def nftset_lines(blocked: Mapping[str, list[str]]) -> list[str]:
    """`nftset=` lines for {category: domains}; a domain in several categories feeds all their sets.

    dnsmasq uses one matching line per domain, so each domain appears once,
    grouped with the domains that feed the same sets.
    """
    feeds: dict[str, list[str]] = {}
    for category in sorted(blocked):
        for domain in blocked[category]:
            feeds.setdefault(domain, []).append(category)
    by_sets: dict[str, list[str]] = {}
    for domain, categories in sorted(feeds.items()):
        targets = ",".join(f"{family}#{TABLE.replace(' ', '#')}#{name}"
                           for category in categories for (family, _, _), name in zip(SET_TYPES, set_names(category)))
        by_sets.setdefault(targets, []).append(domain)
    lines = []
    for targets, domains in by_sets.items():
        chunk: list[str] = []
        for domain in domains:
            if chunk and len("/".join(chunk + [domain])) + len(targets) > MAX_LINE:
                lines.append(f"nftset=/{'/'.join(chunk)}/{targets}")
                chunk = []
            chunk.append(domain)
        lines.append(f"nftset=/{'/'.join(chunk)}/{targets}")
    return lines


def snippet(blocked: Mapping[str, list[str]], metered: bool) -> str:
    return HEADER + "".join(line + "\n" for line in ([METERED_HINT] if metered else []) + nftset_lines(blocked))


class Snippet:
    """The file in dnsmasq's conf-dir, rewritten and followed by a restart only on change."""

    def __init__(self, conf_dir: str, restart: str | None) -> None:
        self.path = os.path.join(conf_dir, SNIPPET)
        self.restart = restart

    def current(self) -> str | None:
        try:
            with open(self.path, encoding="utf-8") as f:
                return f.read()
        except OSError:
            return None

    def sync(self, text: str) -> bool:
        """Make the file say `text`; True when it changed (and dnsmasq was restarted).

        The conf-dir is made if missing (routerguard may start before dnsmasq
        at boot). OSError when the file cannot be written: nothing changed.
        """
        if self.current() == text:
            return False
        folder = os.path.dirname(self.path)
        os.makedirs(folder, exist_ok=True)
        temporary = os.path.join(folder, f".{SNIPPET}.new")  # dnsmasq skips dotfiles in a conf-dir
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temporary, self.path)
        self._restart()
        return True

    def _restart(self) -> None:
        if not self.restart:
            log.warning("wrote %s but dnsmasq_restart is not set: restart dnsmasq for it to take effect", self.path)
            return
        try:
            done = subprocess.run(shlex.split(self.restart), capture_output=True, text=True, timeout=RESTART_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as e:
            log.error("`%s` failed (%s): dnsmasq may still run with the old settings", self.restart, e)
            return
        if done.returncode:
            log.error("`%s` exited %d: %s", self.restart, done.returncode, (done.stderr or done.stdout).strip())
        else:
            log.info("dnsmasq restarted with the new %s", self.path)
