import pytest

from routerguard import units


@pytest.mark.parametrize("text,expected", [
    ("0", 0), ("1000", 1000), ("5B", 5), ("5KB", 5000), ("20GB", 20 * 10**9), ("1TB", 10**12),
    ("1KiB", 1024), ("512MiB", 512 * 2**20), ("2GiB", 2 * 2**30), ("1TiB", 2**40),
    ("1.5GB", 1_500_000_000), (" 5 mb ", 5_000_000), ("5gib", 5 * 2**30),
])
def test_parse_size_accepts_decimal_and_binary_units(text, expected):
    assert units.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "GB", "5XB", "-5GB", "5 G B", "1e9"])
def test_parse_size_rejects_with_a_message_naming_the_input(text):
    with pytest.raises(ValueError, match="size|unit"):
        units.parse_size(text)


def test_parse_rate_kbit():
    assert units.parse_rate_kbit("256kbit") == 256
    assert units.parse_rate_kbit("2mbit") == 2000
    assert units.parse_rate_kbit("300") == 300
    with pytest.raises(ValueError):
        units.parse_rate_kbit("0kbit")
    with pytest.raises(ValueError, match="unknown unit"):
        units.parse_rate_kbit("5kbps")


def test_parse_duration():
    assert units.parse_duration("90") == 90
    assert units.parse_duration("15m") == 900
    assert units.parse_duration("1h") == 3600
    assert units.parse_duration("2d") == 172800


def test_format_size_and_rate_read_like_a_person_writes():
    assert units.format_size(999) == "999 B"
    assert units.format_size(1_500_000_000) == "1.5 GB"
    assert units.format_size(None) == "-"
    assert units.format_rate(3_200_000) == "3.2 Mbit/s"
