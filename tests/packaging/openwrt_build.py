"""OpenWrt's build system, as much of it as runs the packages' install recipes here.

OpenWrt's SDK is not on this machine: openwrt/Makefile's `Package/*/install`
recipes run under GNU make against stand-ins for rules.mk, package.mk and the
packages feed's python3-package.mk. The stand-ins do what the real ones do to
the files (the compileall command line of python3-package.mk, its deletion of
sources, its filespec), so what comes out is the .ipk's tree.

`pkg_install_dir` is what Build/Install leaves in PKG_INSTALL_DIR: routerguard's
wheel installed into site-packages and the bundled wheels into the vendor
directory. `fake=True` makes it without a build or a download (setuptools'
build_py, empty vendored packages) for the fast tests; `fake=False` builds the
real wheel and installs the pinned wheels themselves (downloaded once into
`cache`, checked against openwrt/wheels.txt's hashes).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OPENWRT = REPO / "openwrt"
PY_VERSION = "3.11"  # the directory's name as on OpenWrt 23.05 and 24.10; the byte code is this Python's
SITE = f"usr/lib/python{PY_VERSION}/site-packages"
VENDOR = "usr/lib/routerguard/vendor"

STUB_RULES_MK = """\
INSTALL_DIR:=install -d -m0755
INSTALL_BIN:=install -m0755
INSTALL_DATA:=install -m0644
INSTALL_CONF:=install -m0600
CP:=cp -fpR
FIND:=find
"""

STUB_PACKAGE_MK = """\
# Just enough of include/package.mk to run a package's install recipe.
define Download
endef
define BuildPackage
install-$(1):
\t$$(call Package/$(1)/install,$$(DESTDIR)/$(1))
endef
"""

# The commands are python3-package.mk's own (compileall's flags, the deletes).
STUB_PYTHON3_PACKAGE_MK = """\
PYTHON3_PKG_DIR:=/usr/lib/python{version}/site-packages
define Py3Package
endef
define Py3Package/ProcessFilespec
\t$(file >$(STUB)/filespec-$(1),$(Py3Package/$(1)/filespec))
\tsh $(STUB)/filespec.sh "$(2)" "$(3)" "$(STUB)/filespec-$(1)"
endef
define Python3/CompileAll
\t$(STUB_PYTHON) -m compileall -q -r 20 -b -d '/' $(1)
endef
define Python3/DeleteSourceFiles
\t$(FIND) $(1) -type f -name '*.py' -delete
endef
define Python3/DeleteEmptyDirs
\t$(FIND) $(1) -mindepth 1 -empty -type d -delete
endef
"""

# `+|path` copies src/path to dest/path, `-|path` removes dest/path.
STUB_FILESPEC_SH = """\
src="$1"; dest="$2"
while IFS='|' read -r cmd path; do
\tcase "$cmd" in
\t\t*+*) mkdir -p "$dest/${path%/*}" && cp -pR "$src$path" "$dest${path%/*}/" || exit 1 ;;
\t\t*-*) [ -e "$dest$path" ] || { echo "not found: $path" >&2; exit 1; }; rm -rf "$dest$path" ;;
\tesac
done < "$3"
"""


def python_version() -> str:
    match = re.search(r'^__version__\s*=\s*"([^"]+)"', (REPO / "routerguard" / "__init__.py").read_text(), re.M)
    assert match, "routerguard/__init__.py has no __version__"
    return match.group(1)


def pinned_wheels() -> dict[str, tuple[str, str]]:
    """openwrt/wheels.txt: name -> (version, sha256) of each bundled wheel."""
    lines = (OPENWRT / "wheels.txt").read_text().splitlines()
    return {m[1]: (m[2], m[3]) for m in (re.fullmatch(r"(\S+)==(\S+) --hash=sha256:(\S+)", line) for line in lines) if m}


def fake_pkg_install_dir(root: Path) -> None:
    """Build/Install's result without building: setuptools lays out the package (its `build_py`, the step that
    fills a wheel, so what setup.cfg leaves out is missing here as in the .ipk); the vendored wheels are stand-ins."""
    site = root / SITE
    subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py",
                    "--build-lib", str(site)], cwd=REPO, check=True, capture_output=True)
    (site / f"routerguard-{python_version()}.dist-info").mkdir()
    (site / f"routerguard-{python_version()}.dist-info" / "METADATA").write_text("Name: routerguard\n")
    vendor = root / VENDOR
    for name, (version, _) in pinned_wheels().items():
        (vendor / name).mkdir(parents=True)
        (vendor / name / "__init__.py").write_text(f"__version__ = {version!r}\n")
        (vendor / f"{name}-{version}.dist-info").mkdir()
        (vendor / f"{name}-{version}.dist-info" / "METADATA").write_text(f"Name: {name}\n")
    mibs = vendor / "pysnmp/smi/mibs"  # read by pysnmp's own loader, not imported (the Makefile keeps them sources)
    (mibs / "instances").mkdir(parents=True)
    for path in (mibs / "__init__.py", mibs / "SNMPv2-MIB.py", mibs / "instances/__init__.py",
                 mibs / "instances/__SNMPv2-MIB.py"):
        path.write_text("mibBuilder.export_symbols('SNMPv2-MIB')\n" if "MIB" in path.name else "")


def pip(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", "-q", *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def downloaded_wheels(cache: Path) -> list[Path]:
    """The pinned wheels, as the SDK's download step leaves them in DL_DIR: fetched once, hashes checked."""
    wanted = [cache / f"{name}-{version}-py3-none-any.whl" for name, (version, _) in pinned_wheels().items()]
    if not all(w.is_file() for w in wanted):
        cache.mkdir(parents=True, exist_ok=True)
        pip("download", "--no-deps", "--only-binary", ":all:", "--require-hashes", "-d", str(cache),
            "-r", str(OPENWRT / "wheels.txt"))
    return wanted


