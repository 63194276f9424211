"""Top-ups of a group and of the plan, and the plan's calibration: the service over a real Core (config file +
SQLite), and the kernel quota each one asks for (enforce/desired.py), no kernel."""

import pytest

from routerguard.account.clock import Clock
from routerguard.attribute.marks import Marks
from routerguard.config.caps import MAX_BYTES
from routerguard.core import Core
from routerguard.enforce.desired import build
from routerguard.service import Invalid, NotFound, Service

A, B, C = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c"
MB = 10**6
DAY = 86400
NOON = 1_800_000_000 - 1_800_000_000 % DAY + DAY / 2  # 2027-01-15 12:00 UTC

CONFIG = """config routerguard 'main'
\toption lan_if 'br-lan'
\tlist wan_if 'wwan0'
\toption listen '127.0.0.1:8080'
\toption data_dir '{data}'
\toption timezone 'UTC'

config plan 'plan'
\toption quota '100MB'
\toption period 'monthly'
\toption action 'block'

config group
\toption id 'pair'
\toption name 'Pair'
\toption cap '10MB'
\toption period 'daily'
\toption action 'block'

config group
\toption id 'loose'
\toption name 'No cap'

config device
\toption mac '{a}'
\toption group 'pair'

config device
\toption mac '{b}'
\toption group 'pair'

config device
\toption mac '{c}'
\toption group 'loose'
"""
NO_PLAN = CONFIG.replace("config plan 'plan'\n\toption quota '100MB'\n\toption period 'monthly'\n\toption action 'block'\n", "")


class Wall:
    """A settable wall clock: periods roll over when a test says so."""

    def __init__(self) -> None:
        self.now = NOON

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def wall():
    return Wall()


def make(tmp_path, wall, text=CONFIG) -> Service:
    path = tmp_path / "routerguard"
    if not path.exists():
        path.write_text(text.format(data=tmp_path / "data", a=A, b=B, c=C))
    core = Core(str(path))
    core.clock = Clock(wall=wall, monotonic=wall)
    return Service(core)


@pytest.fixture
def service(tmp_path, wall):
    return make(tmp_path, wall)


@pytest.fixture
def no_plan(tmp_path, wall):
    return make(tmp_path, wall, NO_PLAN)


def charge(service, mac, nbytes):
    service.core.ledger.add(mac, 0, nbytes, service.core.now())


def plan_quota(service):
    rules = build(service.core, Marks(service.core.db), None)
    return next(q for q in rules.quotas if q.name == rules.plan)


def unchanged(service):
    """What a refused request must leave as it was: the plan, the groups, the adjustments' rows."""
    return (service.plan(), service.groups(), service.core.db.query("SELECT * FROM adjustment"),
            service.core.db.query("SELECT * FROM calibration"))


# --- top-ups -------------------------------------------------------------------------------------


def test_a_group_topup_lifts_the_groups_cut(service):
    charge(service, A, 6 * MB)
    charge(service, B, 4 * MB)
    assert service.device(A)["state"] == "blocked" and service.group("pair")["state"] == "blocked"
    group = service.topup_group("pair", {"bytes": 5 * MB})
    assert group["allowance_bytes"] == 15 * MB and group["state"] == "ok"
    assert service.device(A)["state"] == "ok" and service.device(B)["state"] == "ok"
    assert group["cap"]["bytes"] == 10 * MB  # the cap itself stays


def test_a_group_topup_lasts_its_period_only(service, wall):
    service.topup_group("pair", {"bytes": 5 * MB})
    wall.now += DAY
    assert service.group("pair")["allowance_bytes"] == 10 * MB


def test_a_plan_topup_lifts_the_plans_cut(service):
    charge(service, C, 100 * MB)
    assert service.device(C)["state"] == "blocked"
    plan = service.topup_plan({"bytes": 20 * MB})
    assert plan["allowance_bytes"] == 120 * MB and plan["remaining_bytes"] == 20 * MB and plan["quota_bytes"] == 100 * MB
    assert service.device(C)["state"] not in ("blocked", "throttled")


