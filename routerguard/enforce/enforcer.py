"""The owner of the kernel state: the table built at start, then kept in step with every decision.

- `start()` runs before the meter's first reading and before the page is
  served, and rebuilds the table from the database in one transaction. On a
  boot the table is made afresh. A table left by a stopped or crashed daemon
  (it is never removed on exit, so caps hold while the daemon is away) is
  updated in place, after what its counters counted since the last commit
  is charged (recovery.py): each quota object starts from the larger of the
  stored usage and what the kernel counted under the same basis (desired.py).
- `sync()` runs after every reading and at once after a top-up, a reset or
  an edit (Core.on_change), so a block is lifted before the request returns.
  It changes the kernel only when the wanted state differs, and then only
  with an in-place update that keeps every quota's count.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import threading
import time

from routerguard.account.counters import Line
from routerguard.account.ledger import ROUTER
from routerguard.core import Core
from routerguard.enforce import include, nft, recovery, ruleset
from routerguard.enforce.captive import Responder
from routerguard.enforce.desired import build
from routerguard.attribute.marks import Marks
from routerguard.enforce.ruleset import Captive, Ruleset, counter_names, dns_counter_names
from routerguard.enforce.teardown import end_connections
from routerguard.read import nftcounters

log = logging.getLogger("routerguard.enforce")


class Enforcer:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.marks = Marks(core.db)
        self.responder = Responder(core.config.main.listen)
        self._captive: Captive | None = None
        self._lock = threading.Lock()  # the meter loop and the page's threads both sync
        self._applied: Ruleset | None = None
        self._error: str | None = None  # the latest failure, logged once
        self._consumed: dict[str, int] = {}  # each quota's count as last read: what a table made anew starts from

    def start(self, counts: nft.Counts | None) -> None:
        """Charge what the counters moved from the last commit to `counts` (those the meter starts from: no byte
        is recovered and metered both), then rebuild the table."""
        for flowtable in nft.flowtables():
            log.warning("flow offloading is on (flowtable %s): offloaded packets skip routerguard's rules,"
                        " so caps hold only to the next meter reading; see `routerguard check`", flowtable)
        self._captive = self.responder.start()
        if counts is not None:
            self._recover(counts)
        self.rebuild()

    def rebuild(self) -> None:
        """Rebuild from the database over whatever is in the kernel (on start, and on SIGHUP after
        `systemctl reload nftables` or `fw4 reload` may have flushed our table)."""
        with self._lock:
            self._rebuild()

    def restore(self, reason: str) -> float:
        """Put the table back after someone else took it away (watch.py); returns the seconds it took."""
        started = time.monotonic()
        self.rebuild()
        took = time.monotonic() - started
        if self._error is None:
            log.warning("routerguard's table was %s: rebuilt in %.0f ms, quotas from their last counts", reason,
                        took * 1000)
        return took

    def sync(self) -> None:
        """Bring the kernel in line with the decisions of this moment."""
        with self._lock:
            self._read_consumed()
            if self._applied is None:
                self._rebuild()
                return
            self._follow_listen()
            rules, previous = build(self.core, self.marks, self._captive), self._applied
            if rules != previous:
                self._apply(ruleset.update(rules, ruleset.present_after(previous)), rules)
                if self._applied is rules:
                    self._end_offloaded(rules, previous)

    def counts(self) -> nft.Counts | None:
        """What the table's counters have counted (for each meter reading); None when unknown."""
        with self._lock:  # not while a sync replaces the table
            try:
                return nft.counts()
            except (OSError, ValueError) as e:
                log.warning("could not read the table's counters (%s): the next reading charges what they moved", e)
                return None

    def lines(self) -> list[Line]:
        """Each registered device's counters, and the router's: the meter's usage (account/counters.py)."""
        return [Line(line, *counter_names(owner)) for line, owner in recovery.owners(self.marks.ids(), ROUTER)]

    def relays(self) -> list[Line]:
        """Each registered device's counters of its DNS to the router's resolver."""
        return [Line(mac, *dns_counter_names(device_id)) for mac, device_id in self.marks.ids()]

    def newcomer_names(self) -> tuple[str, ...]:
        return counter_names(ruleset.NEWCOMER_CHAIN)

    def blocked(self) -> frozenset[int]:
        """The ids of the devices the kernel cuts off now (by a cap reached or by the admin)."""
        with self._lock:
            applied = self._applied
        return frozenset(d.id for d in applied.devices if d.guard.blocked) if applied else frozenset()

    def close(self) -> None:
        """Stop the redirect; the table stays, so caps hold while the daemon is away."""
        self.responder.stop()

    def _rebuild(self) -> None:
        """The table from the database, over whatever table is there.

        A table of ours is updated in place: its quota objects keep counting
        (nothing crosses uncounted while the daemon starts), and only those
        that counted less than the database holds are made anew from it. A
        table that cannot be updated (another version's) is replaced.
        """
        self._follow_listen()
        rules = build(self.core, self.marks, self._captive)
        try:
            found = nft.table_state()
        except nft.NftError as e:
            self._failed(e)
            return
        if found is None:  # none yet, or taken away: the quotas start from the counts last read, if higher
            self._create(self._with_consumed(rules))
            return
        self._consumed.update(found.counted)
        present, counted = found.present, found.counted
        recount = frozenset(q.name for q in rules.quotas if counted.get(q.name, q.allowance) < min(q.used, q.allowance))
        try:
            nft.apply(ruleset.update(rules, present, recount))
        except nft.NftError as e:
            log.warning("the table of an earlier routerguard cannot be updated, replacing it: %s", e)
            quotas = tuple(dataclasses.replace(q, used=max(q.used, counted.get(q.name, 0))) for q in rules.quotas)
            self._create(dataclasses.replace(rules, quotas=quotas))
            return
        self._applied, self._error = rules, None
        self._write_include(rules)

    def _follow_listen(self) -> None:
        """The redirect moves with the page: after a LAN renumbered (listen_interface's addresses, found again on
        SIGHUP) the kernel sends blocked devices to the new address, not to one the router no longer has."""
        listen = self.core.config.main.listen
        if listen == self.responder.listen:
            return
        self.responder.stop()
        self.responder = Responder(listen)
        self._captive = self.responder.start()

    def _read_consumed(self) -> None:
        """Note what each quota has counted (one netlink dump, a millisecond), for a table made anew after a flush."""
        try:
            found = nftcounters.read_quotas(*ruleset.TABLE.split())
        except (OSError, ValueError):
            return
        if found is not None:
            self._consumed = found[1]

    def _with_consumed(self, rules: Ruleset) -> Ruleset:
        if not self._consumed:
            return rules
        quotas = tuple(dataclasses.replace(q, used=max(q.used, self._consumed.get(q.name, 0))) for q in rules.quotas)
        return dataclasses.replace(rules, quotas=quotas)

    def _create(self, rules: Ruleset) -> None:
        """The table afresh; its counters start from zero, which is saved at once (not at the next commit),
        so a crash before that commit still has a start to recover from."""
        self._apply(ruleset.create(rules), rules)
        if self._applied is not rules:
            return
        try:
            made = nft.counts()
            if made:
                self.core.db.put_volatile(recovery.KEY, recovery.dumps(nft.Counts(made.table)))
        except (OSError, ValueError, sqlite3.Error) as e:
            log.warning("could not note the new table's counters (%s): a crash before the next commit loses "
                        "the usage since", e)

    def _recover(self, counts: nft.Counts) -> None:
        """Charge what the kernel counted since the last commit (recovery.py)."""
        core = self.core
        moved = recovery.moved(recovery.loads(core.db.get_volatile(recovery.KEY)), counts)
        owed = recovery.owed(moved, recovery.owners(self.marks.ids(), ROUTER))
        now = core.now()
        for line, (up, down) in owed.items():
            core.ledger.add(line, up, down, now)
        if owed:
            log.info("charged %d bytes the kernel counted for %d devices while routerguard was not reading",
                     sum(up + down for up, down in owed.values()), len(owed))

    def _end_offloaded(self, rules: Ruleset, previous: Ruleset) -> None:
        """With flow offloading on, a newly blocked device's offloaded connections would go on past the cut."""
        was_blocked = {d.id for d in previous.devices if d.guard.blocked}
        newly = [d for d in rules.devices if d.guard.blocked and d.id not in was_blocked]
        if not newly or not nft.flowtables():
            return
        for device in newly:
            try:
                end_connections(device.id)
            except OSError as e:
                log.error("could not end %s's offloaded connections (%s): they go on until they close", device.mac, e)

    def _apply(self, script: str, rules: Ruleset) -> None:
        try:
            nft.apply(script)
        except nft.NftError as e:
            self._failed(e)
            return
        self._applied, self._error = rules, None
        self._write_include(rules)

    def _write_include(self, rules: Ruleset) -> None:
        """The table just applied, for fw4 to load at the firewall's next start (include.py), when configured."""
        path = self.core.config.main.fw4_include
        if not path:
            return
        try:
            include.write(path, rules)
        except (OSError, nft.NftError) as e:
            log.error("could not write the firewall's include %s (caps from the firewall's start may be old): %s",
                      path, e)

    def _failed(self, error: nft.NftError) -> None:
        """The caps in force stay as they are; the next sync rebuilds the table. Said once per new reason."""
        if str(error) != self._error:
            log.error("could not update the kernel's caps (those in force stay; retrying at every reading): %s", error)
        self._applied, self._error = None, str(error)
