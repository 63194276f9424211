"""Guarding the guard over a real Core: approval, the newcomers' shared allowance, held throttles, on_unusual, new-device alerts."""

import pytest

from routerguard.attribute.marks import Marks
from routerguard.config.model import ConfigError, load_config
from routerguard.core import Core
from routerguard.decide.alerts import HOUR
from routerguard.enforce.desired import build
from routerguard.leakguard import LeakGuard
from routerguard.read.leases import Lease, parse_leases
from routerguard.read.neighbours import Neighbour
from routerguard.service import Invalid, Service
from test_service import CONFIG, A, B, C

X, Y = "02:00:00:00:00:71", "02:00:00:00:00:72"  # MACs with no config section


def make(tmp_path, main: str = "", defaults: str = "", notify: str = "") -> Service:
    path = tmp_path / "routerguard"
    text = CONFIG.format(data=tmp_path / "data", a=A, b=B, c=C)
    text = text.replace("\toption timezone 'UTC'\n", "\toption timezone 'UTC'\n" + main)
    text = text.replace("\toption throttle '256kbit'\n", "\toption throttle '256kbit'\n" + defaults, 1)
    path.write_text(text + notify)
    return Service(Core(str(path)))


def seen(service: Service, *devices: tuple[str, str, str | None]) -> None:
    """Devices on the LAN: (mac, ip, hostname)."""
    core = service.core
    core.directory.refresh([Neighbour(ip, mac, 1) for mac, ip, _ in devices],
                           [Lease(mac, ip, host, 0) for mac, ip, host in devices], 1, core.now())


def test_the_options_are_read_and_bad_values_named(tmp_path):
    service = make(tmp_path, "\toption new_devices 'approve'\n", "\toption newcomer_cap '2GB'\n",
                   "\nconfig notify 'notify'\n\toption on_unusual 'pause'\n")
    config = service.core.config
    assert (config.main.new_devices, config.newcomer_cap, config.notify.on_unusual) == ("approve", 2_000_000_000, "pause")
    path = tmp_path / "bad"
    path.write_text((tmp_path / "routerguard").read_text().replace("'approve'", "'ask'").replace("'pause'", "'shout'")
                    .replace("'2GB'", "'lots'"))
    with pytest.raises(ConfigError) as e:
        load_config(str(path))
    text = str(e.value)
    assert "new_devices" in text and "on_unusual" in text and "newcomer_cap" in text


def test_under_approve_an_unknown_mac_is_held_until_approved(tmp_path):
    service = make(tmp_path, "\toption new_devices 'approve'\n")
    seen(service, (X, "192.168.8.150", "visitor"))
    device = service.device(X)
    assert device["approved"] is False and device["state"] == "blocked"
    assert service.device(A)["approved"] is True  # configured: approved
    rules = build(service.core, Marks(service.core.db), None)
    held = next(d for d in rules.devices if d.mac == X)
    assert held.guard.blocked and rules.newcomer.blocked  # and so is a MAC the daemon has not met yet
    assert X not in rules.dns_free and A in rules.dns_free
    assert service.patch_device(X, {"approved": True})["approved"] is True
    assert service.device(X)["state"] != "blocked"
    assert service.patch_device(X, {"approved": False})["approved"] is False
    assert "option approved '0'" in (tmp_path / "routerguard").read_text()
    with pytest.raises(Invalid):
        service.patch_device(X, {"approved": "yes"})


def test_allow_mode_leaves_dns_limited_to_the_cut_only(tmp_path):
    service = make(tmp_path)
    seen(service, (X, "192.168.8.150", "visitor"))
    assert service.device(X)["approved"] is True
    assert build(service.core, Marks(service.core.db), None).dns_free is None


def test_unknown_macs_share_one_newcomer_allowance(tmp_path):
    service = make(tmp_path, defaults="\toption newcomer_cap '150MB'\n")
    seen(service, (X, "192.168.8.150", None), (Y, "192.168.8.151", None))
    now = service.core.now()
    service.core.ledger.add(X, 0, 90_000_000, now)
    service.core.ledger.add(Y, 0, 70_000_000, now)
    service.core.ledger.add(A, 0, 500_000_000, now)  # configured: not a newcomer
    for mac in (X, Y):
        pool = next(limit for limit in service.device(mac)["limits"] if limit["scope"] == "newcomers")
        assert pool["used_bytes"] == 160_000_000 and pool["allowance_bytes"] == 150_000_000
        assert service.device(mac)["state"] == "throttled"  # each is under its own 100 MB, the pool is not
    assert "newcomers" not in [limit["scope"] for limit in service.device(A)["limits"]]
    rules = build(service.core, Marks(service.core.db), None)
    pools = [q.name for q in rules.quotas if q.name.startswith("q_pool_")]
    assert len(pools) == 1
    for mac in (X, Y):
        guard = next(d for d in rules.devices if d.mac == mac).guard
        assert pools[0] in [q for q, _ in guard.throttles]
    assert pools[0] in [q for q, _ in rules.newcomer.throttles]


