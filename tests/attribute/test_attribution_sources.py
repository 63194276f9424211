"""Lease file parsing and the directory of who has which address."""

from routerguard.attribute.directory import FORGET_SECONDS, Directory
from routerguard.read.leases import LeaseFile, parse_leases
from routerguard.read.neighbours import Neighbour

LEASES = """1764100000 02:00:00:00:00:0a 192.168.8.23 zhang-phone 01:02:00:00:00:00:0a
1764100000 02:00:00:00:00:0B 192.168.8.24 * *
duid 00:01:00:01:2c:00:00:00:02:00:00:00:00:0a
1764100000 1234567 fd00::23 zhang-phone 00:01:00:01
garbage line
"""


def test_parse_leases_reads_v4_lines_and_skips_the_rest():
    leases = parse_leases(LEASES)
    assert [(l.mac, l.ip, l.hostname) for l in leases] == [
        ("02:00:00:00:00:0a", "192.168.8.23", "zhang-phone"), ("02:00:00:00:00:0b", "192.168.8.24", None)]


def test_lease_file_rereads_only_on_change(tmp_path):
    path = tmp_path / "dhcp.leases"
    files = LeaseFile(str(path))
    assert files.leases() == []
    path.write_text(LEASES)
    assert len(files.leases()) == 2
    path.write_text(LEASES.splitlines()[0] + "\n")
    assert len(files.leases()) == 1


def test_directory_learns_addresses_and_keeps_them_until_another_device_claims_them():
    directory = Directory()
    a, b = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
    directory.refresh([Neighbour("fd00::1234", a, 5), Neighbour("192.168.8.99", b, 6)], parse_leases(LEASES), 5, 100.0)
    assert directory.mac_of("192.168.8.23") == a and directory.mac_of("fd00::1234") == a
    assert directory.mac_of("192.168.8.99") is None  # on another interface
    assert directory.info(a).hostname == "zhang-phone"
    directory.refresh([], [], 5, 200.0)
    assert directory.mac_of("fd00::1234") == a  # neighbour entry gone, the address still known
    directory.refresh([Neighbour("fd00::1234", b, 5)], [], 5, 300.0)
    assert directory.mac_of("fd00::1234") == b and "fd00::1234" not in directory.info(a).ips
    assert directory.online(b, 310.0) and not directory.online(a, 310.0 + 1000)


def test_a_device_gone_for_a_day_without_an_address_is_forgotten_with_its_addresses():
    directory = Directory()
    passing, staying = "02:aa:00:00:00:01", "02:00:00:00:00:02"
    directory.refresh([Neighbour("10.0.0.5", passing, 1), Neighbour("10.0.0.6", staying, 1)], [], 1, 1000.0)
    directory.seen(passing, 2000.0)
    directory.refresh([Neighbour("10.0.0.6", staying, 1)], [], 1, 2000.0 + FORGET_SECONDS)
    assert set(directory.macs()) == {passing, staying}  # a day after its last traffic: not yet
    directory.refresh([Neighbour("10.0.0.6", staying, 1)], [], 1, 2001.0 + FORGET_SECONDS)
    assert directory.macs() == [staying]  # holds an address: kept however long ago its traffic was
    assert directory.mac_of("10.0.0.5") is None and directory.info(passing) is None
    directory.refresh([Neighbour("10.0.0.5", staying, 1)], [], 1, 3000.0 + FORGET_SECONDS)
    assert directory.mac_of("10.0.0.5") == staying
