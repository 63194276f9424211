"""The leak guard's part of the daemon loop: names, destinations, alerts and the dnsmasq snippet.

Around each meter reading:
- before: the DNS answers and DHCP acks seen since the last one are learnt,
  so the bytes a new connection moved already carry the name looked up;
- after: the destinations of the reading are charged to each device's
  current window, alerts are decided (decide/alerts.py), stored, logged and
  pushed (notify.py), and the dnsmasq snippet follows the config and the
  uplink in use (enforce/dnsmasq.py).
Destinations and who was told "metered" are written with the usage's folds
into SQLite (every few hours, and at stop: store/db.py): losing some hours
of the breakdown to a crash is a fair price for sparing the router's flash
(usage itself is the ledger's, journaled every commit).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import deque
from typing import Callable

from routerguard.attribute.categories import catalog
from routerguard.attribute.names import address_text
from routerguard.config.model import Config
from routerguard.core import Core
from routerguard.decide import alerts, guard
from routerguard.decide.alerts import Alert
from routerguard.decide.guard import Identity
from routerguard.decide.limits import Snapshot, scope_key
from routerguard.decide.periods import bucket_start
from routerguard.decide.policy import Limit
from routerguard.decide.uplinks import is_metered
from routerguard.enforce import dnsmasq, saver
from routerguard.notify import Notifier
from routerguard.read.capture import DnsSeen, LanCapture
from routerguard.store.alert_log import AlertLog
from routerguard.store.db import META_UPSERT
from routerguard.units import rfc3339

log = logging.getLogger("routerguard.leakguard")

TOLD_KEY = "told_metered"  # meta: {mac: time of the DHCP ack that told it}
IDENTITIES_KEY = "dhcp_identities"  # meta: {mac: [client id, hostname]} as each MAC first gave them
BASELINE_KEY = "new_device_baseline"  # meta: set once the devices present at the first run were taken as known
CAP_WORDS = {"daily": "daily cap", "weekly": "weekly cap", "monthly": "monthly cap"}


class LeakGuard:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.notifier = Notifier()
        self.capture: LanCapture | None = None
        self._synced: tuple[str, str] | None = None  # the snippet's path and text as last made so
        self._dnsmasq_lock = threading.Lock()  # the loop and a page's change (Core.on_change) both sync it
        self._unwritten: str | None = None  # a text the snippet could not be given (said once)
        self._recent: dict[str, deque[tuple[float, int]]] = {}
        self._history_hour: int | None = None  # the hour the cache below is for
        self._history: dict[str, list[tuple[int, int]]] = {}  # mac -> its hourly bytes before that hour
        self.core.told_metered.update(json.loads(self.core.db.get_meta(TOLD_KEY) or "{}"))
        self._baseline_taken = self.core.db.get_meta(BASELINE_KEY) is not None
        self._identities = {mac: Identity(*pair) for mac, pair in json.loads(self.core.db.get_meta(IDENTITIES_KEY) or "{}").items()}
        # 10-minute writes of every device's top destinations cost 17 MB of flash a day (bench/flash_writes.py).
        self.core.db.fold_writers.append(self._write)

    def start(self) -> None:
        self.notifier.start()
        self._follow_lan()

    def _follow_lan(self) -> None:
        """(Re)start the capture on the configured LAN interface (a reload may rename it)."""
        lan = self.core.config.main.lan_if
        if self.capture is not None and self.capture.ifname == lan:
            return
        if self.capture is not None:
            self.capture.stop()
        self.capture = LanCapture(lan)
        self.capture.start()

    def before_reading(self) -> None:
        self._follow_lan()
        core = self.core
        for event in self.capture.drain() if self.capture else []:
            if isinstance(event, DnsSeen):
                core.names.learn(core.directory.mac_of(address_text(event.client)), event.answer)
            elif event.metered:
                core.told_metered[event.mac] = core.now()
            else:
                core.told_metered.pop(event.mac, None)

    def after_reading(self, charged: dict[str, tuple[int, int]]) -> None:
        now = self.core.now()
        snap = self.core.snapshot(now)
        self.core.destinations.settle(lambda mac: _start(snap.window(mac)), keep_since=_start(snap.plan()))
        self._note_recent(charged, now)
        for alert, levels in self._decide(snap, now):
            self._raise(alert, levels, now)
        self.sync_dnsmasq(snap.config)

    # --- alerts --------------------------------------------------------------------

    def _note_recent(self, charged: dict[str, tuple[int, int]], now: float) -> None:
        for mac, (up, down) in charged.items():
            self._recent.setdefault(mac, deque()).append((now, up + down))
        for mac in list(self._recent):
            window = self._recent[mac]
            while window and window[0][0] <= now - alerts.RECENT_WINDOW:
                window.popleft()
            if not window:
                del self._recent[mac]

    def _decide(self, snap: Snapshot, now: float) -> list[tuple[Alert, list[int]]]:
        config = snap.config
        found = []
        plan = snap.plan()
        if plan:
            found.append(self._threshold(scope_key("plan"), "The plan", plan, None, {"subject": "plan"}))
        for gid, group in config.groups.items():
            limit = snap.group(gid)
            if limit and group.cap:
                found.append(self._threshold(scope_key("group", gid), f"Group {group.name}'s {_cap_words(group.cap.period.kind)}", limit, None,
                                             {"subject": "group", "name": group.name}))
        for mac in self.core.known_macs():
            own = snap.device(mac).own
            cap = config.devices[mac].cap if mac in config.devices and config.devices[mac].cap else config.default_cap
            if own and cap:
                found.append(self._threshold(scope_key("device", mac), f"{self._who(mac)}'s {_cap_words(cap.period.kind)}", own, mac,
                                             {"subject": "device", "name": self._who(mac)}))
            recent = sum(n for _, n in self._recent.get(mac, ()))
            if recent >= alerts.MIN_BURST_BYTES:
                unusual = [a for a in self._unusual(mac, recent, now) if 0 not in self.core.alerts.sent_levels(a.scope, a.period)]
                found += [(self._act_on_unusual(a, snap, now) if i == 0 else a, [0]) for i, a in enumerate(unusual)]
        if config.bundles:  # the plan as eSIM bundles: one about to lapse unused, the last one run out
            found += [(a, [0]) for a in alerts.bundle_alerts(self._bundles_now(snap), now)
                      if 0 not in self.core.alerts.sent_levels(a.scope, a.period)]
        newcomers = [a for a in self._newcomers(now) if 0 not in self.core.alerts.sent_levels(a.scope, a.period)]
        if not self._baseline_taken:  # the first run: who is here already is no news
            for alert in newcomers:
                self.core.alerts.mark_sent(alert.scope, alert.period, [0])
            self.core.db.put_meta(BASELINE_KEY, rfc3339(now) or "")
            self._baseline_taken, newcomers = True, []
        found += [(a, [0]) for a in newcomers]
        return [(alert, levels) for alert, levels in found if alert]

    def _bundles_now(self, snap: Snapshot) -> list[alerts.BundleNow]:
        names = {b.id: b.name for b in snap.config.bundles}
        return [alerts.BundleNow(a.id, names.get(a.id, a.id), a.start, a.end, a.quota, a.left, a.state)
                for a in snap.bundle_plan().accounts]

    # --- guarding the guard: who joined, who borrowed a MAC, what unusual use does -------

    def _newcomers(self, now: float) -> list[Alert]:
        """new_device for each unconfigured MAC the first time (sent once, kept in alert_sent); borrowed_mac for a MAC
        showing another's DHCP identity."""
        config, directory = self.core.config, self.core.directory
        found, changed = [], False
        for mac in directory.macs():
            info = directory.info(mac)
            if info is None:
                continue
            if mac not in config.devices:
                address = min((ip for ip in info.ips if ":" not in ip), default=min(info.ips, default=None))
                found.append(guard.new_device(mac, info.hostname, address))
            shown = Identity(info.client_id, info.hostname)
            if shown == Identity():
                continue
            matched = guard.borrowed_from(mac, shown, self._identities)
            if matched:
                other, part = matched
                found.append(guard.borrowed_mac(mac, other, part, getattr(shown, part), self._who(other), now))
            else:
                kept = self._identities.get(mac, Identity()).merged(shown)
                if kept != self._identities.get(mac):
                    self._identities[mac], changed = kept, True
        if changed:
            self.core.db.put_meta(IDENTITIES_KEY, json.dumps({m: [i.client_id, i.hostname] for m, i in self._identities.items()}))
        return found

    def _act_on_unusual(self, alert: Alert, snap: Snapshot, now: float) -> Alert:
        """`config notify` `on_unusual`: also slow the device down or pause it for an hour (never an exempt one)."""
        action, mac = self.core.config.notify.on_unusual, alert.mac
        if action == "notify" or mac is None or snap.device(mac).decision.state == "exempt":
            return alert
        until = now + guard.ACTION_SECONDS
        kbit = None
        if action == "pause":
            self.core.adjustments.block(mac, until)
        else:
            own = snap.device(mac).own
            kbit = (own.throttle_kbit if own else None) or guard.DEFAULT_THROTTLE_KBIT
            self.core.adjustments.hold_throttle(mac, until, kbit)
        self.core.on_change()
        return guard.acted(alert, action, kbit)

    def _threshold(self, scope: str, what: str, limit: Limit, mac: str | None, subject: dict) -> tuple[Alert | None, list[int]]:
        sent = self.core.alerts.sent_levels(scope, _start(limit) or 0.0)
        return alerts.threshold_alert(scope, what, limit, self.core.config.notify.thresholds, sent, mac, subject)

    def _unusual(self, mac: str, recent: int, now: float) -> list[Alert]:
        zone = self.core.zone
        hour = bucket_start(now, zone)
        if hour != self._history_hour:  # a new hour: every device's history moved on, and those gone leave
            self._history_hour, self._history = hour, {}
        if mac not in self._history:
            rows = self.core.ledger.series(mac, now - alerts.LOOKBACK, hour, lambda h: h)
            self._history[mac] = [(t, up + down) for t, _, up, down in rows]
        history = self._history[mac]
        first_seen = min((t for t, _ in history), default=now)
        return alerts.unusual_use(mac, self._who(mac), recent, history, now, first_seen,
                                  lambda t: zone.to_local(t).hour)

    def _who(self, mac: str) -> str:
        return self.core.name_of(mac) or mac

    def tell(self, alert: Alert) -> None:
        """Store, log and push an alert another part of the daemon decided (uplinkguard.py's switches)."""
        self._raise(alert, [], self.core.now())

    def _raise(self, alert: Alert, levels: list[int], now: float) -> None:
        """Store, log and push one alert."""
        alert_id = self.core.alerts.record(now, alert.kind, alert.mac, alert.message, alert.params,
                                           alert.scope, alert.period, levels)
        log.warning("alert (%s): %s", alert.kind, alert.message)
        payload = {"id": alert_id, "kind": alert.kind, "mac": alert.mac, "message": alert.message, "time": rfc3339(now),
                   "device": self.core.name_of(alert.mac) if alert.mac else None, "params": alert.params, **alert.details}
        self.notifier.push(self.core.config.notify, payload)

    # --- dnsmasq ---------------------------------------------------------------------

    def sync_dnsmasq(self, config: Config | None = None) -> None:
        """The snippet as the config (default: the current one) and the uplink in use want it; dnsmasq restarts on change.

        Run after each reading, and by a change made on the page or the API
        (the daemon's Core.on_change), so a category blocked there is in the
        snippet before the request returns.
        """
        with self._dnsmasq_lock:
            self._sync_dnsmasq(config or self.core.config)

    def _sync_dnsmasq(self, config: Config) -> None:
        main = config.main
        if not main.dnsmasq_conf_dir:
            return
        lists = catalog(config.categories)
        blocked = {block.category: found.domains for block in saver.desired(config).blocks
                   if (found := lists.get(block.category)) is not None}
        uplink = self.core.uplinks.in_use()
        text = dnsmasq.snippet(blocked, metered=uplink is None or is_metered(config, uplink))
        snippet = dnsmasq.Snippet(main.dnsmasq_conf_dir, main.dnsmasq_restart)
        if (snippet.path, text) == self._synced:
            return
        try:
            snippet.sync(text)
        except OSError as e:
            if self._unwritten != text:  # said once; tried again every reading
                log.error("cannot write %s (%s): the data saver and the metered hint are not in effect", snippet.path, e)
                self._unwritten = text
            return
        self._synced, self._unwritten = (snippet.path, text), None

    # --- on disk -----------------------------------------------------------------------

    def _write(self, tx: sqlite3.Connection) -> Callable[[], None]:
        """Destinations, who was told "metered", and the alert table trimmed, in a fold's transaction."""
        done = self.core.destinations.write(tx)
        tx.execute(META_UPSERT, (TOLD_KEY, json.dumps(self.core.told_metered)))
        AlertLog.trim(tx)
        return done

    def stop(self) -> None:
        if self.capture:
            self.capture.stop()
        self.notifier.stop()


def _start(limit: Limit | None) -> float | None:
    return limit.start if limit else None


def _cap_words(kind: str) -> str:
    return CAP_WORDS.get(kind, "cap")
