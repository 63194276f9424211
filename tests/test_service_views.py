"""The views made once per reading (service/views.py): served as published, a change republished at once."""

from routerguard.service import Service

from test_service import A, C, service  # noqa: F401  (the fixture)


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
