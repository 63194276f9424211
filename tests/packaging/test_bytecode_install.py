"""The OpenWrt packages as they land on a router: byte code only, no sources, run in the lab.

The real wheel is built, the pinned wheels of openwrt/wheels.txt are downloaded
(once, into pytest's temporary directory) and installed with no index, and the
Makefile's own install recipes lay out both packages (tests/packaging/
openwrt_build.py). Flask and its libraries come as the feed's python3-* packages
do: byte code only. Then /usr/bin/routerguard from that tree (the package's
wrapper) runs the daemon in the virtual router, with the uplink's SNMP total read
from a real snmpd and routerguard's own SNMP agent on: what issue #20 found dead
on a router (pysnmp's MIB loader and today's .pyc: `bad marshal data`).
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from openwrt_build import SITE, VENDOR, real_pkg_install_dir, run_install_recipes
from routerguard.serve.snmp_agent import DEVICE_COUNT, PLAN
from routerguard_lab.lab_daemon import LabDaemon
from routerguard_lab.snmpd import SnmpAgent, free_udp_port
from routerguard_lab.wait import wait_until

pytestmark = [pytest.mark.lab, pytest.mark.slow]

# What python3-flask brings from the feed (its own DEPENDS, and theirs).
FEED_LIBRARIES = ("flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous", "click", "blinker")


def feed_packages(site: Path) -> None:
    """Flask and its libraries as the feed installs them: the installed distributions' files, then byte code only."""
    for name in FEED_LIBRARIES:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for file in dist.files or ():
            source = Path(dist.locate_file(file))
            if "__pycache__" in file.parts or file.parts[0].endswith(".dist-info") or file.parts[0] == "..":
                continue
            target = site / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-r", "20", "-b", "-d", "/", str(site)], check=True)
    for source in site.rglob("*.py"):
        source.unlink()


@pytest.fixture(scope="module")
def router_root(tmp_path_factory) -> Path:
    """The router's filesystem with both packages installed: the root of /usr/bin/routerguard and its libraries."""
    if os.geteuid() != 0 or not shutil.which("make"):
        pytest.skip("needs root (the lab) and make")
    work = tmp_path_factory.mktemp("bytecode")
    pkg_install = work / "ipkg-install"
    real_pkg_install_dir(pkg_install, work, tmp_path_factory.getbasetemp() / "wheel-cache")
    packages = run_install_recipes(work, pkg_install)
    root = work / "root"
    for package in ("routerguard", "routerguard-snmp"):
        shutil.copytree(packages[package], root, dirs_exist_ok=True)
    feeds = work / "feeds" / SITE
    feeds.mkdir(parents=True)
    feed_packages(feeds)
    shutil.copytree(feeds, root / SITE, dirs_exist_ok=True)
    return root


def routerguard_command(root: Path) -> list[str]:
    """/usr/bin/routerguard of `root`: the package's wrapper with its paths moved under `root`; python3 -S, so
    only the router's site-packages (PYTHONPATH here) and the vendor directory are on the path, never this
    checkout or the test's virtualenv."""
    wrapper = root / "usr/bin/routerguard-in-root"
    wrapper.write_text((root / "usr/bin/routerguard").read_text()
                       .replace("/usr/lib/routerguard/vendor", str(root / VENDOR))
                       .replace("/usr/bin/python3", f"{sys.executable} -S"))
    return ["env", f"PYTHONPATH={root / SITE}", "sh", str(wrapper)]


def test_the_installed_tree_is_byte_code_only_but_pysnmp_s_mib_modules(router_root):
    sources = [p.relative_to(router_root).as_posix() for p in router_root.rglob("*.py")]
    assert sources and all(s.startswith(f"{VENDOR}/pysnmp/smi/mibs/") for s in sources), sources
    assert (router_root / SITE / "routerguard/__main__.pyc").is_file()
    assert (router_root / VENDOR / "pysnmp/hlapi/v3arch/asyncio/__init__.pyc").is_file()


def test_snmp_total_and_agent_work_from_a_byte_code_only_install(lab, router_root):
    command = routerguard_command(router_root)
    version = lab.router.exec([*command, "--version"], check=False)
    assert version.returncode == 0, version.stdout + version.stderr
    wan_port, agent_port = free_udp_port(), free_udp_port()
    sections = (f"config snmp 'wan'\n\toption host '127.0.0.1'\n\toption port '{wan_port}'\n"
                "\toption if_name 'wan0'\n\toption interval '1'\n\n"
                f"config agent 'snmp'\n\toption enabled '1'\n\toption listen '127.0.0.1:{agent_port}'\n"
                "\toption community 'fleet-ro'\n")
    with SnmpAgent(netns=lab.router.ns.name, port=wan_port):
        daemon = LabDaemon(lab, sections, command=command).start()
        try:
            plan = wait_until(lambda: (p := daemon.api("GET", "/api/v1/plan"))["wan_snmp_bytes"] is not None and p,
                              60, "a first SNMP reading from snmpd")
            lab.clients[0].download(1_000_000)
            wait_until(lambda: daemon.api("GET", "/api/v1/plan")["wan_snmp_bytes"] > plan["wan_snmp_bytes"] + 1_000_000,
                       60, "the SNMP total to count the download")

            def agent_answer() -> str | None:
                got = lab.router.exec(["snmpget", "-v2c", "-c", "fleet-ro", "-On", "-t", "2", "-r", "1",
                                       f"udp:127.0.0.1:{agent_port}", ".".join(map(str, DEVICE_COUNT)) + ".0"],
                                      check=False)
                return got.stdout if got.returncode == 0 and "No Such" not in got.stdout else None

            answer = wait_until(agent_answer, 60, "routerguard's SNMP agent to answer")
            assert answer.startswith("." + ".".join(map(str, DEVICE_COUNT)))
            walk = lab.router.exec(["snmpwalk", "-v2c", "-c", "fleet-ro", "-On", "-t", "2", "-r", "1",
                                    f"udp:127.0.0.1:{agent_port}", ".".join(map(str, PLAN))], check=False)
            assert walk.returncode == 0 and walk.stdout.count("Counter64") >= 2, walk.stdout + walk.stderr
            assert "bad marshal" not in daemon.log() and "Traceback" not in daemon.log(), daemon.log()
        finally:
            daemon.stop()
