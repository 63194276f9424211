from routerguard.decide.policy import BLOCKED, EXEMPT, OK, THROTTLED, WARNED, Limit, crossed_thresholds, decide


def limit(used, allowance=100, action="block", throttle=None, scope="device"):
    return Limit(scope, allowance, used, action, throttle)


def test_under_the_warning_line_is_ok():
    assert decide([limit(10)]).state == OK
    assert decide([]).state == OK


def test_warned_at_the_threshold():
    decision = decide([limit(80), limit(10, scope="plan")], warn_percent=80)
    assert decision.state == WARNED and decision.binding.scope == "device"


def test_block_beats_throttle():
    decision = decide([limit(200, action="throttle", throttle=256), limit(100, scope="plan")])
    assert decision.state == BLOCKED and decision.binding.scope == "plan"


def test_throttle_takes_the_slowest_rate():
    decision = decide([limit(100, action="throttle", throttle=512), limit(100, action="throttle", throttle=128, scope="group")])
    assert (decision.state, decision.throttle_kbit) == (THROTTLED, 128)


def test_notify_only_warns():
    assert decide([limit(150, action="notify")]).state == WARNED


def test_exempt_is_never_cut_and_manual_block_cuts_anyone_else():
    assert decide([limit(1000)], exempt=True).state == EXEMPT
    assert decide([], blocked=True).state == BLOCKED


def test_thresholds_crossed():
    assert crossed_thresholds(limit(96), (80, 95)) == [80, 95]
    assert crossed_thresholds(limit(100), (80, 95)) == [80, 95, 100]
    assert crossed_thresholds(limit(0, allowance=0), (80,)) == [80, 100]
