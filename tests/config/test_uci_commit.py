"""A config as OpenWrt's `uci commit` writes it, read and written back without loss (config/uci.py).

`uci commit` (libuci's uci_export) rewrites the whole file by rename (a new
inode): comments and blank-line layout are dropped, the file starts with a
blank line and each section follows one, every value is re-quoted with
single quotes (a quote inside as '\\''), anonymous sections stay unnamed, and
sections LuCI or `uci add` named get ids like `cfg0a1b2c`. The real uci
binary is not on this machine: the committed texts below follow its export
format (openwrt-tools/README.md, examples/, checked there with the real uci).
"""

from __future__ import annotations

import os

from routerguard.config import uci
from routerguard.config.file import ConfigFile, device_section, write_cap
from routerguard.config.model import Cap, build, read_package

HAND_WRITTEN = """# routerguard on the travel router
config routerguard main
\toption lan_if br-lan   # the LAN bridge
\tlist wan_if "wan0"
\tlist wan_if 'phy1-sta0'
\toption listen "192.168.8.1:8080"
\toption data_dir /etc/routerguard

config plan 'plan'
\toption quota 20GB
\toption period monthly

# Zhang's phone: a daily cap
config device
\toption mac '02:00:00:00:00:0a'
\toption name "Zhang's phone"
\toption cap 1GB
\toption period daily
\toption action block
"""

COMMITTED = """
config routerguard 'main'
\toption lan_if 'br-lan'
\tlist wan_if 'wan0'
\tlist wan_if 'phy1-sta0'
\toption listen '192.168.8.1:8080'
\toption data_dir '/etc/routerguard'

config plan 'plan'
\toption quota '20GB'
\toption period 'monthly'

config device
\toption mac '02:00:00:00:00:0a'
\toption name 'Zhang'\\''s phone'
\toption cap '1GB'
\toption period 'daily'
\toption action 'block'

config device 'cfg0a8d4f'
\toption mac '02:00:00:00:00:0b'
\toption name 'Laptop'
\toption exempt '1'
"""


def commit_by_rename(path: str, text: str) -> None:
    """What `uci commit` does to the file: a new file renamed over the old one."""
    with open(path + ".uci-tmp", "w") as f:
        f.write(text)
    os.rename(path + ".uci-tmp", path)


def test_a_committed_file_reads_and_writes_back_byte_for_byte():
    assert uci.dumps(uci.parse(COMMITTED)) == COMMITTED


def test_it_means_what_the_hand_written_file_meant(tmp_path):
    hand, committed = tmp_path / "hand", tmp_path / "committed"
    hand.write_text(HAND_WRITTEN)
    committed.write_text(COMMITTED)
    before, after = build(read_package(str(hand)), str(hand)), build(read_package(str(committed)), str(committed))
    assert after.main == before.main and after.plan == before.plan
    assert after.devices["02:00:00:00:00:0a"] == before.devices["02:00:00:00:00:0a"]
    assert after.devices["02:00:00:00:00:0a"].name == "Zhang's phone"
    assert after.devices["02:00:00:00:00:0b"].exempt  # the section uci named cfg0a8d4f


def test_an_edit_from_the_page_changes_only_its_lines_and_keeps_the_cfg_id(tmp_path):
    path = tmp_path / "routerguard"
    path.write_text(COMMITTED)
    ConfigFile(str(path)).edit(lambda p: write_cap(device_section(p, "02:00:00:00:00:0b"),
                                                   build(uci.parse(COMMITTED), "x").devices["02:00:00:00:00:0a"].cap))
    text = path.read_text()
    assert text.startswith(COMMITTED.split("config device 'cfg0a8d4f'")[0])  # everything before: byte for byte
    assert "config device 'cfg0a8d4f'\n\toption mac '02:00:00:00:00:0b'\n\toption name 'Laptop'\n" in text
    assert "\toption cap '1GB'" in text.split("cfg0a8d4f")[1]
    assert uci.dumps(uci.parse(text)) == text


def test_a_change_committed_by_uci_is_applied_by_a_reload(tmp_path):
    path = str(tmp_path / "routerguard")
    commit_by_rename(path, COMMITTED)
    config = ConfigFile(path)
    inode = os.stat(path).st_ino
    commit_by_rename(path, COMMITTED.replace("option cap '1GB'", "option cap '2GB'"))  # uci set ...; uci commit
    assert os.stat(path).st_ino != inode
    assert config.config.devices["02:00:00:00:00:0a"].cap.bytes == 1_000_000_000
    assert config.reload().devices["02:00:00:00:00:0a"].cap.bytes == 2_000_000_000  # SIGHUP / reload_config


def test_the_page_s_write_then_a_uci_commit_then_the_page_again(tmp_path):
    """Both writers take turns on one file: each keeps the other's change."""
    path = str(tmp_path / "routerguard")
    commit_by_rename(path, COMMITTED)
    config = ConfigFile(path)
    config.edit(lambda p: write_cap(p.first("plan", "plan"), Cap(30_000_000_000, config.config.plan.period,
                                                                   config.config.plan.action), "quota"))
    commit_by_rename(path, uci.dumps(uci.parse(open(path).read())).replace("'Laptop'", "'Work laptop'"))
    config.edit(lambda p: p.first("device").set("name", "Zhang phone"))
    final = config.reload()
    assert final.plan.quota == 30_000_000_000
    assert final.devices["02:00:00:00:00:0b"].name == "Work laptop"
    assert final.devices["02:00:00:00:00:0a"].name == "Zhang phone"
