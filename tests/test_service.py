"""The service's views and commands over a real Core (config file + SQLite), no kernel."""

from datetime import datetime

import pytest

from routerguard.core import Core
from routerguard.read.leases import Lease
from routerguard.read.neighbours import Neighbour
from routerguard.service import Invalid, NotFound, Service

A, B, C = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c"

CONFIG = """config routerguard 'main'
\toption lan_if 'br-lan'
\tlist wan_if 'wwan0'
\toption listen '127.0.0.1:8080'
\toption data_dir '{data}'
\toption timezone 'UTC'

config plan 'plan'
\toption quota '1GB'
\toption period 'monthly'

config defaults 'new_device'
\toption cap '100MB'
\toption period 'daily'
\toption action 'throttle'
\toption throttle '256kbit'

config group
\toption id 'zhang'
\toption name 'Zhang family'
\toption cap '50MB'
\toption period 'daily'

config device
\toption mac '{a}'
\toption name 'Zhang phone'
\toption group 'zhang'

config device
\toption mac '{b}'
\toption group 'zhang'

config device
\toption mac '{c}'
\toption cap '10MB'
\toption period 'daily'
"""


@pytest.fixture
def service(tmp_path):
    path = tmp_path / "routerguard"
    path.write_text(CONFIG.format(data=tmp_path / "data", a=A, b=B, c=C))
    core = Core(str(path))
    core.directory.refresh([Neighbour("192.168.8.23", A, 1)], [Lease(A, "192.168.8.23", "zhang-phone", 0)], 1, core.now())
    return Service(core)


def charge(service, mac, up, down):
    service.core.ledger.add(mac, up, down, service.core.now())


def test_device_view_has_the_contract_fields(service):
    charge(service, A, 1000, 2000)
    device = service.device(A)
    assert {"mac", "name", "hostname", "ips", "group", "online", "usage", "lifetime_bytes", "rate", "cap",
            "allowance_bytes", "state"} <= set(device)
    assert device["name"] == "Zhang phone" and device["hostname"] == "zhang-phone"
    assert device["ips"] == ["192.168.8.23"] and device["online"] is True
    assert device["usage"] == {"up_bytes": 1000, "down_bytes": 2000, "total_bytes": 3000}
    assert device["group"] == "zhang" and device["cap"] is None and device["state"] == "ok"


def test_a_group_shares_one_cap(service):
    charge(service, A, 0, 30_000_000)
    charge(service, B, 0, 20_000_000)
    assert service.device(A)["state"] == "blocked" and service.device(B)["state"] == "blocked"
    group = service.group("zhang")
    assert group["members"] == [A, B] and group["usage"]["total_bytes"] == 50_000_000


def test_a_device_never_seen_before_falls_under_the_default_cap(service):
    stranger = "0a:11:22:33:44:55"
    charge(service, stranger, 0, 100_000_000)
    device = service.device(stranger)
    assert device["cap"] is None and device["allowance_bytes"] == 100_000_000
    assert device["state"] == "throttled"


def test_the_plan_cuts_everyone_but_exempt_devices(service):
    charge(service, "router", 0, 10**9)
    assert service.plan()["used_bytes"] == 10**9
    assert service.device(C)["state"] == "blocked"
    service.patch_device(C, {"exempt": True})
    assert service.device(C)["state"] == "exempt"


def test_topup_lifts_a_block_and_reset_zeroes_the_period(service):
    charge(service, C, 0, 10_000_000)
    assert service.device(C)["state"] == "blocked"
    device = service.topup(C, {"bytes": 10_000_000})
    assert device["allowance_bytes"] == 20_000_000 and device["state"] == "ok"
    device = service.reset(C)
    assert device["usage"]["total_bytes"] == 0 and device["lifetime_bytes"] == 10_000_000


def test_patch_writes_the_config_file(service):
    device = service.patch_device(A, {"name": "Zhang mobile", "cap": {"bytes": 5 * 10**9, "period": "monthly",
                                                                     "reset_day": 15, "action": "block"}})
    assert device["name"] == "Zhang mobile" and device["cap"]["bytes"] == 5 * 10**9 and device["cap"]["reset_day"] == 15
    text = open(service.core.config_file.path).read()
    assert "option name 'Zhang mobile'" in text and "option cap '5GB'" in text


@pytest.mark.parametrize("changes", [
    {"cap": {"bytes": -1}}, {"cap": {"bytes": 10, "period": "hourly"}}, {"cap": {"bytes": 10, "action": "throttle"}},
    {"group": "ghost"}, {"exempt": "yes"}, {"name": ""}, {"colour": "red"}, {"blocked_until": "tomorrow"},
    {"name": "ok", "cap": {"bytes": 1, "period": "days"}}, [1, 2],
])
def test_bad_changes_are_invalid_and_change_nothing(service, changes):
    before = open(service.core.config_file.path).read()
    with pytest.raises(Invalid):
        service.patch_device(A, changes)
    assert open(service.core.config_file.path).read() == before
    assert service.device(A)["name"] == "Zhang phone"


def test_unknown_devices_are_not_found(service):
    with pytest.raises(NotFound):
        service.device("02:00:00:00:00:99")
    with pytest.raises(NotFound):
        service.device("not-a-mac")


def test_manual_block_until_a_time(service):
    device = service.patch_device(C, {"blocked": True, "blocked_until": "2999-01-01T00:00:00Z"})
    assert device["blocked"] is True and device["state"] == "blocked" and device["blocked_until"] == "2999-01-01T00:00:00Z"
    assert service.patch_device(C, {"blocked": False})["state"] == "ok"