def real_pkg_install_dir(root: Path, work: Path, cache: Path) -> None:
    """Build/Install's result: the project's wheel built and installed into site-packages (Py3Build), the pinned
    wheels installed from their downloaded files with no index into the vendor directory (the Makefile's command)."""
    source, dist = work / "source", work / "dist"
    source.mkdir()
    for name in ("pyproject.toml", "setup.cfg", "README.md", "LICENSE", "routerguard", "routerguard_lab", "web"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif (REPO / name).is_file():
            shutil.copy2(REPO / name, source / name)
    pip("wheel", "--no-deps", "-w", str(dist), str(source))  # the tarball's tree, not the checkout (no build/ there)
    (wheel,) = dist.glob("routerguard-*.whl")
    pip("install", "--no-deps", "--no-compile", "--target", str(root / SITE), str(wheel))
    pip("install", "--no-index", "--no-deps", "--no-compile", "--target", str(root / VENDOR),
        *map(str, downloaded_wheels(cache)))
    shutil.rmtree(root / VENDOR / "bin", ignore_errors=True)


def run_install_recipes(work: Path, pkg_install: Path) -> dict[str, Path]:
    """Runs the Makefile's install recipes on PKG_INSTALL_DIR `pkg_install`; returns each package's root."""
    top = work / "top"
    (top / "include").mkdir(parents=True)
    (top / "rules.mk").write_text(STUB_RULES_MK)
    (top / "include" / "package.mk").write_text(STUB_PACKAGE_MK)
    python_mk = top / "feeds/packages/lang/python/python3-package.mk"
    python_mk.parent.mkdir(parents=True)
    python_mk.write_text(STUB_PYTHON3_PACKAGE_MK.format(version=PY_VERSION))
    (top / "filespec.sh").write_text(STUB_FILESPEC_SH)
    dest = work / "ipkg"
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(OPENWRT), "-f", "Makefile",
         f"TOPDIR={top}", f"INCLUDE_DIR={top / 'include'}", f"STUB={top}", f"STUB_PYTHON={sys.executable}",
         f"PKG_INSTALL_DIR={pkg_install}", f"DESTDIR={dest}",
         "install-routerguard", "install-routerguard-snmp"],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return {"routerguard": dest / "routerguard", "routerguard-snmp": dest / "routerguard-snmp"}
