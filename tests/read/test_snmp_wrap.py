"""The uplink's counters wrapping, stepping back and restarting, read over real SNMP.

A real interface cannot move 2^64 bytes, so a real snmpd, in a namespace of
the test's own, hands the uplink's ifHCInOctets/ifHCOutOctets (and, where a
test says so, sysUpTime) to routerguard_lab.snmppass, which serves values
the test writes; ifName and everything else stay snmpd's own. The poller
runs beside it as the daemon runs it (`NamespacedPoller`), and its total
must move by exactly the bytes the counters moved.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from routerguard.account.wan_total import COUNTER64_MODULUS
from routerguard.read.snmp import IF_HC_IN_OCTETS, IF_HC_OUT_OCTETS, SYS_UPTIME
from routerguard_lab.netns import Namespace, kill_all, new_prefix
from routerguard_lab.snmpd import NamespacedPoller, SnmpAgent
from routerguard_lab.snmppass import PassedValues

pytestmark = pytest.mark.lab  # needs root and the kernel (see tests/conftest.py)

WAN_IF, PEER_IF = "wan0", "isp0"
SYS_UPTIME_SUBTREE = SYS_UPTIME.rsplit(".", 1)[0]
BIG = 2**40  # a counter past what any link moves in a poll interval: stepping back cannot be a reset
UPTIME = 360_000  # ticks: an hour


class PassedUplink:
    """A real snmpd whose uplink counters (and sysUpTime, if `fake_uptime`) say what the test shows."""

    def __init__(self, router: Namespace, folder: Path, fake_uptime: bool) -> None:
        link = json.loads(router.ip("-j", "link", "show", WAN_IF).stdout)
        self.index: int = link[0]["ifindex"]
        subtrees = [IF_HC_IN_OCTETS, IF_HC_OUT_OCTETS] + ([SYS_UPTIME_SUBTREE] if fake_uptime else [])
        self.values = PassedValues(str(folder), subtrees)
        self.agent = SnmpAgent(netns=router.name, config=self.values.config())
        self.router = router
        self.shown: tuple[int, int] | None = None

    def show(
        self, in_octets: int | None, out_octets: int | None, uptime: int | None = None, kind: str = "counter64",
    ) -> None:
        """What the agent answers from now on; None leaves a counter out (noSuchInstance)."""
        values: dict[str, tuple[str, int]] = {}
        for column, octets in ((IF_HC_IN_OCTETS, in_octets), (IF_HC_OUT_OCTETS, out_octets)):
            if octets is not None:
                values[f"{column}.{self.index}"] = (kind, octets)
        if uptime is not None:
            values[SYS_UPTIME] = ("timeticks", uptime)
        self.values.write(values)
        self.shown = None if in_octets is None or out_octets is None else (in_octets, out_octets)

    def restart_showing(self, in_octets: int, out_octets: int, uptime: int) -> None:
        """Restart the agent with new values: snmpd asks once per variable, so a change that moves
        counters back is made while it is down, where no poll sees half of it."""
        self.agent.stop()
        self.show(in_octets, out_octets, uptime)
        self.agent.start()

    def poller(self) -> NamespacedPoller:
        return NamespacedPoller(self.router.name, self.agent.port, WAN_IF)


@pytest.fixture
def router(tmp_path: Path) -> Iterator[Namespace]:
    """A namespace with a WAN interface (a veth whose peer stays beside it) and nothing else running."""
    ns = Namespace.create(f"{new_prefix()}-snmpwrap")
    try:
        ns.ip("link", "add", WAN_IF, "type", "veth", "peer", "name", PEER_IF)
        ns.ip("link", "set", WAN_IF, "up")
        yield ns
    finally:
        kill_all([ns])
        ns.delete()


def total_after_reading(poller: NamespacedPoller, uplink: PassedUplink, uptime: int | None = None) -> int:
    """The poller's total once it has read the counters the agent shows now (and `uptime`, when given).

    Total and reading come from one state, so they belong together.
    """
    def read(snap: dict[str, Any]) -> bool:
        last = snap["state"]["last"]
        return (
            last is not None and (last["in_octets"], last["out_octets"]) == uplink.shown
            and (uptime is None or last["uptime"] == uptime)
        )

    return poller.wait_for(read, f"a reading of {uplink.shown}")["state"]["total_bytes"]


def refusal(poller: NamespacedPoller, words: str) -> dict[str, Any]:
    """The first snapshot whose last error contains `words`."""
    return poller.wait_for(lambda snap: words in str(snap["health"]["last_error"]), f"an error saying {words!r}")


def test_counters_crossing_2_to_the_64_add_exactly_the_steps(router: Namespace, tmp_path: Path) -> None:
    uplink = PassedUplink(router, tmp_path, fake_uptime=False)
    in_octets, out_octets = COUNTER64_MODULUS - 3_000, COUNTER64_MODULUS - 10
    uplink.show(in_octets, out_octets)
    with uplink.agent, uplink.poller() as poller:
        assert total_after_reading(poller, uplink) == 0
        expected = 0
        for down, up in ((1_000, 5), (2_500, 20), (7_000_000, 3_000_000)):
            in_octets, out_octets = (in_octets + down) % COUNTER64_MODULUS, (out_octets + up) % COUNTER64_MODULUS
            uplink.show(in_octets, out_octets)
            expected += down + up
            assert total_after_reading(poller, uplink) == expected
    assert (in_octets, out_octets) == (7_000_500, 3_000_015)  # both really wrapped


def test_an_agent_without_64_bit_counters_is_refused_with_the_reason(router: Namespace, tmp_path: Path) -> None:
    uplink = PassedUplink(router, tmp_path, fake_uptime=False)
    uplink.show(None, None)
    with uplink.agent, uplink.poller() as poller:
        snap = refusal(poller, "has no 64-bit counters (IF-MIB ifHCInOctets/ifHCOutOctets) for 'wan0'")
    assert snap["total"] is None and snap["health"]["if_index"] is None


def test_32_bit_counters_in_the_64_bit_columns_are_refused(router: Namespace, tmp_path: Path) -> None:
    """Counter32 values wrap at 4 GiB: taken as Counter64 each wrap would read as a reset and count wrongly."""
    uplink = PassedUplink(router, tmp_path, fake_uptime=False)
    uplink.show(2**32 - 100, 10**9, kind="counter")
    with uplink.agent, uplink.poller() as poller:
        snap = refusal(poller, "serves ifHCInOctets/ifHCOutOctets for 'wan0' as Counter32, not Counter64")
    assert snap["total"] is None


def test_counters_cleared_while_the_agent_kept_its_uptime_count_from_zero(router: Namespace, tmp_path: Path) -> None:
    """wan_total's rule: counters that went back further than a wrap could explain, to values the
    time between could hold, started again from zero; the agent restarted but kept its uptime."""
    uplink = PassedUplink(router, tmp_path, fake_uptime=True)
    uplink.show(5 * 10**9, 2 * 10**9, UPTIME)
    with uplink.agent, uplink.poller() as poller:
        assert total_after_reading(poller, uplink) == 0
        uplink.show(5 * 10**9 + 1_000, 2 * 10**9 + 100, UPTIME + 100)
        assert total_after_reading(poller, uplink) == 1_100
        uplink.restart_showing(4_000, 500, UPTIME + 300)
        assert total_after_reading(poller, uplink) == 1_100 + 4_500
        uplink.show(4_300, 530, UPTIME + 400)
        assert total_after_reading(poller, uplink) == 1_100 + 4_500 + 330


def test_a_reboot_counts_the_new_counters_from_zero(router: Namespace, tmp_path: Path) -> None:
    """sysUpTime and the counters went back together: the device restarted and counts from zero."""
    uplink = PassedUplink(router, tmp_path, fake_uptime=True)
    uplink.show(5 * 10**9, 2 * 10**9, UPTIME)
    with uplink.agent, uplink.poller() as poller:
        assert total_after_reading(poller, uplink) == 0
        uplink.restart_showing(3_000, 400, 250)
        assert total_after_reading(poller, uplink, uptime=250) == 3_400
        uplink.show(3_500, 450, 350)
        assert total_after_reading(poller, uplink) == 3_400 + 550


def test_uptime_going_back_alone_counts_only_what_the_counters_moved(router: Namespace, tmp_path: Path) -> None:
    """Only the agent restarted: the counters went on, so nothing is counted twice."""
    uplink = PassedUplink(router, tmp_path, fake_uptime=True)
    uplink.show(5 * 10**9, 2 * 10**9, UPTIME)
    with uplink.agent, uplink.poller() as poller:
        assert total_after_reading(poller, uplink) == 0
        uplink.restart_showing(5 * 10**9 + 2_000, 2 * 10**9 + 200, 150)
        assert total_after_reading(poller, uplink, uptime=150) == 2_200


def test_a_counter_stepping_back_costs_at_most_the_step_not_the_whole_counter(router: Namespace, tmp_path: Path) -> None:
    """Neither a wrap nor a reset explains a large counter dipping 200 bytes within a second (the
    uptime went on): the dip counts nothing, the other counter its own move, and the dip is counted
    again when the counter regains it, rather than the whole counter once more."""
    uplink = PassedUplink(router, tmp_path, fake_uptime=True)
    uplink.show(BIG, BIG // 2, UPTIME)
    with uplink.agent, uplink.poller() as poller:
        assert total_after_reading(poller, uplink) == 0
        uplink.show(BIG - 200, BIG // 2 + 50, UPTIME + 100)
        assert total_after_reading(poller, uplink) == 50
        uplink.show(BIG + 500, BIG // 2 + 50, UPTIME + 200)
        assert total_after_reading(poller, uplink) == 50 + 700
