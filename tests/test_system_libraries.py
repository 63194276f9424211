"""`check` on OpenWrt 23.05: its Flask 2.0.2 and Werkzeug 2.0 are refused with the release to upgrade to."""

from routerguard.system import libraries


def test_new_enough_libraries_pass():
    assert libraries.web_libraries().ok


def test_openwrt_23_05_s_flask_and_werkzeug_are_refused(monkeypatch):
    versions = {"flask": "2.0.2", "werkzeug": "2.0.3"}
    monkeypatch.setattr(libraries.metadata, "version", lambda name: versions[name])
    finding = libraries.web_libraries()
    assert not finding.ok and finding.blocking
    assert "flask 2.0 (needs 2.2 or later)" in finding.what and "werkzeug 2.0 (needs 2.3 or later)" in finding.what
    assert "24.10" in finding.what
