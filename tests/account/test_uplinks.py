"""The uplinks' bookkeeping: totals that never go backwards, in use and since when."""

from __future__ import annotations

from routerguard.account.uplinks import Uplinks
from routerguard.read.links import LinkReading


class FakeKernel:
    """What /sys/class/net and the default route say, changed by the test between polls."""

    def __init__(self) -> None:
        self.links: dict[str, LinkReading] = {}
        self.default: str | None = None
        self.now = 1000.0

    def set(self, name: str, tx: int, rx: int, ifindex: int = 5, link: bool = True) -> None:
        self.links[name] = LinkReading(ifindex, link, rx, tx)

    def uplinks(self) -> Uplinks:
        return Uplinks(self.links.get, lambda: self.default, lambda: self.now)


def totals(uplinks: Uplinks, name: str) -> tuple[int, int]:
    status = uplinks.status(name)
    return status.up_bytes, status.down_bytes


def test_counts_from_the_first_reading_not_from_the_interfaces_creation() -> None:
    kernel = FakeKernel()
    kernel.set("wwan0", tx=5_000, rx=90_000)
    uplinks = kernel.uplinks()
    uplinks.poll(["wwan0"])
    assert totals(uplinks, "wwan0") == (0, 0)
    kernel.set("wwan0", tx=6_000, rx=100_000)
    uplinks.poll(["wwan0"])
    assert totals(uplinks, "wwan0") == (1_000, 10_000)


def test_a_recreated_interface_adds_its_new_count_and_never_goes_backwards() -> None:
    kernel = FakeKernel()
    kernel.set("wwan0", tx=5_000, rx=90_000, ifindex=5)
    uplinks = kernel.uplinks()
    uplinks.poll(["wwan0"])
    kernel.set("wwan0", tx=8_000, rx=120_000, ifindex=5)
    uplinks.poll(["wwan0"])
    kernel.set("wwan0", tx=700, rx=4_000, ifindex=9)  # the modem re-enumerated between two readings
    uplinks.poll(["wwan0"])
    assert totals(uplinks, "wwan0") == (3_000 + 700, 30_000 + 4_000)
    kernel.set("wwan0", tx=900, rx=9_000, ifindex=9)
    uplinks.poll(["wwan0"])
    assert totals(uplinks, "wwan0") == (3_900, 39_000)


def test_a_counter_that_starts_again_under_the_same_index_is_not_taken_as_negative() -> None:
    kernel = FakeKernel()
    kernel.set("ppp0", tx=50_000, rx=50_000)
    uplinks = kernel.uplinks()
    uplinks.poll(["ppp0"])
    kernel.set("ppp0", tx=100, rx=200)  # a driver that zeroes its statistics on reset
    uplinks.poll(["ppp0"])
    assert totals(uplinks, "ppp0") == (100, 200)


def test_an_interface_gone_and_back_counts_all_its_new_bytes() -> None:
    kernel = FakeKernel()
    kernel.set("wwan0", tx=1_000, rx=1_000, ifindex=5)
    uplinks = kernel.uplinks()
    uplinks.poll(["wwan0"])
    kernel.set("wwan0", tx=2_000, rx=3_000, ifindex=5)
    uplinks.poll(["wwan0"])
    del kernel.links["wwan0"]  # unplugged
    uplinks.poll(["wwan0"])
    status = uplinks.status("wwan0")
    assert (status.link, status.up_bytes, status.down_bytes) == (False, 1_000, 2_000)
    kernel.set("wwan0", tx=400, rx=500, ifindex=5)  # plugged in again (even were the index the same)
    uplinks.poll(["wwan0"])
    assert totals(uplinks, "wwan0") == (1_400, 2_500)


def test_an_interface_absent_at_the_start_counts_from_its_creation() -> None:
    kernel = FakeKernel()
    uplinks = kernel.uplinks()
    uplinks.poll(["wwan0"])
    assert uplinks.status("wwan0").link is False
    kernel.set("wwan0", tx=300, rx=700)
    uplinks.poll(["wwan0"])
    assert totals(uplinks, "wwan0") == (300, 700)


def test_in_use_follows_the_default_route_and_since_is_the_change_seen() -> None:
    kernel = FakeKernel()
    kernel.set("wwan0", 0, 0)
    kernel.set("wlan-sta", 0, 0, ifindex=6)
    kernel.default = "wwan0"
    uplinks = kernel.uplinks()
    uplinks.poll(["wwan0", "wlan-sta"])
    assert uplinks.status("wwan0").in_use and not uplinks.status("wlan-sta").in_use
    assert uplinks.status("wwan0").since is None  # in use before the daemon looked: since when is not known
    kernel.now, kernel.default = 1060.0, "wlan-sta"
    uplinks.poll(["wwan0", "wlan-sta"])
    kernel.now = 1120.0
    uplinks.poll(["wwan0", "wlan-sta"])
    wan, sta = uplinks.status("wwan0"), uplinks.status("wlan-sta")
    assert (wan.in_use, wan.since, sta.in_use, sta.since) == (False, 1060.0, True, 1060.0)


def test_an_uplink_never_read_is_down_with_nothing_counted() -> None:
    status = FakeKernel().uplinks().status("wwan9")
    assert (status.link, status.in_use, status.since, status.up_bytes, status.down_bytes) == (False, False, None, 0, 0)
