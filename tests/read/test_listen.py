"""listen_interface: the addresses netifd reports for an interface, or a Linux device's own."""

from routerguard.daemon import with_interface_addresses
from routerguard.read import listen
from routerguard.read.listen import addresses_from_netifd, device_addresses, interface_addresses

# `ubus call network.interface.lan status` on OpenWrt 24.10, trimmed
LAN_STATUS = {
    "up": True,
    "l3_device": "br-lan",
    "ipv4-address": [{"address": "192.168.8.1", "mask": 24}],
    "ipv6-address": [{"address": "fe80::1", "mask": 64}],
    "ipv6-prefix-assignment": [{"address": "fd00:8::", "mask": 60, "local-address": {"address": "fd00:8::1", "mask": 60}}],
}


def test_netifd_status_gives_ipv4_ipv6_and_the_delegated_prefix_s_local_address():
    assert addresses_from_netifd(LAN_STATUS) == ["192.168.8.1", "fd00:8::1"]  # fe80:: left out
    assert addresses_from_netifd({"up": False}) == []


def test_a_device_name_without_ubus_gives_the_kernel_s_addresses(monkeypatch):
    monkeypatch.setattr(listen.shutil, "which", lambda name: None)
    assert interface_addresses("lo") == ["127.0.0.1", "::1"] == device_addresses("lo")
    assert interface_addresses("no-such-dev0") == []


def test_netifd_is_asked_first_when_ubus_is_there(monkeypatch):
    monkeypatch.setattr(listen, "_ubus_status", lambda name: LAN_STATUS if name == "lan" else None)
    assert interface_addresses("lan") == ["192.168.8.1", "fd00:8::1"]


def test_the_daemon_adds_the_interface_s_addresses_to_listen(tmp_path, monkeypatch):
    from routerguard.config.model import load_config

    path = tmp_path / "routerguard"
    path.write_text("config routerguard 'main'\n\tlist wan_if 'wwan0'\n\toption listen_interface 'lan'\n"
                    "\toption listen_port '8081'\n\tlist listen '127.0.0.1:8080'\n")
    monkeypatch.setattr(listen, "_ubus_status", lambda name: LAN_STATUS)
    config = with_interface_addresses(load_config(str(path)))
    assert config.main.listen == (("127.0.0.1", 8080), ("192.168.8.1", 8081), ("fd00:8::1", 8081))


def test_listen_interface_alone_is_a_valid_main_section_and_a_bad_name_is_refused(tmp_path):
    import pytest

    from routerguard.config.model import ConfigError, load_config

    path = tmp_path / "routerguard"
    path.write_text("config routerguard 'main'\n\tlist wan_if 'wwan0'\n\toption listen_interface 'lan'\n")
    assert load_config(str(path)).main.listen_interface == "lan"
    path.write_text("config routerguard 'main'\n\tlist wan_if 'wwan0'\n\toption listen_interface 'l a n'\n")
    with pytest.raises(ConfigError, match="listen_interface"):
        load_config(str(path))
