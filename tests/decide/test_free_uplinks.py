"""Free uplinks first, the pure part: health with hysteresis, the probes' budget, the choice, metered_access."""

from __future__ import annotations

from pathlib import Path

from routerguard.config.model import load_config
from routerguard.decide import uplinks
from routerguard.decide.uplinks import Health, choose, no_metered_access

CONFIG = """config routerguard 'main'
\tlist wan_if 'wwan0'
\toption listen '127.0.0.1:8080'
\toption data_dir '/tmp/unused'

config uplink
\toption ifname 'wlan-sta'
\toption metered '0'

config uplink
\toption ifname 'eth1'
\toption metered '0'

config group
\toption id 'backups'
\toption metered_access '0'

config device
\toption mac '02:00:00:00:00:0a'
\toption group 'backups'

config device
\toption mac '02:00:00:00:00:0b'
\toption group 'backups'
\toption metered_access '1'

config device
\toption mac '02:00:00:00:00:0c'
\toption metered_access '0'

config device
\toption mac '02:00:00:00:00:0d'
"""


def config(tmp_path: Path, text: str = CONFIG):
    path = tmp_path / "routerguard"
    path.write_text(text)
    return load_config(str(path))


def probed(health: Health, now: float, verdict: str, busy: bool = True) -> bool:
    assert health.due(now, busy), f"no probe due at {now}"
    return health.on_probe(verdict)


def test_the_first_answer_decides_then_two_in_a_row_change_it() -> None:
    health = Health(0.0)
    assert not health.due(0.0)  # no link: no probe
    health.on_link(True, 0.0)
    assert probed(health, 0.0, "ok") and health.internet is True
    t = uplinks.HEALTHY_INTERVAL
    assert not probed(health, t, "captive") and health.internet is True  # one failure: not yet
    assert not health.due(t + uplinks.RETRY_AFTER / 2, True)
    assert probed(health, t + uplinks.RETRY_AFTER, "captive") and health.internet is False  # confirmed at once
    t += uplinks.RETRY_AFTER + uplinks.FAILING_INTERVAL
    assert not probed(health, t, "ok") and health.internet is False
    assert probed(health, t + uplinks.FAILING_INTERVAL, "ok") and health.internet is True


def test_a_failure_between_successes_is_forgotten() -> None:
    health = Health(0.0)
    health.on_link(True, 0.0)
    probed(health, 0.0, "ok")
    assert not probed(health, 8.0, "down")
    assert not probed(health, 9.0, "ok")
    assert not probed(health, 17.0, "down") and health.internet is True


def test_a_link_that_drops_is_no_internet_at_once_and_is_probed_when_back() -> None:
    health = Health(0.0)
    health.on_link(True, 0.0)
    probed(health, 0.0, "ok")
    assert health.on_link(False, 1.0) and health.internet is None
    assert not health.due(2.0)
    health.on_link(True, 3.0)
    assert health.due(3.0)  # a new link: at once


def test_an_idle_working_uplink_is_probed_seldom_a_busy_one_often() -> None:
    health = Health(0.0)
    health.on_link(True, 0.0)
    probed(health, 0.0, "ok")
    assert not health.due(uplinks.HEALTHY_INTERVAL, busy=False)
    assert health.due(uplinks.HEALTHY_INTERVAL, busy=True)
    health.on_probe("ok")
    assert health.due(uplinks.HEALTHY_INTERVAL + uplinks.IDLE_INTERVAL, busy=False)


def test_no_schedule_spends_more_than_the_daily_budget() -> None:
    """Probing as often as allowed all day (a flapping portal, a busy uplink): the bucket caps the count."""
    health = Health(0.0)
    health.on_link(True, 0.0)
    sent, now, verdicts = 0, 0.0, ["ok", "captive"]
    while now < uplinks.DAY_SECONDS:
        if health.due(now, busy=True):
            health.on_probe(verdicts[sent % 2])
            sent += 1
        now += 0.5
    assert sent <= uplinks.MAX_PROBES_A_DAY == uplinks.BUCKET + int(uplinks.DAY_SECONDS // uplinks.REFILL)
    assert sent > uplinks.MAX_PROBES_A_DAY * 0.95  # and the budget is there to be used


def test_the_first_working_unmetered_uplink_in_the_config_order_is_chosen(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    assert cfg.main.prefer_unmetered  # on by default with an unmetered uplink
    assert choose(cfg, {"wlan-sta": True, "eth1": True}) == "wlan-sta"
    assert choose(cfg, {"wlan-sta": False, "eth1": True}) == "eth1"
    assert choose(cfg, {"wlan-sta": False, "eth1": False}) is None  # the main table: the metered uplink
    off = config(tmp_path, CONFIG.replace("\toption data_dir", "\toption prefer_unmetered '0'\n\toption data_dir"))
    assert choose(off, {"wlan-sta": True}) is None


def test_metered_access_of_devices_and_groups(tmp_path: Path) -> None:
    # the group's '0', a member's own '1' over it, a device's own '0', a device with neither
    assert no_metered_access(config(tmp_path)) == ("02:00:00:00:00:0a", "02:00:00:00:00:0c")


def test_a_stalled_uplink_is_probed_at_once() -> None:
    health = Health(0.0)
    health.on_link(True, 0.0)
    probed(health, 0.0, "ok")
    assert not health.due(2.0, busy=True)
    assert health.due(2.0, busy=True, stalled=True)


def test_a_failed_probe_after_a_stall_is_the_second_sign() -> None:
    health = Health(0.0)
    health.on_link(True, 0.0)
    probed(health, 0.0, "ok")
    assert health.due(2.0, busy=True, stalled=True)
    assert health.on_probe("down", stalled=True) and health.internet is False