def test_a_topup_keeps_the_plans_kernel_quota_and_raises_its_limit(service):
    charge(service, C, 30 * MB)
    before = plan_quota(service)
    service.topup_plan({"bytes": 20 * MB})
    after = plan_quota(service)
    assert after.name == before.name and after.allowance == 120 * MB


def test_topups_are_durable(service, tmp_path, wall):
    service.topup_plan({"bytes": 20 * MB})
    service.topup_group("pair", {"bytes": 1 * MB})
    service.core.db.close()
    again = make(tmp_path, wall)
    assert again.plan()["allowance_bytes"] == 120 * MB and again.group("pair")["allowance_bytes"] == 11 * MB


@pytest.mark.parametrize("body", [{"bytes": 0}, {"bytes": -1}, {"bytes": "5GB"}, {"bytes": 1.5}, {"bytes": True}, {},
                                  {"bytes": MAX_BYTES + 1}, None, [5]])
def test_bad_topups_are_invalid_and_change_nothing(service, body):
    before = unchanged(service)
    for command in (lambda: service.topup_group("pair", body), lambda: service.topup_plan(body)):
        with pytest.raises(Invalid, match="bytes"):
            command()
    assert unchanged(service) == before


def test_a_group_topup_needs_a_known_group_with_a_cap(service):
    before = unchanged(service)
    with pytest.raises(NotFound, match="ghost"):
        service.topup_group("ghost", {"bytes": MB})
    with pytest.raises(Invalid, match="no cap"):
        service.topup_group("loose", {"bytes": MB})
    assert unchanged(service) == before


def test_a_plan_topup_needs_a_plan(no_plan):
    with pytest.raises(Invalid, match="no plan"):
        no_plan.topup_plan({"bytes": MB})
    assert no_plan.core.db.query("SELECT * FROM adjustment") == []


# --- calibration ---------------------------------------------------------------------------------


def test_calibrating_what_is_used_sets_the_count_and_keeps_the_difference(service):
    charge(service, A, 3 * MB)
    charge(service, "router", 1 * MB)
    plan = service.calibrate({"used_bytes": 5 * MB})
    assert plan["used_bytes"] == 5 * MB and plan["counted_bytes"] == 4 * MB and plan["calibration_bytes"] == MB
    assert plan["remaining_bytes"] == 95 * MB and plan["calibrated_at"].endswith("Z")
    charge(service, C, 2 * MB)  # from then on the count follows what is metered
    plan = service.plan()
    assert plan["used_bytes"] == 7 * MB and plan["counted_bytes"] == 6 * MB and plan["calibration_bytes"] == MB


def test_calibrating_what_is_left_reads_it_against_quota_and_topups(service):
    charge(service, A, 30 * MB)
    service.topup_plan({"bytes": 20 * MB})
    plan = service.calibrate({"left_bytes": 80 * MB})
    assert plan["remaining_bytes"] == 80 * MB and plan["used_bytes"] == 40 * MB and plan["calibration_bytes"] == 10 * MB


def test_a_carrier_that_counted_less_gives_a_negative_difference(service):
    charge(service, A, 30 * MB)
    plan = service.calibrate({"used_bytes": 25 * MB})
    assert plan["used_bytes"] == 25 * MB and plan["calibration_bytes"] == -5 * MB and plan["counted_bytes"] == 30 * MB


def test_the_latest_calibration_replaces_the_earlier(service):
    charge(service, A, 30 * MB)
    service.calibrate({"used_bytes": 40 * MB})
    charge(service, A, 10 * MB)
    plan = service.calibrate({"used_bytes": 45 * MB})
    assert plan["used_bytes"] == 45 * MB and plan["calibration_bytes"] == 5 * MB


def test_calibrating_over_the_allowance_cuts_the_plan_and_back_under_lets_it_on(service):
    charge(service, C, 60 * MB)
    assert service.device(C)["state"] == "ok"
    service.calibrate({"used_bytes": 100 * MB})
    assert service.device(C)["state"] == "blocked" and service.device(A)["state"] == "blocked"
    quota = plan_quota(service)
    assert quota.used == 100 * MB and quota.allowance == 100 * MB
    service.calibrate({"left_bytes": 50 * MB})
    assert service.device(C)["state"] == "ok"
    assert plan_quota(service).used == 50 * MB