def test_a_held_throttle_shows_and_is_lifted(tmp_path):
    service = make(tmp_path)
    core = service.core
    until = core.now() + HOUR
    core.adjustments.hold_throttle(C, until, 256)
    device = service.device(C)
    assert device["state"] == "throttled" and device["throttled_until"]
    assert Core(core.config_file.path).adjustments.throttles(core.now()) == {C: (until, 256)}  # kept
    assert service.patch_device(C, {"throttled": False})["throttled_until"] is None
    with pytest.raises(Invalid):
        service.patch_device(C, {"throttled": True})


def burst(service: Service, mac: str) -> LeakGuard:
    """A quiet week, then 20 MB now: an unusual burst."""
    core = service.core
    now = core.now()
    for hours in range(2, 7 * 24):
        core.ledger.add(mac, 1000, 9000, now - hours * HOUR)
    core.ledger.add(mac, 0, 20_000_000, now)
    guard = LeakGuard(core)
    guard.after_reading({mac: (0, 20_000_000)})
    return guard


@pytest.mark.parametrize("action, state, said", [("throttle", "throttled", "Slowed to 256 kbit/s for 1 hour."),
                                                 ("pause", "blocked", "Paused for 1 hour."),
                                                 ("notify", "ok", "usual rate")])
def test_on_unusual_acts_and_the_alert_says_so(tmp_path, action, state, said):
    service = make(tmp_path, notify=f"\nconfig notify 'notify'\n\toption on_unusual '{action}'\n")
    seen(service, (X, "192.168.8.30", "tablet"))  # under the default cap: 100 MB, throttled to 256 kbit
    burst(service, X)
    alerts = [a for a in service.alerts() if a["kind"].startswith("unusual")]
    assert alerts and any(a["message"].endswith(said) or said in a["message"] for a in alerts)
    device = service.device(X)
    assert device["state"] == state
    if action != "notify":
        assert sum(1 for a in alerts if a["params"].get("done")) == 1  # one action for the burst
        undone = service.patch_device(X, {"blocked": False, "throttled": False})
        assert undone["state"] == "ok"


def test_a_new_mac_alerts_once_and_the_devices_of_the_first_run_do_not(tmp_path):
    service = make(tmp_path)
    seen(service, (X, "192.168.8.150", "here-before"))
    LeakGuard(service.core).after_reading({})
    assert [a for a in service.alerts() if a["kind"] == "new_device"] == []
    seen(service, (Y, "192.168.8.151", "visitor"))
    guard = LeakGuard(service.core)
    guard.after_reading({})
    guard.after_reading({})
    alerts = [a for a in service.alerts() if a["kind"] == "new_device"]
    assert [(a["mac"], a["params"]["hostname"], a["params"]["address"]) for a in alerts] == [(Y, "visitor", "192.168.8.151")]
    LeakGuard(service.core).after_reading({})  # a restart
    assert len([a for a in service.alerts() if a["kind"] == "new_device"]) == 1


def test_a_mac_with_anothers_dhcp_hostname_raises_an_alert(tmp_path):
    service = make(tmp_path)
    seen(service, (X, "192.168.8.150", "kid-tablet"), (A, "192.168.8.23", "zhang-phone"))
    guard = LeakGuard(service.core)
    guard.after_reading({})
    seen(service, (A, "192.168.8.23", "kid-tablet"))  # the tablet took the phone's MAC
    guard.after_reading({})
    alerts = [a for a in service.alerts() if a["kind"] == "borrowed_mac"]
    assert [(a["mac"], a["params"]["other"]) for a in alerts] == [(A, X)]
    guard.after_reading({})
    assert len([a for a in service.alerts() if a["kind"] == "borrowed_mac"]) == 1


def test_the_lease_file_gives_the_client_id():
    leases = parse_leases("1700000000 02:00:00:00:00:0a 192.168.8.23 phone 01:02:00:00:00:00:0a\n"
                          "1700000000 02:00:00:00:00:0b 192.168.8.24 * *\n")
    assert [lease.client_id for lease in leases] == ["01:02:00:00:00:00:0a", None]
