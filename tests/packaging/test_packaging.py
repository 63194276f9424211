"""The router packaging: the OpenWrt feed package, its scripts, LuCI entry and
the systemd unit.

OpenWrt's tools are not on this machine, so the scripts run against stand-ins
that record what they are asked (a fake `uci`, `/etc/rc.common`, procd) in a
scratch root, under the POSIX shells that are here (dash, and busybox ash,
the shell of OpenWrt).
"""

from __future__ import annotations

import configparser
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from openwrt_build import fake_pkg_install_dir, pinned_wheels, python_version, run_install_recipes

REPO = Path(__file__).resolve().parents[2]
OPENWRT = REPO / "openwrt"
FILES = OPENWRT / "files"
MAKEFILE = OPENWRT / "Makefile"
CONFIG = FILES / "routerguard.config"
INIT = FILES / "routerguard.init"
HOTPLUG = FILES / "routerguard.hotplug"
UCI_DEFAULTS = FILES / "routerguard.uci-defaults"
WRAPPER = FILES / "routerguard.sh"
UNIT = REPO / "packaging" / "systemd" / "routerguard.service"
RPCD = FILES / "routerguard.rpcd"
SHELL_SCRIPTS = [INIT, HOTPLUG, UCI_DEFAULTS, WRAPPER, RPCD]

SIZE_BUDGET = 700 * 1000  # packed: 0.61 MB after eSIM bundles, two-factor login, free uplinks, the guard and rpcd (2026-12; 0.46 MB before); a 16 MB-flash router has 5-10 MB of overlay free
CONTRACT_SECTIONS = {"routerguard", "snmp", "plan", "defaults", "group", "device",
                     "uplink", "category", "saver", "notify", "agent"}
SHIPPED_LISTEN = "192.168.1.1:8080"
SHIPPED_CONFDIR = "/tmp/dnsmasq.d"
DNSMASQ_PER_INSTANCE = 'config_get dnsmasqconfdir "$cfg" confdir "/tmp/dnsmasq${cfg:+.$cfg}.d"\n'
DNSMASQ_SHARED = 'config_get dnsmasqconfdir "$cfg" confdir "/tmp/dnsmasq.d"\n'


def posix_shells() -> list[list[str]]:
    shells = [["sh"]]
    if shutil.which("busybox"):
        shells.append(["busybox", "sh"])
    return shells


SHELLS = pytest.mark.parametrize("shell", posix_shells(), ids=lambda s: " ".join(s))


# --- reading the Makefile ------------------------------------------------------------


def makefile_text() -> str:
    return MAKEFILE.read_text()


def make_variable(name: str) -> str:
    """The value of `NAME:=...` (continuation lines joined), as make would see it."""
    text = makefile_text().replace("\\\n", " ")
    found = re.findall(rf"^{re.escape(name)}\s*:=(.*)$", text, re.M)
    assert found, f"{name} is not set in {MAKEFILE}"
    return " ".join(found[-1].split())


def make_define(name: str) -> str:
    match = re.search(rf"^define {re.escape(name)}\n(.*?)^endef$", makefile_text(), re.M | re.S)
    assert match, f"define {name} is missing from {MAKEFILE}"
    return match.group(1)


def package_depends(package: str) -> list[str]:
    body = make_define(f"Package/{package}").replace("\\\n", " ")
    match = re.search(r"^\s*DEPENDS:=(.*)$", body, re.M)
    assert match, f"Package/{package} has no DEPENDS"
    return [d.lstrip("+") for d in match.group(1).split()]


def setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg")
    return parser


