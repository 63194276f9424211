"""GET /api/v1/uplinks in the virtual router with two uplinks: which one is in use, and bytes that move and never go back.

The second uplink is a second veth to the internet host (test_leakguard_lab's
add_second_uplink), described as unmetered; the default route decides which
one is in use. Byte figures are the interfaces' own (link-layer) counters, so
a transfer's payload is a floor and its headers a few percent above it.
"""

from __future__ import annotations

import pytest

from routerguard_lab.wait import wait_until
from test_leakguard_lab import SECOND_INTERNET, SECOND_UPLINK, add_second_uplink, start_daemon

pytestmark = pytest.mark.lab

HEADROOM = 1.1  # Ethernet, IP and TCP headers, the ACKs: well under 10% at full-size segments
MB = 1_000_000


def uplinks(daemon) -> dict[str, dict]:
    return {u["ifname"]: u for u in daemon.api("GET", "/api/v1/uplinks")["uplinks"]}


def assert_carried(before: dict, after: dict, payload: int) -> None:
    moved = after["down_bytes"] - before["down_bytes"]
    assert payload <= moved <= payload * HEADROOM, f"{after['ifname']}: {moved} bytes for a {payload}-byte download"


def test_in_use_follows_the_route_and_bytes_move_on_each_uplink(lab) -> None:
    add_second_uplink(lab)
    daemon = start_daemon(lab, f"config uplink\n\toption ifname '{SECOND_UPLINK}'\n\toption metered '0'\n")
    client = lab.clients[0]
    wan = lab.router.wan_if
    try:
        first = uplinks(daemon)
        assert list(first) == [wan, SECOND_UPLINK]
        assert first[wan]["in_use"] and first[wan]["metered"] and first[wan]["link"] and first[wan]["since"] is None
        assert not first[SECOND_UPLINK]["in_use"] and not first[SECOND_UPLINK]["metered"] and first[SECOND_UPLINK]["link"]
        assert first[wan]["internet"] is None  # no probes yet: not known

        client.download(3 * MB)
        assert_carried(first[wan], uplinks(daemon)[wan], 3 * MB)

        lab.router.ns.ip_batch([f"route replace default via {SECOND_INTERNET} dev {SECOND_UPLINK}"])
        switched = wait_until(lambda: (found := uplinks(daemon))[SECOND_UPLINK]["in_use"] and found, 10,
                              "the second uplink to be in use")
        assert not switched[wan]["in_use"] and switched[wan]["since"] is not None
        assert switched[SECOND_UPLINK]["since"] == switched[wan]["since"]
        client.download(2 * MB, host=SECOND_INTERNET)
        after = uplinks(daemon)
        assert_carried(switched[SECOND_UPLINK], after[SECOND_UPLINK], 2 * MB)
        assert after[wan]["down_bytes"] - switched[wan]["down_bytes"] < 100_000  # the other uplink stayed quiet

        lab.router.ns.ip_batch([f"link del {SECOND_UPLINK}"])  # a USB modem unplugged, then back: counters start at 0
        gone = wait_until(lambda: (found := uplinks(daemon))[SECOND_UPLINK]["link"] is False and found, 10,
                          "the second uplink to be gone")
        assert gone[SECOND_UPLINK]["down_bytes"] == after[SECOND_UPLINK]["down_bytes"]  # kept
        add_second_uplink(lab)
        client.download(1 * MB, host=SECOND_INTERNET)
        back = uplinks(daemon)[SECOND_UPLINK]
        assert back["link"] and back["down_bytes"] >= gone[SECOND_UPLINK]["down_bytes"] + 1 * MB
        assert_carried(gone[SECOND_UPLINK], back, 1 * MB)
    finally:
        daemon.stop()
