"""`config bundle` sections: the contract's example reads, ids are made up when absent, every wrong value is
located by option."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from routerguard.config.model import ConfigError, load_config

MAIN = """config routerguard 'main'
\toption lan_if 'br-lan'
\tlist wan_if 'wwan0'
\toption listen '192.168.8.1:8080'
\toption data_dir '/tmp/rg'
"""

CONTRACT = """
config bundle
\toption id 'addon1'
\toption name 'Jazz add-on 5 GB'
\toption quota '5GB'
\toption start '2026-11-20T09:00'
\toption days '7'
\toption price '700'
\toption currency 'PKR'

config bundle
\toption daily '1GB'
\toption days '30'

config bundle
\toption daily '1GB'
\toption days '30'
"""


def load(tmp_path, text: str):
    path = tmp_path / "routerguard"
    path.write_text(MAIN + text)
    return load_config(str(path))


def test_the_contracts_bundle_and_day_packs_read(tmp_path):
    config = load(tmp_path, CONTRACT)
    addon, pack, twin = config.bundles
    assert (addon.id, addon.name, addon.quota, addon.days) == ("addon1", "Jazz add-on 5 GB", 5 * 10**9, 7)
    assert addon.start == datetime(2026, 11, 20, 9, 0) and addon.price == Decimal(700) and addon.currency == "PKR"
    assert (pack.daily, pack.quota, pack.days, pack.start, pack.total) == (10**9, None, 30, None, 30 * 10**9)
    assert pack.id.startswith("b") and twin.id == f"{pack.id}-2"  # made up, and two identical ones stay two
    assert load(tmp_path, CONTRACT).bundles == config.bundles  # made up the same way every time


@pytest.mark.parametrize("options, option, words", [
    ("\toption quota '-5GB'\n\toption days '7'\n", "quota", "is not a size"),
    ("\toption quota '0'\n\toption days '7'\n", "quota", "out of range"),
    ("\toption quota '5GB'\n\toption days '0'\n", "days", "out of range"),
    ("\toption quota '5GB'\n", "days", "missing"),
    ("\toption days '3'\n", "quota", "missing"),
    ("\toption quota '5GB'\n\toption daily '1GB'\n\toption days '3'\n", "daily", "not both"),
    ("\toption quota '5GB'\n\toption days '3'\n\toption start 'soon'\n", "start", "is not a date and time"),
    ("\toption quota '5GB'\n\toption days '3'\n\toption price '-1'\n\toption currency 'EUR'\n", "price", "out of range"),
    ("\toption quota '5GB'\n\toption days '3'\n\toption price '5'\n", "currency", "needs its currency"),
    ("\toption quota '5GB'\n\toption days '3'\n\toption price '5'\n\toption currency 'euros'\n", "currency", "not a currency"),
    ("\toption id 'plan'\n\toption quota '5GB'\n\toption days '3'\n", "id", "recurring plan"),
    ("\toption quota '5GB'\n\toption days '3'\n\toption colour 'red'\n", "colour", "unknown option"),
    ("\toption quota '5GB'\n\toption days '3'\n\toption name 'a\u202eb'\n", "name", "control characters"),
])
def test_a_wrong_bundle_names_the_option(tmp_path, options, option, words):
    with pytest.raises(ConfigError) as e:
        load(tmp_path, "\nconfig bundle\n" + options)
    assert any(p.option == option and words in p.message for p in e.value.problems), e.value


def test_two_bundles_with_one_id_are_a_problem(tmp_path):
    twice = "\nconfig bundle\n\toption id 'a'\n\toption quota '1GB'\n\toption days '1'\n"
    with pytest.raises(ConfigError, match="defined twice"):
        load(tmp_path, twice * 2)
