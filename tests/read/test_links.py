"""An interface's link state and counters from a /sys/class/net tree."""

from __future__ import annotations

from pathlib import Path

from routerguard.read.links import LinkReading, read_link


def make_interface(root: Path, name: str, operstate: str, carrier: str | None = "1", ifindex: int = 4,
                   rx: int = 1234, tx: int = 567) -> None:
    folder = root / name
    (folder / "statistics").mkdir(parents=True)
    (folder / "ifindex").write_text(f"{ifindex}\n")
    (folder / "operstate").write_text(f"{operstate}\n")
    if carrier is not None:
        (folder / "carrier").write_text(f"{carrier}\n")
    (folder / "statistics" / "rx_bytes").write_text(f"{rx}\n")
    (folder / "statistics" / "tx_bytes").write_text(f"{tx}\n")


def test_an_ethernet_uplink_that_is_up(tmp_path: Path) -> None:
    make_interface(tmp_path, "eth1", "up")
    assert read_link("eth1", str(tmp_path)) == LinkReading(4, True, 1234, 567)


def test_down_is_no_link(tmp_path: Path) -> None:
    make_interface(tmp_path, "eth1", "down", carrier=None)  # carrier cannot be read while down
    assert read_link("eth1", str(tmp_path)).link is False


def test_a_point_to_point_link_without_operstate_has_link_by_its_carrier(tmp_path: Path) -> None:
    make_interface(tmp_path, "ppp0", "unknown", carrier="1")
    make_interface(tmp_path, "tun0", "unknown", carrier="0")
    assert read_link("ppp0", str(tmp_path)).link is True
    assert read_link("tun0", str(tmp_path)).link is False


def test_a_missing_interface_reads_none(tmp_path: Path) -> None:
    assert read_link("wwan0", str(tmp_path)) is None


def test_the_real_loopback_reads() -> None:
    reading = read_link("lo")
    assert reading is not None and reading.ifindex == 1 and reading.rx_bytes >= 0
