"""The plan's count set to the carrier's figure: the arithmetic alone (decide/calibration.py)."""

import pytest

from routerguard.decide.calibration import LEFT, USED, count, offset_for

GB = 10**9


def test_a_carrier_that_counted_more_gives_a_positive_offset_the_count_follows():
    offset = offset_for(6_900_000_000, USED, 7_200_000_000)
    assert offset == 300_000_000
    assert count(6_900_000_000, offset) == 7_200_000_000
    assert count(7_400_000_000, offset) == 7_700_000_000  # 500 MB more metered: the carrier's figure plus 500 MB


def test_a_carrier_that_counted_less_gives_a_negative_offset():
    offset = offset_for(5 * GB, USED, 4 * GB)
    assert offset == -GB and count(5 * GB, offset) == 4 * GB and count(6 * GB, offset) == 5 * GB


def test_what_is_left_is_read_against_the_allowance():
    offset = offset_for(6 * GB, LEFT, 2_800_000_000, allowance=10 * GB)  # so 7.2 GB used
    assert count(6 * GB, offset) == 7_200_000_000
    assert 10 * GB - count(6 * GB, offset) == 2_800_000_000


def test_top_ups_count_in_the_allowance_left_is_read_against():
    offset = offset_for(6 * GB, LEFT, 3 * GB, allowance=10 * GB + GB)
    assert count(6 * GB, offset) == 8 * GB


def test_the_count_never_goes_below_zero():
    offset = offset_for(5 * GB, USED, 0)
    assert count(5 * GB, offset) == 0 and count(0, offset) == 0
    assert count(6 * GB, offset) == GB


def test_nothing_left_means_all_used_and_all_left_means_none_used():
    assert count(3 * GB, offset_for(3 * GB, LEFT, 0, allowance=10 * GB)) == 10 * GB
    assert count(3 * GB, offset_for(3 * GB, LEFT, 10 * GB, allowance=10 * GB)) == 0


def test_calibrating_to_what_was_counted_is_no_offset():
    assert offset_for(123, USED, 123) == 0 and count(123, 0) == 123


def test_left_without_an_allowance_and_an_unknown_kind_are_errors():
    with pytest.raises(ValueError, match="allowance"):
        offset_for(1, LEFT, 1)
    with pytest.raises(ValueError, match="said"):
        offset_for(1, "spent", 1)
