"""Is flow offloading on (read/offload.py): from fw4's own UCI firewall files and from the ruleset's flowtables."""

from pathlib import Path

from routerguard.read.offload import detect, from_uci

FW4 = Path(__file__).resolve().parents[2] / "routerguard_lab" / "fw4" / "config"
ON = "firewall.@defaults[0].flow_offloading='1'"


def test_the_travel_routers_firewall_files_say_off_and_on():
    assert not from_uci((FW4 / "firewall.offload-off").read_text()).on
    on = from_uci((FW4 / "firewall.offload-on").read_text())
    assert on.on and on.found == (ON,) and not on.hardware


def test_uci_commit_spelling_and_hardware_offload():
    text = "\nconfig defaults\n\toption flow_offloading '1'\n\toption flow_offloading_hw '1'\n"
    assert from_uci(text).hardware
    assert not from_uci("config defaults 'cfg01e63d'\n\toption flow_offloading '0'\n").on
    assert from_uci("config defaults\n\toption flow_offloading 'on'\n").on


def test_detect_joins_the_ruleset_and_the_file(tmp_path):
    path = tmp_path / "firewall"
    assert detect(str(path), []).found == ()  # no file (Debian): only the ruleset says
    assert detect(str(path), ["inet fw4 ft (hardware)"]).hardware
    path.write_text((FW4 / "firewall.offload-on").read_text())
    assert detect(str(path), ["inet fw4 ft"]).found == ("inet fw4 ft", ON)
    assert detect(None, []).found == ()
    path.write_text("not uci at all '")
    assert not detect(str(path), []).on  # a file that does not parse says nothing
