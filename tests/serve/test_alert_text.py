"""Alerts read in the reader's language: the page renders them from what they are about."""

from flask import Flask, g

from routerguard.decide.alerts import threshold_alert, unusual_use
from routerguard.decide.policy import Limit
from routerguard.serve.i18n import alert_kind, alert_text


def render(alert, lang):
    app = Flask(__name__)
    with app.test_request_context():
        g.lang = lang
        return alert_text({"kind": alert.kind, "message": alert.message, "params": alert.params})


def test_a_threshold_alert_reads_in_both_languages():
    limit = Limit("device", 1_000_000_000, 800_000_000, "block")
    alert, _ = threshold_alert("device:x", "Zhang phone's daily cap", limit, (80, 95), set(), "x",
                               {"subject": "device", "name": "Zhang phone"})
    assert render(alert, "en") == "Zhang phone's cap is 80% used (800.0 MB of 1.0 GB)."
    assert render(alert, "zh-CN") == "Zhang phone 的流量额度已用 80%（已用 800.0 MB，共 1.0 GB）。"


def test_the_plan_used_up_in_chinese():
    alert, _ = threshold_alert("plan", "The plan", Limit("plan", 100, 100, "block"), (80,), set(), None, {"subject": "plan"})
    assert render(alert, "zh-CN").startswith("流量套餐已用完")


def test_an_unusual_burst_reads_in_chinese():
    hour = 3600
    alerts = unusual_use("x", "Laptop", 50_000_000, [(t * hour, 100_000) for t in range(100)], 200 * hour, 0,
                         lambda t: int(t // hour) % 24)
    assert alerts and "Laptop 最近 10 分钟用了 50.0 MB" in render(alerts[0], "zh-CN")


def test_an_alert_without_params_shows_its_stored_sentence():
    app = Flask(__name__)
    with app.test_request_context():
        g.lang = "zh-CN"
        assert alert_text({"kind": "threshold", "message": "old sentence", "params": {}}) == "old sentence"


def test_alert_kinds_are_words_of_the_readers_language():
    app = Flask(__name__)
    with app.test_request_context():
        g.lang = "zh-CN"
        assert alert_kind("unusual_rate") == "用量异常"
        assert alert_kind("something_new") == "something_new"
