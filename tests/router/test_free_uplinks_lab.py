"""Free uplinks first, in the virtual router with two uplinks (issue 18's "Done when").

LTE (wan0, metered) and a hotel network (hotel0, unmetered, its own NAT to the
same internet host), LTE preferred by route metric at the start. The bounds
waited on are the issue's: the hotel uplink carries the traffic within 20 s of
the start; a captive portal there moves it to LTE within 20 s, with an alert;
recovery brings it back within 45 s. A `metered_access '0'` device fetches by
the hotel and is refused by LTE. The internet host logs where each probe came
from: none ever by the LTE address.
"""

from __future__ import annotations

import os
import time

import pytest

from routerguard.enforce.dnsmasq import SNIPPET
from routerguard_lab import plan
from routerguard_lab.hotel import FAR_HOST, FAR_HOST6, HOTEL_IF, HOTEL_NAT, Hotel
from routerguard_lab.lab_daemon import LabDaemon
from routerguard_lab.wait import wait_until

pytestmark = pytest.mark.lab

START_BOUND, FAILOVER_BOUND, RECOVERY_BOUND = 20, 20, 45
CURL_REFUSED = 7  # curl: "Failed to connect" (a reset or an ICMP refusal, not a timeout: 28)


def whoami(client) -> str | None:
    """The address the far host saw this client's request come from (which uplink's NAT), None when it failed."""
    proc = client.exec(["curl", "-sS", "-4", "--fail", "--max-time", "1", f"http://{FAR_HOST}/whoami"], check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def curl_exit(client, v6: bool = False) -> int:
    url = f"http://[{FAR_HOST6}]/whoami" if v6 else f"http://{FAR_HOST}/whoami"
    return client.exec(["curl", "-sS", "-g", "-6" if v6 else "-4", "--max-time", "5", "-o", "/dev/null", url],
                       check=False).returncode


def metered_hint(lab) -> bool:
    """Whether the router's dnsmasq tells devices the network is metered (the data saver's other half)."""
    with open(os.path.join(lab.router.dnsmasq_conf_dir, SNIPPET)) as f:
        return "ANDROID_METERED" in f.read()


def uplinks(daemon) -> dict[str, dict]:
    return {u["ifname"]: u for u in daemon.api("GET", "/api/v1/uplinks")["uplinks"]}


def uplink_alerts(daemon) -> list[dict]:
    return [a for a in daemon.api("GET", "/api/v1/alerts")["alerts"] if a["kind"] == "uplink"]


def probe_sources(lab) -> list[str]:
    with open(f"{lab.dir}/httpd.log") as f:
        return [line.split()[-1] for line in f if line.startswith("probe from ")]


PROBE_COUNTERS = f"""table inet labprobe {{
    counter probes {{ }}
    chain output {{
        type filter hook output priority 0; policy accept;
        oifname "{HOTEL_IF}" ip daddr {FAR_HOST} tcp dport 80 counter name "probes"
    }}
    chain input {{
        type filter hook input priority 0; policy accept;
        iifname "{HOTEL_IF}" ip saddr {FAR_HOST} tcp sport 80 counter name "probes"
    }}
}}
"""


def probe_bytes_counted(lab) -> int:
    """The router's own traffic to the far host's port 80 by the hotel uplink: the probes, IP layer, both ways."""
    out = lab.router.exec(["nft", "list", "counter", "inet", "labprobe", "probes"]).stdout
    return int(out.split("bytes")[1].split()[0])


def within(bound: float, since: float) -> float:
    """What is left of `bound` seconds counted from `since`."""
    return max(0.1, bound - (time.monotonic() - since))


@pytest.fixture
def hotel(lab):
    return Hotel(lab).build()


def test_the_hotel_first_lte_while_it_is_a_portal_and_back(lab, hotel) -> None:
    lte = lab.router.wan_ip
    keeper, laptop = lab.clients[0], lab.clients[1]  # the laptop: metered_access '0' (its backups wait for Wi-Fi)
    extra = (f"config uplink\n\toption ifname '{HOTEL_IF}'\n\toption metered '0'\n"
             f"\toption probe_url 'http://{FAR_HOST}/generate_204'\n\n"
             f"config device\n\toption mac '{laptop.mac}'\n\toption name 'Laptop'\n\toption metered_access '0'\n")
    assert whoami(keeper) == lte  # before the daemon: LTE, by metric
    lab.router.exec(["nft", "-f", "-"], input=PROBE_COUNTERS)
    started = time.monotonic()
    daemon = LabDaemon(lab, extra).start()
    try:
        wait_until(lambda: whoami(keeper) == HOTEL_NAT, within(START_BOUND, started), "traffic to leave by the hotel")
        print(f"hotel in use {time.monotonic() - started:.1f} s after the start (bound {START_BOUND} s)")
        assert whoami(laptop) == HOTEL_NAT  # metered_access '0' fetches over the free uplink
        first = uplinks(daemon)
        assert first[HOTEL_IF]["in_use"] and first[HOTEL_IF]["internet"] is True and first[HOTEL_IF]["link"]
        assert not first[plan.WAN_IF]["in_use"] and first[plan.WAN_IF]["internet"] is None
        assert daemon.api("GET", f"/api/v1/devices/{laptop.mac}")["metered_access"] is False
        assert uplink_alerts(daemon) == []  # the first choice after the start is no move
        # IPv6, which the hotel does not carry, is refused at once rather than sent by LTE
        assert curl_exit(keeper, v6=True) == CURL_REFUSED
        wait_until(lambda: not metered_hint(lab), 10, "the metered hint to go while on the hotel")

        hotel.captive(True)
        turned = time.monotonic()
        wait_until(lambda: whoami(keeper) == lte, within(FAILOVER_BOUND, turned), "traffic to move to LTE")
        print(f"LTE in use {time.monotonic() - turned:.1f} s after the portal (bound {FAILOVER_BOUND} s)")
        moved = wait_until(lambda: uplink_alerts(daemon), within(FAILOVER_BOUND, turned), "an alert that traffic moved to LTE")
        assert moved[0]["params"]["metered"] is True and moved[0]["params"]["to"] == plan.WAN_IF
        assert moved[0]["params"]["why"] == "captive"
        during = uplinks(daemon)
        assert during[HOTEL_IF]["internet"] is False and during[HOTEL_IF]["link"] and not during[HOTEL_IF]["in_use"]
        assert during[plan.WAN_IF]["in_use"]
        assert curl_exit(laptop) == CURL_REFUSED  # refused at once, not left to time out
        assert daemon.api("GET", f"/api/v1/devices/{laptop.mac}")["metered_refused"] is True
        assert curl_exit(keeper, v6=True) == 0  # on LTE, IPv6 is there again
        wait_until(lambda: metered_hint(lab), 10, "the metered hint while on LTE")

        hotel.captive(False)
        recovered = time.monotonic()
        wait_until(lambda: whoami(keeper) == HOTEL_NAT, within(RECOVERY_BOUND, recovered), "traffic back on the hotel")
        print(f"hotel back {time.monotonic() - recovered:.1f} s after its recovery (bound {RECOVERY_BOUND} s)")
        wait_until(lambda: len(uplink_alerts(daemon)) >= 2, within(RECOVERY_BOUND, recovered), "an alert that it is back")
        assert uplink_alerts(daemon)[0]["params"]["metered"] is False
        assert whoami(laptop) == HOTEL_NAT
        after = uplinks(daemon)[HOTEL_IF]
        counted = probe_bytes_counted(lab)
        probes = after["probe"]
        print(f"{probes['count']} probes, {probes['bytes']} bytes shown, {counted} counted by nftables"
              f" ({counted / max(1, probes['count']):.0f} a probe)")
        assert probes["count"] >= 4 and abs(probes["bytes"] - counted) <= counted * 0.25
    except BaseException:
        print(daemon.log())
        raise
    finally:
        daemon.stop()
    sources = probe_sources(lab)
    assert sources and set(sources) == {HOTEL_NAT}, sources  # never by the LTE address
    rules = lab.router.ns.ip("rule", "show").stdout
    assert "2771" not in rules and "lookup main suppress_prefixlength 0" not in rules  # removed at stop


DEAD_BOUND = 10  # the "on failure, the metered uplink within 10 s", for an uplink that carries traffic


def test_a_dead_hotel_under_traffic_is_left_within_10_s(lab, hotel) -> None:
    keeper = lab.clients[0]
    extra = (f"config uplink\n\toption ifname '{HOTEL_IF}'\n\toption metered '0'\n"
             f"\toption probe_url 'http://{FAR_HOST}/generate_204'\n")
    daemon = LabDaemon(lab, extra).start()
    try:
        wait_until(lambda: whoami(keeper) == HOTEL_NAT, START_BOUND, "traffic to leave by the hotel")
        hotel.dead(True)
        died = time.monotonic()
        wait_until(lambda: whoami(keeper) == lab.router.wan_ip, DEAD_BOUND, "traffic to move to LTE")
        print(f"LTE in use {time.monotonic() - died:.1f} s after the hotel went dark (bound {DEAD_BOUND} s)")
        assert uplink_alerts(daemon)[0]["params"]["why"] == "down"
        hotel.dead(False)
        back = time.monotonic()
        wait_until(lambda: whoami(keeper) == HOTEL_NAT, 30, "traffic back on the hotel")
        print(f"hotel back {time.monotonic() - back:.1f} s after it came back (bound 30 s)")
    except BaseException:
        print(daemon.log())
        raise
    finally:
        daemon.stop()
    assert set(probe_sources(lab)) == {HOTEL_NAT}