def test_a_calibration_makes_a_new_kernel_quota_starting_from_the_calibrated_count(service):
    charge(service, C, 60 * MB)
    first = plan_quota(service)
    assert first.used == 60 * MB
    service.calibrate({"used_bytes": 70 * MB})
    calibrated = plan_quota(service)
    assert calibrated.name != first.name and calibrated.used == 70 * MB
    service.topup_plan({"bytes": MB})  # a top-up after it keeps that object
    assert plan_quota(service).name == calibrated.name
    service.calibrate({"used_bytes": 60 * MB})  # back to no difference: the name it had before any calibration
    assert plan_quota(service).name == first.name


def test_the_kernel_quota_of_a_group_or_device_is_untouched_by_the_plans_calibration(service):
    charge(service, A, 2 * MB)
    before = {q.name for q in build(service.core, Marks(service.core.db), None).quotas}
    service.calibrate({"used_bytes": 50 * MB})
    after = {q.name for q in build(service.core, Marks(service.core.db), None).quotas}
    assert len(before - after) == 1 and len(after - before) == 1  # only the plan's object is made anew


def test_a_calibration_is_durable_and_a_new_period_starts_fresh(service, tmp_path, wall):
    charge(service, A, 30 * MB)
    service.calibrate({"used_bytes": 40 * MB})
    assert service.core.ledger.commit()
    service.core.db.close()
    again = make(tmp_path, wall)
    plan = again.plan()
    assert plan["used_bytes"] == 40 * MB and plan["calibration_bytes"] == 10 * MB
    wall.now += 31 * DAY  # into the next month
    plan = again.plan()
    assert plan["used_bytes"] == 0 and plan["calibration_bytes"] == 0 and plan["calibrated_at"] is None


def test_without_a_calibration_nothing_changes(service):
    charge(service, A, 3 * MB)
    plan = service.plan()
    assert plan["used_bytes"] == plan["counted_bytes"] == 3 * MB
    assert plan["calibration_bytes"] == 0 and plan["calibrated_at"] is None


def test_without_a_plan_used_can_be_calibrated_but_left_cannot(no_plan):
    charge(no_plan, A, 3 * MB)
    plan = no_plan.calibrate({"used_bytes": 4 * MB})
    assert plan["used_bytes"] == 4 * MB and plan["calibration_bytes"] == MB
    with pytest.raises(Invalid, match="left_bytes needs a plan"):
        no_plan.calibrate({"left_bytes": MB})


@pytest.mark.parametrize("body, field", [
    ({}, "exactly one"), ({"used_bytes": 1, "left_bytes": 1}, "exactly one"), ({"used": 1}, "unknown"),
    ({"used_bytes": -1}, "used_bytes"), ({"used_bytes": 1.5}, "used_bytes"), ({"used_bytes": "7GB"}, "used_bytes"),
    ({"used_bytes": None}, "used_bytes"), ({"left_bytes": True}, "left_bytes"), ({"used_bytes": MAX_BYTES + 1}, "used_bytes"),
    ({"left_bytes": 101 * MB}, "left_bytes"), (None, "JSON object"), ([1], "JSON object"),
])
def test_bad_calibrations_are_invalid_naming_the_field_and_change_nothing(service, body, field):
    charge(service, A, 3 * MB)
    before = unchanged(service)
    with pytest.raises(Invalid, match=field):
        service.calibrate(body)
    assert unchanged(service) == before


def test_the_largest_and_smallest_figures_are_taken(service):
    assert service.calibrate({"used_bytes": MAX_BYTES})["used_bytes"] == MAX_BYTES
    assert service.calibrate({"used_bytes": 0})["used_bytes"] == 0
    assert service.calibrate({"left_bytes": 100 * MB})["used_bytes"] == 0