def test_every_package_of_the_source_tree_is_installed() -> None:
    """A subpackage missing from setup.cfg's list installs nowhere: the editable install still finds it, a real one
    (CI's, the router's) fails at import (routerguard.service, once)."""
    listed = {line.strip() for line in setup_cfg()["options"]["packages"].splitlines() if line.strip() and not line.strip().startswith("#")}
    found = {".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "routerguard").rglob("__init__.py")}
    found |= {".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "routerguard_lab").rglob("__init__.py")}
    assert found - listed == set(), "add these to setup.cfg [options] packages"


def install_requires() -> list[str]:
    return [line.strip() for line in setup_cfg()["options"]["install_requires"].splitlines() if line.strip()]


# --- shellcheck ----------------------------------------------------------------------


def test_every_shell_script_in_the_package_is_checked():
    scripts = {p for p in FILES.rglob("*") if p.is_file() and p.read_bytes().startswith(b"#!/bin/sh")}
    assert scripts == set(SHELL_SCRIPTS)


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shell_script_passes_shellcheck_as_posix_sh(script):
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck is not installed")
    result = subprocess.run(["shellcheck", "-s", "sh", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("define", ["Package/routerguard/postinst", "Package/routerguard/prerm",
                                    "Package/routerguard/postrm",
                                    "Package/routerguard-snmp/postinst"])
def test_maintainer_script_in_the_makefile_passes_shellcheck(define, tmp_path):
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck is not installed")
    script = tmp_path / "script.sh"
    script.write_text(make_define(define).replace("$$", "$"))
    result = subprocess.run(["shellcheck", "-s", "sh", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the Makefile --------------------------------------------------------------------


def test_makefile_name_and_version_are_the_python_package_s():
    assert make_variable("PKG_NAME") == setup_cfg()["metadata"]["name"]
    assert make_variable("PKG_VERSION") == python_version()
    assert make_variable("PKG_RELEASE").isdigit()
    # routerguard's licence first, then the bundled libraries' (waitress ZPL-2.1, pysnmp and pyasn1 BSD-2-Clause, segno BSD-3-Clause)
    assert make_variable("PKG_LICENSE").split() == [setup_cfg()["metadata"]["license"], "ZPL-2.1", "BSD-2-Clause", "BSD-3-Clause"]


def test_makefile_installs_every_shipped_file_and_only_those():
    shipped = {p.relative_to(OPENWRT).as_posix() for p in FILES.rglob("*") if p.is_file()}
    installed = set(re.findall(r"\./(files/\S+)", makefile_text()))
    assert installed == shipped


def test_every_python_dependency_is_an_openwrt_package_or_bundled():
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    depends = set(package_depends("routerguard"))
    bundled = {canonicalize_name(name) for name in pinned_wheels()}
    for line in install_requires():
        name = canonicalize_name(Requirement(line).name)
        assert f"python3-{name}" in depends or name in bundled, (
            f"{name} (setup.cfg) is neither a DEPENDS on python3-{name} nor a bundled wheel in {MAKEFILE}")


# What the Makefile lists of Python's own standard library (python3-light is the core).
PYTHON_STDLIB_PACKAGES = {"python3-light", "python3-asyncio", "python3-email", "python3-logging",
                          "python3-openssl", "python3-sqlite3", "python3-urllib"}


def test_the_router_gets_no_python_library_that_setup_cfg_does_not_require():
    """A DEPENDS on a library routerguard does not import costs the router flash and RAM for nothing."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    required = {f"python3-{canonicalize_name(Requirement(line).name)}" for line in install_requires()}
    libraries = {d for d in package_depends("routerguard") if d.startswith("python3-")} - PYTHON_STDLIB_PACKAGES
    assert libraries <= required, f"DEPENDS on {sorted(libraries - required)}, which setup.cfg does not require"


def test_dnsmasq_full_is_not_a_dependency_but_nat_and_fib_are():
    """dnsmasq-full clashes with the stock dnsmasq (opkg refuses it); the captive redirect needs nat and fib;
    `timezone` needs the zone files."""
    depends = set(package_depends("routerguard"))
    assert "dnsmasq-full" not in depends and not any(d.startswith("dnsmasq") for d in depends)
    assert {"kmod-nft-nat", "kmod-nft-fib", "nftables", "kmod-nf-conntrack-netlink", "zoneinfo-all"} <= depends


def test_packages_are_not_arch_all_as_they_carry_byte_code():
    assert "PKGARCH" not in makefile_text().replace("# Not PKGARCH:=all", "")


def test_sources_come_from_a_download_not_from_the_makefile_s_parent():
    assert make_variable("PKG_SOURCE") == "$(PKG_NAME)-$(PKG_VERSION).tar.gz"
    assert make_variable("PKG_SOURCE_URL") and re.fullmatch(r"[0-9a-f]{64}|skip", make_variable("PKG_HASH"))
    assert "ROUTERGUARD_SRC" not in makefile_text() and "PKG_FILE_DEPENDS" not in makefile_text()
    assert "define Build/Prepare" not in makefile_text()  # package.mk's: unpack PKG_SOURCE (or USE_SOURCE_DIR)


def test_tc_is_a_dependency_exactly_when_routerguard_runs_it():
    """Throttling is nftables limits today, so the router gets neither tc nor the qdisc modules."""
    runs_tc = [p.relative_to(REPO).as_posix() for p in (REPO / "routerguard").rglob("*.py")
               if re.search(r"""["'](/usr)?(/s?bin/)?tc["']""", p.read_text())]
    depends_on_tc = set(package_depends("routerguard")) & {"tc", "tc-tiny", "tc-full", "kmod-sched-core"}
    assert bool(depends_on_tc) == bool(runs_tc), f"tc DEPENDS {sorted(depends_on_tc)}, run by {runs_tc}"


def test_bundled_wheels_are_pinned_hashed_and_satisfy_setup_cfg():
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    wanted = {canonicalize_name(Requirement(line).name): Requirement(line).specifier for line in install_requires()}
    wheels = pinned_wheels()
    assert wheels, "openwrt/wheels.txt pins no wheel"
    # each pinned wheel is a download of the Makefile's own (the SDK checks its HASH), installed with no index
    for name, (version, digest) in wheels.items():
        download = make_define(f"Download/{name}")
        assert f"FILE:={name}-{version}-py3-none-any.whl" in download and f"HASH:={digest}" in download
        assert f"$(eval $(call Download,{name}))" in makefile_text()
        assert f"{name}-{version}-py3-none-any.whl" in make_variable("ROUTERGUARD_WHEELS")
    assert len(make_variable("ROUTERGUARD_WHEELS").split()) == len(wheels)
    assert "--no-index" in make_define("Build/Install") and "-r " not in make_define("Build/Install")
    for name, (version, digest) in wheels.items():
        assert re.fullmatch(r"[0-9a-f]{64}", digest), f"{name}: the hash must be a sha256"
        spec = wanted.get(canonicalize_name(name))
        assert spec is None or spec.contains(version), f"{name} {version} does not satisfy setup.cfg's {name}{spec}"


def test_python_dependencies_are_split_between_the_two_packages():
    install = make_define("Package/routerguard/install")
    snmp = make_define("Package/routerguard-snmp/install")
    assert "waitress" in install and "pysnmp" not in install
    assert "pysnmp" in snmp and "pyasn1" in snmp and "waitress" not in snmp
    assert "routerguard" in package_depends("routerguard-snmp")


def test_config_and_data_survive_upgrades_as_conffiles():
    conffiles = make_define("Package/routerguard/conffiles").split()
    assert conffiles == ["/etc/config/routerguard", "/etc/routerguard/"]


# --- running the install recipe against stand-ins for OpenWrt's build system ------


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    """Runs the Makefile's install recipes (tests/packaging/openwrt_build.py); returns each package's root."""
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    tmp = tmp_path_factory.mktemp("openwrt")
    pkg_install = tmp / "ipkg-install"
    fake_pkg_install_dir(pkg_install)
    return run_install_recipes(tmp, pkg_install)


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir()}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_install_puts_the_service_files_where_openwrt_looks(installed):
    root = installed["routerguard"]
    assert mode(root / "usr/bin/routerguard") == 0o755
    assert mode(root / "etc/init.d/routerguard") == 0o755
    assert mode(root / "etc/uci-defaults/90-routerguard") == 0o755
    assert (root / "etc/hotplug.d/iface/90-routerguard").read_text() == HOTPLUG.read_text()
    assert (root / "etc/config/routerguard").read_text() == CONFIG.read_text()
    assert mode(root / "etc/config/routerguard") == 0o600
    assert (root / "etc/routerguard").is_dir()
    # Usage, secrets and what the first run turned off survive a sysupgrade; the page's sessions and their
    # signing key (sessions.json) stay out of backups (docs/security.md). sysupgrade expands the globs.
    assert (root / "lib/upgrade/keep.d/routerguard").read_text().split() == [
        "/etc/routerguard/usage.*", "/etc/routerguard/secrets.json", "/etc/routerguard/offload-off"]
    assert mode(root / "usr/libexec/rpcd/routerguard") == 0o755
    assert not (root / "www").exists() and not (root / "usr/share/luci").exists()  # LuCI: luci-app-routerguard


def test_the_daemon_keeps_only_the_network_capabilities(installed):
    caps = json.loads((installed["routerguard"] / "etc/capabilities/routerguard.json").read_text())
    wanted = {"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE"}
    assert set(caps) == {"bounding", "effective", "permitted", "inheritable", "ambient"}
    assert all(set(v) == wanted for v in caps.values())
    assert "procd_set_param capabilities /etc/capabilities/routerguard.json" in INIT.read_text()


def test_the_package_ships_the_sysctl_file(installed):
    """In the package (removed with it), not written at first run."""
    sysctl = (installed["routerguard"] / "etc/sysctl.d/11-routerguard.conf").read_text()
    assert "net.netfilter.nf_conntrack_acct=1\n" in sysctl
    assert "net.netfilter.nf_conntrack_events=1\n" in sysctl
    assert "sysctl.d" not in make_define("Package/routerguard/postrm")
    assert "cat >" not in UCI_DEFAULTS.read_text()


def test_install_ships_byte_code_only_and_leaves_the_lab_out(installed):
    site = installed["routerguard"] / "usr/lib/python3.11/site-packages"
    files = tree(site)
    assert "routerguard/__init__.pyc" in files and "routerguard/__main__.pyc" in files
    for folder, package in (("web", "routerguard/web"), ("routerguard/mibs", "routerguard/mibs"),
                            ("routerguard/data", "routerguard/data")):
        shipped = {f"{package}/{p.relative_to(REPO / folder).as_posix()}" for p in (REPO / folder).rglob("*")
                   if p.is_file() and p.suffix not in (".py", ".pyc")}
        assert shipped and shipped <= files, f"not installed: {sorted(shipped - files)}"
    assert not [f for f in files if f.endswith(".py")]
    assert not [f for f in files if f.startswith("routerguard_lab/")]


def test_each_vendored_library_goes_to_one_package(installed):
    vendor = "usr/lib/routerguard/vendor/"
    main = {f[len(vendor):].split("/")[0] for f in tree(installed["routerguard"]) if f.startswith(vendor)}
    snmp = {f[len(vendor):].split("/")[0] for f in tree(installed["routerguard-snmp"]) if f.startswith(vendor)}
    assert {m.split("-")[0] for m in main} == {"waitress", "segno"}  # segno: the two-factor QR code
    assert {s.split("-")[0] for s in snmp} == {"pysnmp", "pyasn1"}
    assert tree(installed["routerguard-snmp"]) <= {f for f in tree(installed["routerguard-snmp"]) if f.startswith(vendor)}


def test_snmp_package_keeps_pysnmp_s_mib_modules_as_sources_and_only_those(installed):
    """pysnmp's MIB loader reads no .pyc of today's layout (issue #20: `bad marshal data` at SnmpEngine())."""
    files = tree(installed["routerguard-snmp"])
    mibs = "usr/lib/routerguard/vendor/pysnmp/smi/mibs/"
    assert {f for f in files if f.endswith(".py")} == {mibs + "SNMPv2-MIB.py", mibs + "instances/__SNMPv2-MIB.py"}
    assert mibs + "__init__.pyc" in files and mibs + "instances/__init__.pyc" in files
    assert not [f for f in files if f.startswith(mibs) and f.endswith(".pyc") and "__init__" not in f]


def test_the_two_packages_share_no_file(installed):
    assert not tree(installed["routerguard"]) & tree(installed["routerguard-snmp"])


# --- flash budget and what the router does not need ------------------------------


def test_package_own_files_fit_the_flash_budget(installed):
    """What the package installs of ours (not the bundled waitress): byte code (not the lab), the page, the router files.

    Counted as opkg fetches them and as the overlay's compressing filesystem
    (JFFS2, UBIFS) stores them: gzip'd, as in the .ipk. Unpacked, byte code
    takes about twice its source; docs/openwrt.md gives both figures.
    """
    root = installed["routerguard"]
    own = [p for p in sorted(root.rglob("*")) if p.is_file() and "vendor" not in p.relative_to(root).parts]
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:
        for path in own:
            tar.add(path, arcname=path.relative_to(root).as_posix())
    size, unpacked = len(packed.getvalue()), sum(p.stat().st_size for p in own)
    print(f"routerguard's own files: {size} bytes packed, {unpacked} unpacked")
    assert size < SIZE_BUDGET, f"the package's own files take {size} bytes packed ({unpacked} unpacked), over {SIZE_BUDGET}"


def test_the_cli_starts_without_the_lab_that_the_package_leaves_out():
    code = ("import sys, routerguard.cli; "
            "sys.exit(any(m.startswith('routerguard_lab') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# --- the default config --------------------------------------------------------------


def config_text() -> str:
    return CONFIG.read_text()


def uncommented_examples() -> str:
    """The config with every example ('#config', '#\\toption', '#\\tlist') switched on."""
    return re.sub(r"^#(?=config |\toption |\tlist )", "", config_text(), flags=re.M)


def test_default_config_validates(tmp_path):
    model = pytest.importorskip("routerguard.config.model")
    config = model.load_config(str(CONFIG))
    assert config.main.data_dir == "/etc/routerguard"
    assert config.main.commit_interval == 60
    # the page follows the LAN interface (renumbered LANs keep it), no address fixed at install
    assert config.main.listen == () and config.main.listen_interface == "lan" and config.main.listen_port == 8080
    assert config.main.dnsmasq_conf_dir == SHIPPED_CONFDIR
    assert config.agent.enabled is False


def test_every_commented_example_validates_when_switched_on(tmp_path):
    model = pytest.importorskip("routerguard.config.model")
    path = tmp_path / "routerguard"
    path.write_text(uncommented_examples())
    config = model.load_config(str(path))
    assert config.plan is not None and config.snmp is not None and config.default_cap is not None
    assert config.groups and config.devices and config.uplinks and config.categories


def test_default_config_shows_every_section_of_the_contract():
    types = set(re.findall(r"^#?config (\w+)", config_text(), re.M))
    assert types == CONTRACT_SECTIONS


def test_uci_defaults_recognises_the_shipped_placeholders():
    script = UCI_DEFAULTS.read_text()
    # the placeholder older packages shipped, which an upgrade moves to listen_interface
    assert "option listen_interface 'lan'" in config_text() and f"option listen '{SHIPPED_LISTEN}'" not in config_text()
    assert 'RG_SHIPPED_LISTEN="192.168.1.1:$RG_PORT"' in script and "RG_PORT=8080" in script
    assert f"option dnsmasq_conf_dir '{SHIPPED_CONFDIR}'" in config_text()
    assert f"RG_SHIPPED_CONFDIR={SHIPPED_CONFDIR}" in script


# --- the first-run script (uci-defaults) ------------------------------------------

FAKE_UCI = """\
#!{python}
# A stand-in for uci: records every call, answers from a JSON file.
import json, os, sys

args = sys.argv[1:]
with open(os.environ["FAKE_UCI_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
path = os.environ["FAKE_UCI_STATE"]
with open(path) as f:
    state = json.load(f)
quiet = plain = False
while args and args[0].startswith("-"):
    flag = args.pop(0)
    if flag == "-q":
        quiet = True
    elif flag == "-X":
        plain = True
    elif flag == "-c":
        state["_confdir"] = args.pop(0)
command, rest = args[0], args[1:]
if command == "get":
    if rest[0] not in state:
        if not quiet:
            print("uci: Entry not found", file=sys.stderr)
        sys.exit(1)
    print(state[rest[0]])
elif command == "show":
    key = ("show -X " if plain else "show ") + rest[0]
    if key not in state:
        sys.exit(1)
    print(state[key])
elif command == "set":
    key, _, value = rest[0].partition("=")
    state[key] = value
elif command == "delete":
    state.pop(rest[0], None)
elif command == "commit":
    state.setdefault("_commits", []).append(rest[0] if rest else "")
else:
    sys.exit(2)
with open(path, "w") as f:
    json.dump(state, f)
"""


class FirstRun:
    """A scratch root with a fake uci, where the uci-defaults script runs."""

    def __init__(self, tmp_path: Path, state: dict, dnsmasq_init: str | None = DNSMASQ_PER_INSTANCE) -> None:
        self.root = tmp_path / "root"
        (self.root / "etc/config").mkdir(parents=True)
        if dnsmasq_init is not None:
            (self.root / "etc/init.d").mkdir(parents=True)
            (self.root / "etc/init.d/dnsmasq").write_text(dnsmasq_init)
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        uci = bin_dir / "uci"
        uci.write_text(FAKE_UCI.format(python=sys.executable))
        uci.chmod(0o755)
        self.state_path, self.log_path = tmp_path / "uci.json", tmp_path / "uci.log"
        self.state_path.write_text(json.dumps(state))
        self.log_path.write_text("")
        self.env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "IPKG_INSTROOT": str(self.root),
                    "FAKE_UCI_STATE": str(self.state_path), "FAKE_UCI_LOG": str(self.log_path)}
        self.env.pop("UCI", None)

    def run(self, shell: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run([*shell, str(UCI_DEFAULTS)], env=self.env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=60)

    @property
    def state(self) -> dict:
        return json.loads(self.state_path.read_text())

    @property
    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    def sets(self) -> list[str]:
        return [call[call.index("set") + 1] for call in self.calls if "set" in call]


def fresh_router(**overrides) -> dict:
    """uci state of an OpenWrt 24.10 travel router right after installing the package."""
    state = {
        "routerguard.main.listen_interface": "lan",
        "routerguard.main.listen_port": "8080",
        "routerguard.main.dnsmasq_conf_dir": SHIPPED_CONFDIR,
        "routerguard.main.data_dir": "/etc/routerguard",
        "network.lan.ipaddr": "192.168.8.1",
        "show dhcp.@dnsmasq[0]": "dhcp.@dnsmasq[0]=dnsmasq\ndhcp.@dnsmasq[0].domainneeded='1'",
        "show -X dhcp.@dnsmasq[0]": "dhcp.cfg01411c=dnsmasq\ndhcp.cfg01411c.domainneeded='1'",
        "firewall.@defaults[0].flow_offloading": "1",
        "firewall.@defaults[0].flow_offloading_hw": "1",
    }
    state.update(overrides)
    return {k: v for k, v in state.items() if v is not None}


@SHELLS
def test_first_run_sets_up_a_fresh_router(tmp_path, shell):
    first = FirstRun(tmp_path, fresh_router())
    result = first.run(shell)
    assert result.returncode == 0, result.stderr
    assert first.sets() == [
        "routerguard.main.dnsmasq_conf_dir=/tmp/dnsmasq.cfg01411c.d",
        "firewall.@defaults[0].flow_offloading=0",
        "firewall.@defaults[0].flow_offloading_hw=0",
    ]
    assert set(first.state["_commits"]) == {"routerguard", "firewall"}
    assert mode(first.root / "etc/routerguard") == 0o700
    assert "flow_offloading" in result.stderr


@SHELLS
def test_first_run_reads_and_writes_only_the_scratch_root_s_config(tmp_path, shell):
    first = FirstRun(tmp_path, fresh_router())
    assert first.run(shell).returncode == 0
    assert first.calls and all(call[:2] == ["-c", f"{first.root}/etc/config"] for call in first.calls)


@SHELLS
def test_first_run_keeps_what_the_user_chose(tmp_path, shell):
    first = FirstRun(tmp_path, fresh_router(**{
        "routerguard.main.listen_interface": None,
        "routerguard.main.listen": "10.0.0.1:8080",
        "routerguard.main.dnsmasq_conf_dir": "/tmp/dnsmasq.mine.d",
        "firewall.@defaults[0].flow_offloading": "0",
        "firewall.@defaults[0].flow_offloading_hw": None,
    }))
    result = first.run(shell)
    assert result.returncode == 0, result.stderr
    assert first.sets() == []
    assert "_commits" not in first.state


@SHELLS
def test_an_upgrade_keeps_offloading_that_the_user_turned_back_on(tmp_path, shell):
    """opkg runs uci-defaults again on each upgrade: offloading is turned off once, never again."""
    first = FirstRun(tmp_path, fresh_router())
    assert first.run(shell).returncode == 0
    assert first.state["firewall.@defaults[0].flow_offloading"] == "0"
    offload_off = first.root / "etc/routerguard/offload-off"
    assert offload_off.read_text().split() == ["flow_offloading", "flow_offloading_hw"]
    # the user's choice, after reading docs/openwrt.md
    state = first.state
    state["firewall.@defaults[0].flow_offloading"] = "1"
    first.state_path.write_text(json.dumps(state))
    result = first.run(shell)  # the upgrade
    assert result.returncode == 0, result.stderr
    assert first.state["firewall.@defaults[0].flow_offloading"] == "1"
    assert first.state["firewall.@defaults[0].flow_offloading_hw"] == "0"
    assert [s for s in first.sets() if s.startswith("firewall.")] == [
        "firewall.@defaults[0].flow_offloading=0", "firewall.@defaults[0].flow_offloading_hw=0"]  # the first run's
    assert offload_off.read_text().split() == ["flow_offloading", "flow_offloading_hw"]


def run_prerm(tmp_path: Path, shell: list[str], first: "FirstRun") -> tuple[subprocess.CompletedProcess, str]:
    """The package's prerm against the first-run script's scratch root: default_prerm, logger and the
    firewall's init script are stand-ins that record their calls."""
    calls = tmp_path / "prerm-calls"
    calls.write_text("")
    functions = tmp_path / "functions.sh"
    functions.write_text(f'default_prerm() {{ echo "default_prerm $*" >> {calls}; }}\n')
    firewall = tmp_path / "firewall"
    firewall.write_text(f'#!/bin/sh\necho "firewall $*" >> {calls}\n')
    firewall.chmod(0o755)
    bin_dir = tmp_path / "bin"
    (bin_dir / "logger").write_text(f'#!/bin/sh\necho "logger $*" >> {calls}\n')
    (bin_dir / "logger").chmod(0o755)
    script = tmp_path / "prerm"
    script.write_text(make_define("Package/routerguard/prerm").replace("$$", "$")
                      .replace("/lib/functions.sh", str(functions))
                      .replace("/etc/routerguard/offload-off", str(first.root / "etc/routerguard/offload-off"))
                      .replace("/etc/init.d/firewall", str(firewall)))
    env = {k: v for k, v in first.env.items() if k != "IPKG_INSTROOT"}  # a live router: prerm acts
    result = subprocess.run([*shell, str(script), "remove"], env=env, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=60)
    return result, calls.read_text()


@SHELLS
def test_removing_the_package_gives_back_the_offloading_it_turned_off(tmp_path, shell):
    first = FirstRun(tmp_path, fresh_router())
    assert first.run(shell).returncode == 0
    result, calls = run_prerm(tmp_path, shell, first)
    assert result.returncode == 0, result.stderr
    assert first.state["firewall.@defaults[0].flow_offloading"] == "1"
    assert first.state["firewall.@defaults[0].flow_offloading_hw"] == "1"
    assert "default_prerm" in calls and "firewall reload" in calls and "back on" in calls
    assert not (first.root / "etc/routerguard/offload-off").exists()


@SHELLS
def test_removing_the_package_leaves_offloading_the_user_set_since(tmp_path, shell):
    first = FirstRun(tmp_path, fresh_router(**{"firewall.@defaults[0].flow_offloading_hw": None}))
    assert first.run(shell).returncode == 0
    state = first.state
    state["firewall.@defaults[0].flow_offloading"] = "1"  # the user turned it back on: theirs
    first.state_path.write_text(json.dumps(state))
    commits = len(first.state.get("_commits", []))
    result, calls = run_prerm(tmp_path, shell, first)
    assert result.returncode == 0, result.stderr
    assert first.state["firewall.@defaults[0].flow_offloading"] == "1"
    assert len(first.state.get("_commits", [])) == commits and "firewall reload" not in calls


@SHELLS
def test_first_run_with_offloading_off_records_that_nothing_was_turned_off(tmp_path, shell):
    first = FirstRun(tmp_path, fresh_router(**{"firewall.@defaults[0].flow_offloading": "0",
                                               "firewall.@defaults[0].flow_offloading_hw": None}))
    assert first.run(shell).returncode == 0
    assert (first.root / "etc/routerguard/offload-off").read_text().split() == []
    state = first.state
    state["firewall.@defaults[0].flow_offloading"] = "1"  # turned on later: kept on by the next upgrade
    first.state_path.write_text(json.dumps(state))
    assert first.run(shell).returncode == 0
    assert first.state["firewall.@defaults[0].flow_offloading"] == "1"


@SHELLS
@pytest.mark.parametrize("old_listen", [SHIPPED_LISTEN, "10.8.0.1:8080"])
def test_an_upgrade_moves_a_listen_fixed_at_install_to_the_lan_interface(tmp_path, shell, old_listen):
    """0.1.0-1 shipped 192.168.1.1:8080 and set it to the LAN's address (here a CIDR one) at install: a renumbered
    LAN then left the page unbound. Either value becomes listen_interface 'lan'."""
    first = FirstRun(tmp_path, fresh_router(**{"network.lan.ipaddr": "10.8.0.1/24", "routerguard.main.listen": old_listen,
                                               "routerguard.main.listen_interface": None,
                                               "routerguard.main.listen_port": None}))
    assert first.run(shell).returncode == 0
    assert "routerguard.main.listen" not in first.state
    assert first.state["routerguard.main.listen_interface"] == "lan"
    assert first.state["routerguard.main.listen_port"] == "8080"
    assert "routerguard" in first.state["_commits"]


@SHELLS
def test_first_run_leaves_the_shipped_values_that_are_already_right(tmp_path, shell):
    """OpenWrt 23.05: LAN 192.168.1.1, dnsmasq reading /tmp/dnsmasq.d."""
    first = FirstRun(tmp_path, fresh_router(**{"network.lan.ipaddr": "192.168.1.1"}), dnsmasq_init=DNSMASQ_SHARED)
    assert first.run(shell).returncode == 0
    assert [s for s in first.sets() if s.startswith("routerguard.")] == []
    assert first.state["_commits"] == ["firewall"]


@SHELLS
def test_first_run_follows_a_confdir_set_in_dhcp(tmp_path, shell):
    first = FirstRun(tmp_path, fresh_router(**{"dhcp.cfg01411c.confdir": "/tmp/dns.d,*.conf"}))
    assert first.run(shell).returncode == 0
    assert "routerguard.main.dnsmasq_conf_dir=/tmp/dns.d" in first.sets()


# --- the init script, under a stand-in /etc/rc.common -------------------------------

FAKE_RC_COMMON = """\
# Stand-in for /etc/rc.common and procd.sh: records what the init script asks.
log() { printf '%s\\n' "$*" >> "$RG_TEST_LOG"; }
extra_command() { log "extra_command $1"; }
procd_open_instance() { log "procd_open_instance"; }
procd_set_param() { log "procd_set_param $*"; }
procd_close_instance() { log "procd_close_instance"; }
procd_add_reload_trigger() { log "procd_add_reload_trigger $*"; }
procd_send_signal() { log "procd_send_signal $*"; }
procd_running() { [ "$RG_TEST_RUNNING" = 1 ]; }
start() { log "start"; }
logger() { log "logger $*"; cat >> "$RG_TEST_LOG"; }
. "$1"
PROG="$RG_TEST_PROG"
shift
"$@"
"""

FAKE_ROUTERGUARD = """\
#!/bin/sh
printf 'routerguard %s\\n' "$*" >> "$RG_TEST_LOG"
if [ "$1" = check ] && [ "$RG_TEST_CHECK" != ok ]; then
\techo "/etc/config/routerguard:4: section 'main', option 'listen': 'x': the host must be an IP address" >&2
\texit 2
fi
"""


def run_init(tmp_path: Path, shell: list[str], *action: str, check: str = "ok", running: bool = False):
    harness, prog, log = tmp_path / "rc.common", tmp_path / "routerguard", tmp_path / "calls"
    harness.write_text(FAKE_RC_COMMON)
    prog.write_text(FAKE_ROUTERGUARD)
    prog.chmod(0o755)
    log.write_text("")
    env = {**os.environ, "RG_TEST_LOG": str(log), "RG_TEST_PROG": str(prog),
           "RG_TEST_CHECK": check, "RG_TEST_RUNNING": "1" if running else "0"}
    result = subprocess.run([*shell, str(harness), str(INIT), *action], env=env, capture_output=True,
                            text=True, stdin=subprocess.DEVNULL, timeout=60)
    lines = log.read_text().splitlines()
    # extra_command runs when rc.common sources the script, before any action
    return result, [line for line in lines if not line.startswith("extra_command ")]


def init_extra_commands(tmp_path: Path, shell: list[str]) -> list[str]:
    run_init(tmp_path, shell, "true")
    return [line for line in (tmp_path / "calls").read_text().splitlines() if line.startswith("extra_command ")]


@SHELLS
def test_init_runs_the_daemon_under_procd_with_bounded_respawn(tmp_path, shell):
    result, calls = run_init(tmp_path, shell, "start_service")
    assert result.returncode == 0, result.stderr
    prog = tmp_path / "routerguard"
    assert calls[0] == "routerguard check --config /etc/config/routerguard"
    assert calls[1:] == [
        "procd_open_instance",
        f"procd_set_param command {prog} run --config /etc/config/routerguard --syslog",
        "procd_set_param respawn 3600 5 5",
        "procd_set_param term_timeout 20",
        "procd_set_param stdout 1",
        "procd_set_param stderr 1",
        "procd_set_param capabilities /etc/capabilities/routerguard.json",
        "procd_set_param no_new_privs 1",
        "procd_close_instance",
    ]


@SHELLS
def test_init_leaves_a_bad_config_stopped_and_logs_why(tmp_path, shell):
    result, calls = run_init(tmp_path, shell, "start_service", check="bad")
    assert result.returncode != 0
    assert "procd_open_instance" not in calls
    assert "logger -t routerguard -p daemon.err" in calls
    assert any("option 'listen'" in line for line in calls)
    assert "logread" in result.stderr


@SHELLS
def test_reload_sends_sighup_to_a_running_daemon(tmp_path, shell):
    _, calls = run_init(tmp_path, shell, "reload_service", running=True)
    assert calls == ["procd_send_signal routerguard * HUP"]


@SHELLS
def test_reload_starts_a_daemon_that_is_not_running(tmp_path, shell):
    """A config fixed with `uci commit routerguard` brings a refused service up."""
    _, calls = run_init(tmp_path, shell, "reload_service", running=False)
    assert calls == ["start"]


@SHELLS
def test_uplink_sends_sigusr1_to_a_running_daemon(tmp_path, shell):
    assert run_init(tmp_path, shell, "uplink", running=True)[1] == ["procd_send_signal routerguard * USR1"]


@SHELLS
def test_uplink_starts_a_daemon_that_check_kept_stopped(tmp_path, shell):
    """A modem that appears after boot: its ifup gives the service another try."""
    assert run_init(tmp_path, shell, "uplink", running=False)[1] == ["start"]


@SHELLS
def test_init_reloads_on_uci_commit_and_offers_check_and_uplink(tmp_path, shell):
    assert run_init(tmp_path, shell, "service_triggers")[1] == ["procd_add_reload_trigger routerguard"]
    assert init_extra_commands(tmp_path, shell) == ["extra_command check", "extra_command uplink"]


@SHELLS
def test_init_check_command_runs_routerguard_check(tmp_path, shell):
    result, calls = run_init(tmp_path, shell, "check", check="bad")
    assert result.returncode == 2
    assert calls == ["routerguard check --config /etc/config/routerguard"]


def test_init_script_is_an_rc_common_procd_script():
    text = INIT.read_text()
    assert text.startswith("#!/bin/sh /etc/rc.common\n")
    assert re.search(r"^USE_PROCD=1$", text, re.M)
    assert re.search(r"^START=\d+$", text, re.M) and re.search(r"^STOP=\d+$", text, re.M)


# --- the hotplug script ----------------------------------------------------------


def run_hotplug(tmp_path: Path, shell: list[str], enabled: bool = True, **event: str) -> list[str]:
    service, log, bin_dir = tmp_path / "service", tmp_path / "calls", tmp_path / "bin"
    service.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        echo "service $*" >> {log}
        [ "$1" != enabled ] || [ "{int(enabled)}" = 1 ]
        """))
    service.chmod(0o755)
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "logger").write_text(f"#!/bin/sh\necho \"logger $*\" >> {log}\n")
    (bin_dir / "logger").chmod(0o755)
    script = tmp_path / "90-routerguard"
    script.write_text(HOTPLUG.read_text().replace("/etc/init.d/routerguard", str(service)))
    log.write_text("")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", **event}
    # hotplug-call sources each script in a subshell
    subprocess.run([*shell, "-c", '( . "$0" )', str(script)], env=env, check=True, timeout=60,
                   stdin=subprocess.DEVNULL)
    return log.read_text().splitlines()


@SHELLS
def test_hotplug_tells_the_daemon_when_an_interface_goes_up_or_down(tmp_path, shell):
    for action in ("ifup", "ifdown"):
        calls = run_hotplug(tmp_path, shell, ACTION=action, INTERFACE="wwan", DEVICE="wwan0")
        assert calls[0] == "service enabled"
        assert calls[-1] == "service uplink"
        assert any(c.startswith("logger") and f"{action} of wwan (wwan0)" in c for c in calls)


@SHELLS
def test_hotplug_ignores_other_events_loopback_and_a_disabled_service(tmp_path, shell):
    assert run_hotplug(tmp_path, shell, ACTION="ifupdate", INTERFACE="wwan", DEVICE="wwan0") == []
    assert run_hotplug(tmp_path, shell, ACTION="ifup", INTERFACE="loopback", DEVICE="lo") == []
    assert run_hotplug(tmp_path, shell, enabled=False, ACTION="ifup", INTERFACE="wwan") == ["service enabled"]


@SHELLS
def test_hotplug_tells_the_daemon_when_the_page_s_interface_is_renumbered(tmp_path, shell):
    """netifd updates a static LAN in place (ifupdate with IFUPDATE_ADDRESSES=1): the daemon looks up
    listen_interface's addresses again; other interfaces' updates stay ignored."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "uci").write_text("#!/bin/sh\n[ \"$*\" = '-q get routerguard.main.listen_interface' ] && echo lan\n")
    (bin_dir / "uci").chmod(0o755)
    calls = run_hotplug(tmp_path, shell, ACTION="ifupdate", INTERFACE="lan", DEVICE="br-lan", IFUPDATE_ADDRESSES="1")
    assert calls[0] == "service enabled" and calls[-1] == "service uplink"
    assert run_hotplug(tmp_path, shell, ACTION="ifupdate", INTERFACE="wwan", IFUPDATE_ADDRESSES="1") == []
    assert run_hotplug(tmp_path, shell, ACTION="ifupdate", INTERFACE="lan", IFUPDATE_ROUTES="1") == []


# --- /usr/bin/routerguard ---------------------------------------------------------


def test_wrapper_puts_the_vendor_directory_before_site_packages(tmp_path):
    vendor = tmp_path / "vendor"
    (vendor / "routerguard").mkdir(parents=True)
    (vendor / "routerguard" / "__init__.py").write_text("")
    (vendor / "routerguard" / "__main__.py").write_text("import sys; print('vendor', sys.argv[1:])\n")
    wrapper = tmp_path / "routerguard"
    wrapper.write_text(WRAPPER.read_text().replace("/usr/lib/routerguard/vendor", str(vendor))
                       .replace("/usr/bin/python3", sys.executable))
    result = subprocess.run(["sh", str(wrapper), "status", "--json"], capture_output=True, text=True,
                            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, timeout=60)
    assert result.stdout == "vendor ['status', '--json']\n", result.stderr


def test_wrapper_never_imports_from_the_current_directory(tmp_path):
    (tmp_path / "routerguard").mkdir()
    (tmp_path / "routerguard" / "__init__.py").write_text("raise SystemExit('imported from the current directory')\n")
    wrapper = tmp_path / "wrapper"
    wrapper.write_text(WRAPPER.read_text().replace("/usr/bin/python3", sys.executable))
    result = subprocess.run(["sh", str(wrapper), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# --- systemd -------------------------------------------------------------------------


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(UNIT)
    return parser


def test_systemd_unit_runs_reloads_and_keeps_netlink_capabilities():
    service = unit()["Service"]
    assert service["Type"] == "simple"
    assert re.fullmatch(r"/\S+/routerguard run --config /\S+", service["ExecStart"])
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "2"
    assert {"CAP_NET_ADMIN", "CAP_NET_RAW"} <= set(service["CapabilityBoundingSet"].split())
    assert "AF_NETLINK" in service["RestrictAddressFamilies"].split()


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    copy = tmp_path / "routerguard.service"
    copy.write_text(UNIT.read_text().replace("/usr/local/bin/routerguard", shutil.which("true")))
    result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and not result.stderr.strip() and not result.stdout.strip(), \
        result.stdout + result.stderr
