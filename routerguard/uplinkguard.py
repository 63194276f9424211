"""Free uplinks first: probe the unmetered uplinks, route by one that works, tell when traffic moves.

A thread of its own beside the meter loop (a probe may wait seconds for an
answer that never comes), every TICK s:

1. each unmetered uplink's link state (read/links.py) and, when its schedule
   says so, a probe bound to it (read/probe.py); decide/uplinks.py `Health`
   turns them into "works" with hysteresis and spends the probes' budget;
2. decide/uplinks.py `choose` picks the first unmetered uplink that works
   (when `prefer_unmetered` is on);
3. a change is applied: plain routing (enforce/route.py: routerguard's rules
   and table) or, where mwan3 runs, nothing here (mwan3's tracking switches,
   by the policy written into its config at start: enforce/mwan3.py); the
   connections of the uplink left behind are dropped so devices reconnect;
   the page's "in use" follows (account/uplinks.py `choose`), and an alert
   (kind `uplink`) says that traffic moved to a metered uplink, or back.

Where it applies and why: docs/uplinks.md.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Callable

from routerguard.config.model import Config
from routerguard.core import Core
from routerguard.decide.alerts import Alert
from routerguard.decide.uplinks import STALL_SECONDS, Health, choose, is_metered, metered_uplinks
from routerguard.enforce import mwan3
from routerguard.enforce.route import PolicyRouting, RouteError, drop_flows
from routerguard.read import iproute
from routerguard.read.links import read_link
from routerguard.read.probe import Target, probe
from routerguard.read.uplink import default_interface

log = logging.getLogger("routerguard.uplinks")

TICK = 0.5  # seconds between looks at the links: a link that drops is left within this
BUSY_BYTES = 4_000  # sent by an uplink since its last probe: it carries traffic (a probe sends ~300 bytes)
STALL_BYTES = 100  # sent in STALL_SECONDS with nothing received: a stall (SYN retransmits, DNS retries)
UPLINK = "uplink"  # the alerts' kind
MWAN3_CHECK = 30.0  # seconds between looks for a running mwan3


class UplinkGuard:
    def __init__(self, core: Core, tell: Callable[[Alert], None]) -> None:
        self.core, self.tell = core, tell
        self.routing = PolicyRouting()
        self.health: dict[str, Health] = {}
        self._targets: dict[str, Target] = {}
        self._tx_at_probe: dict[str, int] = {}
        self._warned: set[str] = set()  # free uplinks said to have no default route
        self._counts: dict[str, list[tuple[float, int, int]]] = {}  # recent (time, tx, rx) of each uplink
        self.chosen: str | None = None  # the uplink routerguard's table routes by (a free one, or the fallback)
        self._decided = False  # the first choice after the start is no move worth an alert
        self.mode = "off"  # "routing" (ours), "mwan3" (its tracking switches), "off" (prefer_unmetered off)
        self._mwan3, self._mwan3_checked = False, float("-inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """The thread; with no unmetered uplink described it only waits for a reload that adds one (no rules)."""
        self._thread = threading.Thread(target=self._run, name="uplinks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)
        if self.mode == "routing":
            self._safely(self.routing.close)
        self.core.uplinks.choose(None)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step(time.monotonic())
            except Exception:  # noqa: BLE001 - the loop must outlive a bad reading; said in the log
                log.exception("free uplinks first: a step failed; trying again")
            self._stop.wait(TICK)

    def step(self, now: float) -> None:
        """One look at every unmetered uplink, and the routing that follows."""
        config = self.core.config
        self._follow_mode(config, now)
        working = {}
        for uplink in config.uplinks:
            if uplink.metered:
                continue
            health = self.health.setdefault(uplink.ifname, Health(now))
            link = read_link(uplink.ifname)
            health.on_link(bool(link and link.link), now)
            tx = link.tx_bytes if link else 0
            busy = uplink.ifname == self.chosen and tx - self._tx_at_probe.get(uplink.ifname, tx) > BUSY_BYTES
            stalled = uplink.ifname == self.chosen and self._stalled(uplink.ifname, link, now)
            if health.due(now, busy, stalled):
                self._tx_at_probe[uplink.ifname] = tx
                self._probe(uplink.ifname, uplink.probe_url, health, stalled)
            elif not health.link:
                self.core.uplinks.probed(uplink.ifname, None, "", 0)
            working[uplink.ifname] = bool(health.link and health.internet)
        self._apply(config, choose(config, working) if self.mode == "routing" else None)

    def _stalled(self, ifname: str, link, now: float) -> bool:
        """Sent more than a few packets in the last STALL_SECONDS and received nothing at all."""
        if link is None:
            return False
        history = self._counts.setdefault(ifname, [])
        history.append((now, link.tx_bytes, link.rx_bytes))
        while len(history) > 1 and history[1][0] <= now - STALL_SECONDS:
            history.pop(0)
        then, tx, rx = history[0]
        return now - then >= STALL_SECONDS and link.tx_bytes - tx > STALL_BYTES and link.rx_bytes == rx

    def _probe(self, ifname: str, url: str, health: Health, stalled: bool) -> None:
        target = self._targets.get(ifname)
        if target is None or target.url != url:
            target = self._targets[ifname] = Target(url)
        result = probe(ifname, iproute.interface_addresses(ifname), target)
        changed = health.on_probe(result.verdict, stalled)
        self.core.uplinks.probed(ifname, health.internet, result.verdict, result.bytes)
        if changed:
            log.info("uplink %s: %s (probe: %s%s)", ifname, "internet works" if health.internet else "no internet",
                     result.verdict, f", {result.detail}" if result.detail else "")

    def _follow_mode(self, config: Config, now: float) -> None:
        if config.main.prefer_unmetered and now - self._mwan3_checked >= MWAN3_CHECK:
            self._mwan3, self._mwan3_checked = mwan3.running(), now  # a look through /proc: not every tick
        wanted = "off" if not config.main.prefer_unmetered else ("mwan3" if self._mwan3 else "routing")
        if wanted == self.mode:
            return
        if self.mode == "routing":
            self._safely(self.routing.close)
            self.chosen = None
            self.core.uplinks.choose(None)
        if wanted == "routing":
            self._safely(self.routing.start)
        elif wanted == "mwan3":
            self._safely(lambda: mwan3.write_policy(config))
        log.info("free uplinks first: %s", {"off": "off", "routing": "routerguard's own policy routing",
                                            "mwan3": "mwan3 chooses (policy written to its config)"}[wanted])
        self.mode = wanted

    def _apply(self, config: Config, choice: str | None) -> None:
        """Route by `choice`, a free uplink that works; failing one, by the main table as it is, unless its default
        leaves by a free uplink the probes found broken (preferred there by metric): then by the first metered
        uplink that has a default route there."""
        target, gateways = None, {}
        if choice is not None:
            gateways = self._gateways(choice)
            if gateways:
                target = choice
            elif choice not in self._warned:
                self._warned.add(choice)
                log.warning("uplink %s works but has no default route to follow: it is not used", choice)
        if target is None and self.mode == "routing" and self._main_is_broken(config):
            for name in metered_uplinks(config):
                gateways = self._gateways(name)
                if gateways:
                    target = name
                    break
        if target == self.chosen and (target is None or self.routing.current == (target, gateways)):
            return
        before = self.chosen or self.core.uplinks.in_use()
        free = target is not None and not is_metered(config, target)
        if self.mode == "routing" and not self._safely(lambda: self.routing.use(target, gateways, free)):
            return
        self.chosen = target
        self.core.uplinks.choose(target)
        after = self.core.uplinks.in_use()
        if before != after and before is not None:
            self._drop(before)
        self._tell(config, before, after)

    def _main_is_broken(self, config: Config) -> bool:
        """The main table's default route leaves by a free uplink that the probes found without internet."""
        main = default_interface()
        health = self.health.get(main or "")
        return main is not None and not is_metered(config, main) and health is not None and health.internet is False

    @staticmethod
    def _gateways(ifname: str) -> dict[int, str]:
        """family -> the gateway of the interface's default route in the main table ("" on-link), for each family
        that has one."""
        found = {}
        for family in (socket.AF_INET, socket.AF_INET6):
            gateway = iproute.gateway(ifname, family)
            if gateway is not None:
                found[family] = gateway
        return found

    def _drop(self, ifname: str) -> None:
        addresses = list(iproute.interface_addresses(ifname).values())
        try:
            dropped = drop_flows(addresses)
        except (OSError, ValueError) as e:
            log.warning("could not drop the connections of %s (%s): they end at their timeouts", ifname, e)
            return
        log.info("dropped %d connections of %s, which traffic no longer leaves by", dropped, ifname)

    def _tell(self, config: Config, before: str | None, after: str | None) -> None:
        metered = set(metered_uplinks(config))
        was, now = before in metered, after in metered
        first, self._decided = not self._decided, True
        if before == after or was == now or after is None or first:
            return
        health = self.health.get(before or "")
        why = health.verdict if health and now else ""
        if now:
            message = f"Traffic moved to the metered uplink {after}: {before} has no working internet" + (
                " (a captive portal answers)" if why == "captive" else "") + "."
        else:
            message = f"Traffic is back on the unmetered uplink {after}; the metered uplink {before} is spared."
        self.tell(Alert(UPLINK, None, message, UPLINK, time.time(),
                        params={"to": after, "from": before, "metered": now, "why": why}))

    def _safely(self, action: Callable[[], object]) -> bool:
        try:
            action()
            return True
        except (OSError, RouteError) as e:
            log.error("free uplinks first: %s", e)
            return False
