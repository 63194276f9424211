"""The newcomers' bytes no dump saw: charged to the flows that left the dump, never more than the counters moved."""

from routerguard.account.newcomers import Unseen


def test_a_flow_that_took_its_devices_mark_gets_what_it_moved_after_the_last_dump():
    unseen = Unseen({"f1": ("k1", 1000)})
    assert unseen.settle((100, 1000), (100, 1000)) == []  # the dump saw it all
    unseen.dumped({})  # f1 took its device's mark
    assert unseen.settle((30, 700), (0, 0)) == []  # a reading later: had it ended, its DESTROY comes first
    assert unseen.settle((0, 0), (0, 0)) == [("k1", 30, 700)]
    assert unseen.settle((0, 0), (0, 0)) == []


def test_a_flow_that_ended_is_squared_by_its_destroy_event_not_charged_twice():
    unseen = Unseen({"f1": ("k1", 1000)})
    unseen.dumped({})  # f1 ended; its DESTROY event not read yet
    assert unseen.settle((0, 500), (0, 0)) == []
    assert unseen.settle((0, 0), (0, 500)) == []  # the event charged its last 500 bytes
    assert unseen.settle((0, 0), (0, 0)) == []


def test_what_the_dump_read_after_the_counters_is_not_charged_twice():
    unseen = Unseen({"f1": ("k1", 0)})
    assert unseen.settle((0, 1000), (0, 1200)) == []  # the dump read 200 bytes more than the counters had
    unseen.dumped({})
    assert unseen.settle((0, 700), (0, 0)) == []
    assert unseen.settle((0, 0), (0, 0)) == [("k1", 0, 500)]  # of 700: 200 charged already


def test_the_balance_is_shared_by_what_each_leaving_flow_moved():
    unseen = Unseen({"a": ("ka", 300), "b": ("kb", 100), "c": ("kc", 50)})
    unseen.dumped({"c": ("kc", 60)})
    assert unseen.settle((0, 1001), (0, 10)) == []
    assert sorted(unseen.settle((0, 0), (0, 0))) == [("ka", 0, 744), ("kb", 0, 247)]


def test_bytes_counted_a_reading_late_still_go_to_the_flows_that_left():
    unseen = Unseen({"f1": ("k1", 1)})
    unseen.dumped({})
    assert unseen.settle((0, 10), (0, 0)) == []
    assert unseen.settle((0, 5), (0, 0)) == [("k1", 0, 15)]  # with its last packets, counted after the dump
    assert unseen.settle((0, 5), (0, 0)) == [("k1", 0, 5)]
    assert unseen.settle((0, 5), (0, 0)) == []  # three readings on: no longer theirs


def test_with_no_newcomer_flow_left_nothing_is_owed():
    unseen = Unseen({})
    assert unseen.settle((0, 40), (0, 0)) == []  # a newcomer's first packets, its flow not dumped yet
    unseen.dumped({"f2": ("k2", 40)})
    assert unseen.settle((0, 0), (0, 0)) == []
    unseen.dumped({})
    assert unseen.settle((0, 0), (0, 0)) == []  # the balance was forgotten while no newcomer flow lived


def test_no_weight_at_all_shares_equally():
    unseen = Unseen({"a": ("ka", 0), "b": ("kb", 0)})
    unseen.dumped({})
    assert unseen.settle((3, 0), (0, 0)) == []
    assert sorted(unseen.settle((0, 0), (0, 0))) == [("ka", 2, 0), ("kb", 1, 0)]
