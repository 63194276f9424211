"""Where alerts go, over real HTTP: GET/PUT /api/v1/notify written to the UCI file, secrets masked, the test alert."""

from __future__ import annotations

import json
from typing import Iterator

import pytest
import requests

from routerguard_lab.receiver import Receiver
from web_util import Site

TOKEN = "123456789:AAE-test_token_0123"
WECOM = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7aoc-4bc4-97a0-0ec2sifa5aaa"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def put(site: Site, body: object, expect: int = 200) -> dict:
    response = requests.put(site.url("/api/v1/notify"), json=body, headers=site.bearer())
    assert response.status_code == expect, response.text
    return response.json()


def get(site: Site) -> dict:
    return requests.get(site.url("/api/v1/notify"), headers=site.bearer()).json()


def test_nothing_is_set_up_at_first(site: Site) -> None:
    view = get(site)
    assert (view["webhook"], view["ntfy"], view["thresholds"], view["channels"]) == (None, None, [80, 95], [])
    assert view["telegram_api"] == "https://api.telegram.org" and view["language"] == "en"


def test_a_change_is_written_to_the_file_and_in_effect_at_once(site: Site) -> None:
    view = put(site, {"webhook": "http://192.0.2.10/hook", "ntfy": "https://ntfy.sh/trip-router", "thresholds": [95, 50, 80]})
    assert (view["webhook"], view["ntfy"], view["thresholds"]) == ("http://192.0.2.10/hook", "https://ntfy.sh/trip-router", [50, 80, 95])
    text = site.config_bytes().decode()
    assert "option webhook 'http://192.0.2.10/hook'" in text and "list threshold '50'" in text
    assert site.core.config.notify.thresholds == (50, 80, 95)
    assert site.core.snapshot().config.notify.webhook == "http://192.0.2.10/hook"
    view = put(site, {"webhook": None})  # null clears; what is not sent stays
    assert view["webhook"] is None and view["ntfy"] == "https://ntfy.sh/trip-router"
    assert "webhook" not in site.config_bytes().decode()


def test_secrets_are_never_shown_back_and_a_masked_value_keeps_them(site: Site, admin: requests.Session) -> None:
    view = put(site, {"telegram_token": TOKEN, "telegram_chat": "-1001234567890", "wecom": WECOM,
                      "dingtalk": "https://oapi.dingtalk.com/robot/send?access_token=abcdef0123456789",
                      "dingtalk_secret": "SECabcdef0123456789", "language": "zh-CN"})
    assert view["telegram_token"] == "****0123" and view["wecom"] == "https://qyapi.weixin.qq.com/****5aaa"
    assert view["dingtalk"] == "https://oapi.dingtalk.com/****6789" and view["dingtalk_secret"] == "****6789"
    assert view["telegram_chat"] == "-1001234567890" and view["channels"] == ["telegram", "wecom", "dingtalk"]
    before = site.config_bytes()
    assert put(site, view) == view  # the view sent back as it is: nothing changes
    assert site.config_bytes() == before
    page = admin.get(site.url("/admin/notify")).text
    for secret in (TOKEN, WECOM, "abcdef0123456789", "SECabcdef0123456789"):
        assert secret not in page and secret not in json.dumps(get(site))
    assert site.core.config.notify.telegram_token == TOKEN


@pytest.mark.parametrize("body, field", [
    ({"webhook": "ftp://192.0.2.10/hook"}, "webhook"),
    ({"ntfy": "ntfy.sh/topic"}, "ntfy"),
    ({"wecom": 5}, "wecom"),
    ({"thresholds": [0, 80]}, "thresholds"),
    ({"thresholds": [80, 101]}, "thresholds"),
    ({"thresholds": [10, 20, 30, 40, 50, 60]}, "thresholds"),
    ({"thresholds": []}, "thresholds"),
    ({"thresholds": [80.5]}, "thresholds"),
    ({"telegram_token": "not a token", "telegram_chat": "42"}, "telegram_token"),
    ({"telegram_token": TOKEN}, "telegram_chat"),  # one without the other is no use
    ({"language": "fr"}, "language"),
    ({"discord": "https://discord.com/api/webhooks/1"}, "discord"),
    ([], "object"),
])
def test_bad_input_is_refused_naming_the_field_and_changes_nothing(site: Site, body: object, field: str) -> None:
    put(site, {"webhook": "http://192.0.2.10/hook"})
    before = site.config_bytes()
    error = put(site, body, expect=422)["error"]
    assert field in error
    assert site.config_bytes() == before and site.core.config.notify.webhook == "http://192.0.2.10/hook"


def test_the_test_alert_reaches_every_channel_and_says_how_each_went(site: Site, receiver: Receiver) -> None:
    receiver.reply = lambda path, body: ((200, b'{"errcode":0,"errmsg":"ok"}') if path.startswith("/wecom")
                                         else (404, b"") if path.startswith("/gone") else (200, b""))
    put(site, {"webhook": receiver.url("/hook"), "ntfy": receiver.url("/gone"), "wecom": receiver.url("/wecom?key=k")})
    response = requests.post(site.url("/api/v1/notify/test"), headers=site.bearer())
    assert response.status_code == 200
    assert response.json() == {"results": [
        {"channel": "webhook", "ok": True, "status": 200, "error": None},
        {"channel": "ntfy", "ok": False, "status": 404, "error": "HTTP 404"},
        {"channel": "wecom", "ok": True, "status": 200, "error": None},
    ]}
    hook = next(json.loads(body) for path, _, body in receiver.requests if path == "/hook")
    assert hook["kind"] == "test" and hook["message"].startswith("This is a test alert")


def test_no_channel_no_results(site: Site) -> None:
    assert requests.post(site.url("/api/v1/notify/test"), headers=site.bearer()).json() == {"results": []}


def test_the_routes_need_the_admin(site: Site) -> None:
    assert requests.get(site.url("/api/v1/notify")).status_code == 401
    assert requests.post(site.url("/api/v1/notify/test")).status_code == 401
