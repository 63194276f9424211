"""luci-app-routerguard: LuCI's layout, the menu and ACL, the JavaScript checked and unit-tested with node.

The views run in LuCI's browser runtime (`'require view'`, E(), _()); node
checks their syntax, and runs the pure parts (htdocs/.../routerguard/fmt.js,
the page link) with stand-ins for LuCI's classes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "openwrt" / "luci-app-routerguard"
HTDOCS = APP / "htdocs" / "luci-static" / "resources"
VIEWS = HTDOCS / "view" / "routerguard"
FMT = HTDOCS / "routerguard" / "fmt.js"
MENU = APP / "root/usr/share/luci/menu.d/luci-app-routerguard.json"
ACL = APP / "root/usr/share/rpcd/acl.d/luci-app-routerguard.json"
RPCD_METHODS = {"status", "devices", "plan", "page", "block", "set_password", "create_token"}


def node() -> str:
    found = shutil.which("node") or shutil.which("nodejs")
    if not found:
        pytest.skip("node is not installed (.ci/deps installs nodejs)")
    return found


def js_files() -> list[Path]:
    return sorted(HTDOCS.rglob("*.js"))


def test_the_app_is_in_the_luci_feed_s_layout():
    makefile = (APP / "Makefile").read_text()
    assert "include $(TOPDIR)/feeds/luci/luci.mk" in makefile
    assert re.search(r"^LUCI_DEPENDS:=.*\+routerguard\b", makefile, re.M)
    assert (APP / "po/templates/routerguard.pot").is_file() and (APP / "po/zh_Hans/routerguard.po").is_file()
    assert {p.name for p in VIEWS.glob("*.js")} == {"status.js", "settings.js", "page.js"}
    assert list((HTDOCS / "view/status/include").glob("*_routerguard.js"))


def test_menu_entries_open_views_that_exist_under_services():
    menu = json.loads(MENU.read_text())
    top = menu["admin/services/routerguard"]
    assert set(top["depends"]["acl"]) <= set(json.loads(ACL.read_text()))
    views = [e["action"]["path"] for e in menu.values() if e["action"]["type"] == "view"]
    assert sorted(views) == ["routerguard/page", "routerguard/settings", "routerguard/status"]
    for path in views:
        assert (HTDOCS / "view" / f"{path}.js").is_file()
    assert menu[top["action"]["path"]]["action"]["path"] == "routerguard/status"


def test_the_acl_grants_routerguard_s_config_and_its_ubus_methods_only():
    grant = json.loads(ACL.read_text())["luci-app-routerguard"]
    assert grant["read"] == {"ubus": {"routerguard": ["status", "devices", "plan", "page"]}, "uci": ["routerguard"]}
    assert grant["write"] == {"ubus": {"routerguard": ["block", "set_password", "create_token"]}, "uci": ["routerguard"]}
    methods = set(grant["read"]["ubus"]["routerguard"]) | set(grant["write"]["ubus"]["routerguard"])
    from routerguard.rpcd import METHODS
    assert methods == set(METHODS) == RPCD_METHODS


def test_every_view_calls_only_methods_the_acl_grants():
    granted = RPCD_METHODS
    for path in js_files():
        for method in re.findall(r"object: 'routerguard', method: '(\w+)'", path.read_text()):
            assert method in granted, f"{path.name} calls {method}"


@pytest.mark.parametrize("path", js_files(), ids=lambda p: p.relative_to(HTDOCS).as_posix())
def test_javascript_passes_node_s_syntax_check(path, tmp_path):
    # LuCI's files are function bodies (they `return` their class): check them wrapped as one
    wrapped = tmp_path / "wrapped.js"
    wrapped.write_text("(function() {\n" + path.read_text() + "\n});\n")
    result = subprocess.run([node(), "--check", str(wrapped)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_every_translatable_string_is_in_the_template_and_in_chinese():
    pot = (APP / "po/templates/routerguard.pot").read_text()
    po = (APP / "po/zh_Hans/routerguard.po").read_text()
    translated = dict(re.findall(r'^msgid "((?:[^"\\]|\\.)*)"\nmsgstr "((?:[^"\\]|\\.)*)"', po, re.M))
    for path in js_files():
        for text in re.findall(r"_\('((?:[^'\\]|\\.)*)'\)", path.read_text()):
            text = text.replace("\\'", "'")
            assert f'msgid "{text}"' in pot, f"{path.name}: {text!r} is not in the template"
            assert translated.get(text), f"{path.name}: {text!r} has no Chinese"
    for text in re.findall(r"^\s*(?:\w+): '([^']+)'", FMT.read_text(), re.M):  # stateLabel's words
        assert translated.get(text), f"fmt.js: {text!r} has no Chinese"
    if shutil.which("msgfmt"):
        result = subprocess.run(["msgfmt", "-o", "/dev/null", str(APP / "po/zh_Hans/routerguard.po")],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def test_pure_parts_pass_their_node_unit_tests():
    result = subprocess.run([node(), "--test", str(Path(__file__).with_name("luci_fmt.test.js"))],
                            capture_output=True, text=True, timeout=120, env={"RG_FMT": str(FMT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^# fail 0$", result.stdout, re.M) and not re.search(r"^# pass 0$", result.stdout, re.M)


LUCI_VIEW_RUNNER = """\
// Runs the view with stand-ins for LuCI's view, uci, E() and _().
const fs = require('fs');
const [file, listen, pageHost] = process.argv.slice(2);
const view = { extend: (o) => o };
const uci = { load: () => Promise.resolve(), get: () => JSON.parse(listen) };
const E = (tag, attrs, children) => ({ tag, attrs, children });
const window = { location: { hostname: pageHost } };
const v = new Function('view', 'uci', 'E', '_', 'window', fs.readFileSync(file, 'utf8'))(view, uci, E, (s) => s, window);
const links = [];
(function walk(n) { if (n && n.tag === 'a') links.push(n.attrs.href); ((n && n.children) || []).forEach(walk); })(v.render());
console.log(links.join(' '));
"""


@pytest.mark.parametrize("listen, page_host, url", [
    ('"192.168.8.1:8080"', "openwrt.lan", "http://192.168.8.1:8080/"),
    ('["10.0.0.1:9000", "[fd00::1]:9000"]', "10.0.0.1", "http://10.0.0.1:9000/"),
    ('"[fd00::1]:8080"', "x", "http://[fd00::1]:8080/"),
    ('"0.0.0.0:8080"', "192.168.8.1", "http://192.168.8.1:8080/"),
    ('"192.168.8.1"', "x", "http://192.168.8.1:8080/"),
    ('"fd00::1"', "x", "http://[fd00::1]:8080/"),
    ('null', "192.168.8.1", "http://192.168.8.1:8080/"),
])
def test_luci_view_links_to_the_page_on_the_listen_address(tmp_path, listen, page_host, url):
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    runner = tmp_path / "run.js"
    runner.write_text(LUCI_VIEW_RUNNER)
    result = subprocess.run(["node", str(runner), str(VIEWS / "page.js"), listen, page_host],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [url]