def test_manual_block_for_a_while_counts_on_the_daemons_clock(service):
    now = service.core.now()
    device = service.patch_device(C, {"blocked": True, "blocked_for": 3600})
    until = datetime.fromisoformat(device["blocked_until"].replace("Z", "+00:00")).timestamp()
    assert device["state"] == "blocked" and now + 3600 - 1 <= until <= service.core.now() + 3600
    for bad in (0, -5, 1.5, "1h", True, 10**9):
        with pytest.raises(Invalid, match="blocked_for"):
            service.patch_device(C, {"blocked": True, "blocked_for": bad})
    with pytest.raises(Invalid, match="not both"):
        service.patch_device(C, {"blocked_for": 60, "blocked_until": "2999-01-01T00:00:00Z"})
    assert service.device(C)["blocked_until"] == device["blocked_until"]  # refused: nothing changed


def test_groups_are_created_and_deleted_through_the_config(service):
    group = service.put_group("trip", {"name": "Trip", "cap": {"bytes": 10**9, "period": "days", "start": "2026-11-20T09:00",
                                                              "days": 30, "action": "block"}, "members": [C]})
    assert group["members"] == [C] and group["cap"]["days"] == 30
    service.delete_group("trip")
    assert service.device(C)["group"] is None
    with pytest.raises(NotFound):
        service.group("trip")


def test_me_finds_the_device_by_its_address(service):
    assert service.device_for_address("192.168.8.23")["mac"] == A
    assert service.device_for_address("192.168.8.200") is None


def test_a_group_is_warned_from_the_same_level_as_its_members(service) -> None:
    """A group and a device at 90% of their caps read the same state (decided once, in decide/limits.py)."""
    service.core.ledger.add(A, 0, 45_000_000, service.core.now())  # 90% of the group's 50 MB
    service.core.ledger.add(C, 0, 9_000_000, service.core.now())  # 90% of its own 10 MB
    assert service.group("zhang")["state"] == "warned"
    assert service.device(C)["state"] == "warned" and service.device(A)["state"] == "warned"
    service.core.ledger.add(B, 0, 5_000_000, service.core.now())  # the group's cap used up: its action, block
    assert service.group("zhang")["state"] == "blocked"


# --- the views made once per reading (service/views.py): served as published, a change republished at once ---


def usage(views: list[dict], mac: str) -> int:
    return next(d for d in views if d["mac"] == mac)["usage"]["total_bytes"]


def test_without_a_publication_every_view_is_made_afresh(service: Service) -> None:
    before = usage(service.devices(), A)
    service.core.ledger.add(A, 1000, 2000, service.core.now())
    assert usage(service.devices(), A) == before + 3000
    assert service.plan()["used_bytes"] >= 3000


def test_published_views_are_served_until_the_next_publication(service: Service) -> None:
    service.publish_views()
    devices, plan, groups, breakdown = service.devices(), service.plan(), service.groups(), service.plan_breakdown()
    service.core.ledger.add(A, 1000, 2000, service.core.now())
    assert service.devices() is devices and service.plan() is plan
    assert service.groups() is groups and service.plan_breakdown() is breakdown
    assert usage(service.devices(), A) == usage(devices, A)
    # One device's view is always fresh.
    assert service.device(A)["usage"]["total_bytes"] == usage(devices, A) + 3000

    service.publish_views()  # the next reading
    assert usage(service.devices(), A) == usage(devices, A) + 3000
    assert service.plan()["used_bytes"] == plan["used_bytes"] + 3000


def test_a_command_is_in_the_views_before_it_returns(service: Service) -> None:
    """The daemon's core.on_change republishes: the page never shows the state before a click."""
    service.core.on_change = service.publish_views
    service.publish_views()
    service.patch_device(C, {"name": "Li tablet", "blocked": True})
    shown = next(d for d in service.devices() if d["mac"] == C)
    assert shown["name"] == "Li tablet" and shown["blocked"] and shown["state"] == "blocked"
    service.set_plan({"bytes": 5_000_000_000, "period": "monthly"})
    assert service.plan()["quota_bytes"] == 5_000_000_000


def test_stop_publishing_goes_back_to_fresh_views(service: Service) -> None:
    service.publish_views()
    service.stop_publishing()
    before = usage(service.devices(), A)
    service.core.ledger.add(A, 1, 2, service.core.now())
    assert usage(service.devices(), A) == before + 3


def test_after_a_change_the_first_request_makes_them_once_for_all(service: Service) -> None:
    """The daemon marks a reading or a change (views_changed); nothing is made until a view is asked for."""
    service.views_changed()
    assert service._published is None
    first = service.devices()
    assert service.devices() is first and service.plan() is service.publication().plan
    service.core.ledger.add(A, 1000, 2000, service.core.now())
    assert service.devices() is first
    service.views_changed()
    second = service.devices()
    assert second is not first and usage(second, A) == usage(first, A) + 3000
    assert service.devices() is second


def test_while_someone_looks_the_reading_makes_the_views(service: Service) -> None:
    """A view asked for lately: the loop makes the next ones after its reading, so no request waits for them."""
    service.views_read()
    assert service._published is None  # nobody looked yet: nothing made
    first = service.devices()
    service.core.ledger.add(A, 1000, 2000, service.core.now())
    service.views_read()
    made = service._published
    assert made is not None and made.devices is not first and usage(made.devices, A) == usage(first, A) + 3000
    assert service.devices() is made.devices
