"""Free uplinks first in the config: the options, their defaults, and bad input named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from routerguard.config.model import DEFAULT_PROBE_URL, ConfigError, load_config

MAIN = """config routerguard 'main'
\toption lan_if 'br-lan'
\tlist wan_if 'wwan0'
\toption listen '127.0.0.1:8080'
\toption data_dir '/tmp/unused'
"""


def load(tmp_path: Path, text: str):
    path = tmp_path / "routerguard"
    path.write_text(MAIN + text)
    return load_config(str(path))


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return str(caught.value)


def test_an_unmetered_uplink_is_probed_at_the_default_url_and_preferred(tmp_path: Path) -> None:
    config = load(tmp_path, "\nconfig uplink\n\toption ifname 'wlan-sta'\n\toption metered '0'\n")
    assert config.main.prefer_unmetered and config.uplinks[0].probe_url == DEFAULT_PROBE_URL
    assert not load(tmp_path, "").main.prefer_unmetered  # nothing to prefer


def test_the_options_of_the_contract(tmp_path: Path) -> None:
    config = load(tmp_path, "\toption prefer_unmetered '0'\n\nconfig uplink\n\toption ifname 'phy1-sta0'\n"
                            "\toption metered '0'\n\toption probe_url 'https://example.com/generate_204'\n"
                            "\toption network 'wwan'\n\nconfig group\n\toption id 'g'\n\toption metered_access '0'\n"
                            "\nconfig device\n\toption mac '02:00:00:00:00:0a'\n\toption metered_access '0'\n")
    assert not config.main.prefer_unmetered
    assert config.uplinks[0].probe_url == "https://example.com/generate_204" and config.uplinks[0].network == "wwan"
    assert config.groups["g"].metered_access is False and config.devices["02:00:00:00:00:0a"].metered_access is False


@pytest.mark.parametrize("text, where, says", [
    ("\nconfig uplink\n\toption ifname 'wlan-sta'\n\toption metered '0'\n\toption probe_url 'ftp://example.com/'\n",
     "option 'probe_url'", "is not an http:// or https:// URL"),
    ("\nconfig uplink\n\toption ifname 'wlan-sta'\n\toption metered '0'\n\toption probe_url 'connectivitycheck'\n",
     "option 'probe_url'", "is not an http:// or https:// URL"),
    ("\nconfig uplink\n\toption ifname 'wwan1'\n\toption probe_url 'http://example.com/generate_204'\n",
     "option 'probe_url'", "a metered uplink is never probed"),
    ("\nconfig uplink\n\toption ifname 'wlan sta/0'\n\toption metered '0'\n", "option 'ifname'", "is not an interface name"),
    ("\nconfig uplink\n\toption ifname 'a-very-long-interface-name'\n\toption metered '0'\n", "option 'ifname'",
     "is not an interface name"),
    ("\nconfig uplink\n\toption ifname 'br-lan'\n\toption metered '0'\n", "option 'ifname'", "is the LAN interface"),
    ("\nconfig uplink\n\toption ifname 'eth1'\n\toption metered '0'\n\nconfig uplink\n\toption ifname 'eth1'\n",
     "option 'ifname'", "described twice"),
    ("\toption prefer_unmetered '1'\n", "option 'prefer_unmetered'", "no unmetered uplink to prefer"),
    ("\toption prefer_unmetered 'maybe'\n", "option 'prefer_unmetered'", "is not a boolean"),
    ("\nconfig device\n\toption mac '02:00:00:00:00:0a'\n\toption metered_access 'never'\n",
     "option 'metered_access'", "is not a boolean"),
    ("\nconfig uplink\n\toption ifname 'eth1'\n\toption metered '0'\n\toption network 'w w'\n", "option 'network'",
     "is not a network interface name"),
])
def test_bad_input_is_named(tmp_path: Path, text: str, where: str, says: str) -> None:
    message = problems(tmp_path, text)
    assert where in message and says in message, message
