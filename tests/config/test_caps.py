"""One set of rules for a cap: the UCI reader and the API's JSON accept and refuse the same caps.

Each case is one cap written both ways; both must come out as the same Cap,
or both be refused naming the same field (as `option NAME` with file:line, or
as `cap.NAME`).
"""

from datetime import datetime

import pytest

from routerguard.config.caps import MAX_BYTES, MAX_THROTTLE_KBIT, Cap, Period
from routerguard.config.model import ConfigError, load_config
from routerguard.service import Invalid, parse_cap

MAIN = """config routerguard 'main'
\tlist wan_if 'wwan0'
\toption listen '127.0.0.1:8080'
\toption data_dir '/tmp/routerguard-test-caps'

config device
\toption mac '02:00:00:00:00:01'
"""
UCI_NAMES = {"bytes": "cap", "throttle_kbit": "throttle"}

# (JSON, the same cap as UCI options, the Cap both read, or the field both refuse)
CASES = [
    ({"bytes": 10**9}, {"cap": "1GB"}, Cap(10**9, Period())),
    ({"bytes": 0}, {"cap": "0"}, Cap(0, Period())),
    ({"bytes": MAX_BYTES}, {"cap": "1000TB"}, Cap(MAX_BYTES, Period())),
    ({"bytes": MAX_BYTES + 1}, {"cap": str(MAX_BYTES + 1)}, "bytes"),
    ({"bytes": -1}, {"cap": "-1"}, "bytes"),
    ({"bytes": 10**9, "period": "weekly", "reset_day": 7, "reset_hour": 23},
     {"cap": "1GB", "period": "weekly", "reset_day": "7", "reset_hour": "23"}, Cap(10**9, Period("weekly", 7, 23))),
    ({"bytes": 10**9, "period": "weekly", "reset_day": 8}, {"cap": "1GB", "period": "weekly", "reset_day": "8"}, "reset_day"),
    ({"bytes": 10**9, "period": "monthly", "reset_day": 31}, {"cap": "1GB", "period": "monthly", "reset_day": "31"},
     Cap(10**9, Period("monthly", 31))),
    ({"bytes": 10**9, "period": "monthly", "reset_day": 0}, {"cap": "1GB", "period": "monthly", "reset_day": "0"}, "reset_day"),
    ({"bytes": 10**9, "reset_hour": 24}, {"cap": "1GB", "reset_hour": "24"}, "reset_hour"),
    ({"bytes": 10**9, "period": "hourly"}, {"cap": "1GB", "period": "hourly"}, "period"),
    ({"bytes": 10**9, "action": "warn"}, {"cap": "1GB", "action": "warn"}, "action"),
    ({"bytes": 10**9, "action": "throttle"}, {"cap": "1GB", "action": "throttle"}, "action"),
    ({"bytes": 10**9, "action": "throttle", "throttle_kbit": 256}, {"cap": "1GB", "action": "throttle", "throttle": "256kbit"},
     Cap(10**9, Period(), "throttle", 256)),
    ({"bytes": 10**9, "action": "throttle", "throttle_kbit": MAX_THROTTLE_KBIT},
     {"cap": "1GB", "action": "throttle", "throttle": "10gbit"}, Cap(10**9, Period(), "throttle", MAX_THROTTLE_KBIT)),
    ({"bytes": 10**9, "action": "throttle", "throttle_kbit": MAX_THROTTLE_KBIT + 1},
     {"cap": "1GB", "action": "throttle", "throttle": f"{MAX_THROTTLE_KBIT + 1}kbit"}, "throttle_kbit"),
    ({"bytes": 10**9, "period": "days", "start": "2026-11-20T09:00", "days": 30},
     {"cap": "1GB", "period": "days", "start": "2026-11-20T09:00", "days": "30"}, Cap(10**9, Period("days", 1, 0, datetime(2026, 11, 20, 9), 30))),
    ({"bytes": 10**9, "period": "days", "days": 30}, {"cap": "1GB", "period": "days", "days": "30"}, "start"),
    ({"bytes": 10**9, "period": "days", "start": "2026-11-20T09:00"}, {"cap": "1GB", "period": "days", "start": "2026-11-20T09:00"}, "days"),
    ({"bytes": 10**9, "period": "days", "start": "2026-11-20T09:00", "days": 3661},
     {"cap": "1GB", "period": "days", "start": "2026-11-20T09:00", "days": "3661"}, "days"),
    ({"bytes": 10**9, "start": "soon"}, {"cap": "1GB", "start": "soon"}, "start"),  # checked whenever given
    ({"bytes": 10**9, "period": "daily", "start": "2026-11-20T09:00", "days": 30},  # used by a days period only
     {"cap": "1GB", "period": "daily", "start": "2026-11-20T09:00", "days": "30"}, Cap(10**9, Period("daily"))),
]


def uci_cap(tmp_path, options: dict[str, str]) -> Cap:
    path = tmp_path / "routerguard"
    path.write_text(MAIN + "".join(f"\toption {name} '{value}'\n" for name, value in options.items()))
    return load_config(str(path)).devices["02:00:00:00:00:01"].cap


@pytest.mark.parametrize("json_cap, uci_options, expected", CASES)
def test_the_uci_file_and_the_api_take_the_same_caps(tmp_path, json_cap, uci_options, expected):
    if isinstance(expected, Cap):
        assert parse_cap(json_cap) == expected
        assert uci_cap(tmp_path, uci_options) == expected
        return
    with pytest.raises(Invalid, match=rf"^cap\.{expected}: "):
        parse_cap(json_cap)
    with pytest.raises(ConfigError) as info:
        uci_cap(tmp_path, uci_options)
    assert [(p.section, p.option) for p in info.value.problems] == [("@device[0]", UCI_NAMES.get(expected, expected))]


def test_the_two_readers_say_what_would_be_valid_in_the_same_words(tmp_path):
    with pytest.raises(Invalid) as api:
        parse_cap({"bytes": 10**9, "period": "weekly", "reset_day": 9})
    with pytest.raises(ConfigError) as uci:
        uci_cap(tmp_path, {"cap": "1GB", "period": "weekly", "reset_day": "9"})
    assert str(api.value) == "cap.reset_day: 9 is out of range; expected 1..7"
    assert str(uci.value).endswith("section '@device[0]', option 'reset_day': 9 is out of range; expected 1..7")


def test_json_numbers_are_numbers_and_text_may_carry_units(tmp_path):
    for wrong in ("1GB", "1000", True, 1.5, None):
        with pytest.raises(Invalid, match=r"^cap\.bytes: .* expected 0\.\.1000000000000000 bytes"):
            parse_cap({"bytes": wrong})
    assert parse_cap({"bytes": 10, "action": "block", "throttle_kbit": None}) == Cap(10, Period())  # null: no throttle
    assert uci_cap(tmp_path, {"cap": "1.5GB"}) == Cap(15 * 10**8, Period())
