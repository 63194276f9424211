"""The plan as eSIM bundles over a real Core (config file + SQLite), no kernel: the plan's limit, the views,
adding and removing, the marks kept across a restart, the bill's split."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from routerguard.account.clock import Clock
from routerguard.core import Core
from routerguard.service import Invalid, NotFound, Service

A, B, EXEMPT = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0e"
MB = 1_000_000

CONFIG = """config routerguard 'main'
\toption lan_if 'br-lan'
\tlist wan_if 'wwan0'
\toption listen '127.0.0.1:8080'
\toption data_dir '{data}'
\toption timezone 'UTC'

config bundle
\toption id 'day'
\toption name 'Day pass'
\toption quota '3MB'
\toption days '1'
\toption start '2026-05-01T00:00'
\toption price '1.00'
\toption currency 'EUR'

config bundle
\toption id 'month'
\toption name 'Month 6 MB'
\toption quota '6MB'
\toption days '30'
\toption start '2026-05-01T00:00'
\toption price '10'
\toption currency 'EUR'

config device
\toption mac '{exempt}'
\toption exempt '1'
"""


def utc(*fields: int) -> float:
    return datetime(*fields, tzinfo=timezone.utc).timestamp()


class FakeTime:
    def __init__(self, now: float) -> None:
        self.now = now

    def wall(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


def make(tmp_path, when: FakeTime, text: str = CONFIG) -> Service:
    path = tmp_path / "routerguard"
    if not path.exists():
        path.write_text(text.format(data=tmp_path / "data", exempt=EXEMPT))
    core = Core(str(path))
    core.clock = Clock(wall=when.wall, monotonic=when.monotonic)
    return Service(core)


@pytest.fixture
def when() -> FakeTime:
    return FakeTime(utc(2026, 5, 1, 10, 0))


@pytest.fixture
def service(tmp_path, when) -> Service:
    return make(tmp_path, when)


def charge(service: Service, mac: str, nbytes: int) -> None:
    service.core.ledger.add(mac, 0, nbytes, service.core.now())


def by_id(plan: dict) -> dict[str, dict]:
    return {b["id"]: b for b in plan["bundles"]}


def test_the_day_pass_drains_first_and_the_plan_is_the_sum(service):
    charge(service, A, 2 * MB)
    plan = service.plan()
    bundles = by_id(plan)
    assert bundles["day"]["used_bytes"] == 2 * MB and bundles["month"]["used_bytes"] == 0
    assert plan["quota_bytes"] == 9 * MB and plan["used_bytes"] == 2 * MB and plan["remaining_bytes"] == 7 * MB
    assert [b["id"] for b in plan["bundles"]] == ["day", "month"]  # oldest first, then the file's order
    limit = service.snapshot().plan()
    assert limit.remaining == 7 * MB


def test_everyone_but_exempt_devices_is_cut_at_the_sum(service):
    charge(service, A, 5 * MB)
    charge(service, B, 4 * MB)
    assert service.device(A)["state"] == "blocked" and service.device(B)["state"] == "blocked"
    assert service.device(EXEMPT)["state"] == "exempt"
    plan = service.plan()
    assert by_id(plan)["day"]["state"] == "exhausted" and by_id(plan)["month"]["state"] == "exhausted"


def test_an_add_on_lets_them_back_on_at_once(service):
    charge(service, A, 9 * MB)
    assert service.device(A)["state"] == "blocked"
    added = service.add_bundle({"quota_bytes": 2 * MB, "days": 7, "name": "Add-on"})
    assert added["state"] == "active" and added["left_bytes"] == 2 * MB and added["name"] == "Add-on"
    assert service.device(A)["state"] != "blocked"
    assert service.snapshot().plan().remaining == 2 * MB


def test_what_is_left_at_expiry_is_gone(service, when):
    charge(service, A, 1 * MB)
    when.now = utc(2026, 5, 2, 0, 0, 5)  # the day pass ended at midnight, 2 MB unused
    service.snapshot().plan()  # the first reading after the boundary marks it
    charge(service, A, 1 * MB)
    plan = service.plan()
    assert by_id(plan)["day"]["state"] == "expired" and by_id(plan)["day"]["left_bytes"] == 0
    assert by_id(plan)["month"]["used_bytes"] == 1 * MB
    assert service.snapshot().plan().remaining == 5 * MB


def test_a_boundary_inside_an_hour_is_exact_and_survives_a_restart(tmp_path, when):
    text = CONFIG.replace("option start '2026-05-01T00:00'\n\toption price '1.00'",
                          "option start '2026-05-01T09:00'\n\toption price '1.00'").replace("option days '1'", "option days '1'")
    service = make(tmp_path, when, text)
    # the day pass ends at 2026-05-02T09:00; put 1 MB before its end and 1 MB after, in the same hour
    when.now = utc(2026, 5, 2, 8, 30)
    charge(service, A, 1 * MB)
    service.snapshot().plan()
    when.now = utc(2026, 5, 2, 9, 0, 2)
    service.snapshot().plan()  # the first reading after 09:00 notes how much of the hour came before
    charge(service, A, 1 * MB)
    before = by_id(service.plan())
    assert before["day"]["total_used_bytes"] == 1 * MB and before["month"]["used_bytes"] == 1 * MB
    service.core.ledger.commit()
    restarted = make(tmp_path, when)
    after = by_id(restarted.plan())
    assert after["day"]["total_used_bytes"] == 1 * MB and after["month"]["used_bytes"] == 1 * MB


def test_a_day_pack_lapses_at_midnight(tmp_path, when):
    text = CONFIG.split("config bundle")[0] + """config bundle
\toption id 'daily'
\toption daily '1MB'
\toption days '3'
\toption start '2026-05-01T09:00'
"""
    service = make(tmp_path, when, text)
    charge(service, A, MB // 2)
    pack = by_id(service.plan())["daily"]
    assert (pack["quota_bytes"], pack["used_bytes"], pack["left_bytes"]) == (MB, MB // 2, MB // 2)
    assert pack["lapses_at"] == "2026-05-02T00:00:00Z" and pack["end"] == "2026-05-04T00:00:00Z"
    when.now = utc(2026, 5, 2, 1)
    pack = by_id(service.plan())["daily"]
    assert (pack["used_bytes"], pack["left_bytes"], pack["total_used_bytes"]) == (0, MB, MB // 2)


def test_bad_bundles_are_refused_naming_the_field_and_nothing_changes(service):
    before = service.core.config_file.path and open(service.core.config_file.path).read()
    for body, field in [({"quota_bytes": -5, "days": 7}, "quota_bytes"), ({"quota_bytes": 5, "days": 0}, "days"),
                        ({"days": 7}, "quota_bytes"), ({"quota_bytes": 5, "daily_bytes": 5, "days": 1}, "daily_bytes"),
                        ({"quota_bytes": 5, "days": 1, "start": "tomorrow"}, "start"),
                        ({"quota_bytes": 5, "days": 1, "price": 3}, "currency"),
                        ({"quota_bytes": 5, "days": 1, "id": "day"}, "id"), ({"size": 5}, "size")]:
        with pytest.raises(Invalid) as e:
            service.add_bundle(body)
        assert field in str(e.value)
    with pytest.raises(NotFound):
        service.remove_bundle("nope")
    assert open(service.core.config_file.path).read() == before


def test_remove_a_bundle(service):
    service.remove_bundle("day")
    assert [b["id"] for b in service.plan()["bundles"]] == ["month"]


def test_the_bill_split_follows_each_devices_bytes_and_adds_up_to_the_cent(service):
    charge(service, A, 2 * MB)
    charge(service, B, 1 * MB)  # the day pass (1.00 EUR for 3 MB) used up: 1.00
    charge(service, A, 1 * MB)
    charge(service, "router", 2 * MB)  # 3 MB of the month (10 EUR for 6 MB): 5.00
    costs = service.costs()
    total = sum(Decimal(str(r["amount"])) for r in costs)
    assert total == Decimal("6.00")
    rows = {r["mac"]: r for r in costs}
    assert set(rows) == {A, B, None} and all(r["currency"] == "EUR" for r in costs)
    assert sum(r["bytes"] for r in costs) == 6 * MB
    assert rows[A]["amount"] >= rows[None]["amount"] >= rows[B]["amount"]
    assert costs[0]["mac"] == A
    csv = service.costs_csv()
    assert csv.splitlines()[0] == "mac,group,bytes,amount,currency" and len(csv.splitlines()) == 4


def test_a_costs_window_that_ends_before_it_starts_is_refused(service):
    with pytest.raises(Invalid, match="to"):
        service.costs("2026-05-02T00:00:00Z", "2026-05-01T00:00:00Z")


def test_config_plan_is_one_recurring_bundle(tmp_path, when):
    text = CONFIG.replace("option start '2026-05-01T00:00'\n\toption price '1.00'",
                          "option start '2026-05-01T09:00'\n\toption price '1.00'") + """
config plan 'plan'
\toption quota '1MB'
\toption period 'daily'
"""
    service = make(tmp_path, when, text)
    charge(service, A, 2 * MB)
    bundles = by_id(service.plan())
    assert bundles["plan"]["recurring"] and bundles["plan"]["end"] == "2026-05-02T00:00:00Z"
    assert bundles["plan"]["used_bytes"] == 1 * MB and bundles["day"]["used_bytes"] == 1 * MB  # today's plan expires first
