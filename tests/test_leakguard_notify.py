"""Alerts pushed to every channel: a real HTTP receiver on 127.0.0.1, retries, no blocking.

The chat services (Telegram, WeCom, DingTalk, Feishu, Bark) are stood in for by
the receiver, which checks what their servers check: the URL path, the JSON
keys, and the DingTalk and Feishu signatures, recomputed here from their docs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
from typing import Iterator

import pytest

from routerguard.config.model import Notify
from routerguard.notify import TEST_ALERT, Notifier, deliveries, mask, send_test
from routerguard.serve.words import chat_words
from routerguard_lab.receiver import Receiver
from routerguard_lab.wait import wait_until

ALERT = {"id": 7, "kind": "threshold", "mac": None, "message": "The plan is 80% used (16 GB of 20 GB).",
         "time": "2026-11-25T01:00:00Z", "level": 80}
NOW = "2026-11-25T01:00:00Z"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def notifier() -> Iterator[Notifier]:
    n = Notifier(timeout=2.0, pauses=(0.05, 0.05))
    n.start()
    yield n
    n.stop()


def test_the_webhook_gets_the_alert_as_json(receiver: Receiver, notifier: Notifier) -> None:
    notifier.push(Notify(webhook=receiver.url("/hook")), ALERT)
    wait_until(lambda: receiver.requests, 5, "the webhook POST")
    path, headers, body = receiver.requests[0]
    assert path == "/hook" and headers["Content-Type"] == "application/json"
    assert json.loads(body) == ALERT


def test_ntfy_gets_the_message_as_text_with_a_title(receiver: Receiver, notifier: Notifier) -> None:
    notifier.push(Notify(ntfy=receiver.url("/routerguard-topic")), {**ALERT, "kind": "unusual_hour", "level": 0})
    wait_until(lambda: receiver.requests, 5, "the ntfy POST")
    path, headers, body = receiver.requests[0]
    assert path == "/routerguard-topic" and body.decode() == ALERT["message"]
    assert headers["Title"] == "routerguard: unusual hour" and headers["Priority"] == "high"


def test_a_failing_target_is_retried_until_it_answers(receiver: Receiver, notifier: Notifier) -> None:
    receiver.statuses = [503, 500]
    notifier.push(Notify(webhook=receiver.url("/hook")), ALERT)
    notifier.push(Notify(webhook=receiver.url("/after")), ALERT)
    wait_until(lambda: any(path == "/after" for path, _, _ in receiver.requests), 5, "the next alert")
    assert [path for path, _, _ in receiver.requests] == ["/hook"] * 3 + ["/after"]


def test_a_refusal_is_not_retried(receiver: Receiver, notifier: Notifier) -> None:
    receiver.statuses = [404]
    notifier.push(Notify(webhook=receiver.url("/hook"), ntfy=receiver.url("/topic")), ALERT)
    notifier.push(Notify(webhook=receiver.url("/after")), ALERT)
    wait_until(lambda: any(path == "/after" for path, _, _ in receiver.requests), 5, "the next alert")
    assert [path for path, _, _ in receiver.requests] == ["/hook", "/topic", "/after"]


def test_pushing_never_waits_for_an_unreachable_target(notifier: Notifier) -> None:
    started = time.monotonic()
    for _ in range(200):  # more than the queue holds: the rest are logged, not waited for
        notifier.push(Notify(webhook="http://127.0.0.1:9/unreachable"), ALERT)
    assert time.monotonic() - started < 0.5


# --- the chat channels, each in its documented shape -----------------------------------

TOKEN = "123456789:AAE-test_token_0123"
THRESHOLD = {**ALERT, "params": {"subject": "plan", "level": 80, "used": 16 * 10**9, "allowance": 20 * 10**9}}


def answering(receiver: Receiver, body: dict, status: int = 200) -> Receiver:
    receiver.reply = lambda path, sent: (status, json.dumps(body).encode())
    return receiver


def only_request(receiver: Receiver) -> tuple[urllib.parse.SplitResult, dict]:
    [(path, headers, body)] = receiver.requests
    assert headers["Content-Type"].startswith("application/json")
    return urllib.parse.urlsplit(path), json.loads(body)


def test_telegram_gets_send_message_with_the_chat_and_the_text(receiver: Receiver) -> None:
    answering(receiver, {"ok": True, "result": {"message_id": 1}})
    [outcome] = send_test(Notify(telegram_token=TOKEN, telegram_chat="-1001234567890", telegram_api=receiver.url("")), NOW)
    url, body = only_request(receiver)
    assert url.path == f"/bot{TOKEN}/sendMessage"
    assert body == {"chat_id": "-1001234567890", "text": "routerguard: test\n" + TEST_ALERT["message"]}
    assert (outcome.channel, outcome.ok, outcome.status, outcome.error) == ("telegram", True, 200, None)


def test_a_telegram_refusal_says_why(receiver: Receiver) -> None:
    answering(receiver, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}, 400)
    [outcome] = send_test(Notify(telegram_token=TOKEN, telegram_chat="42", telegram_api=receiver.url("")), NOW)
    assert not outcome.ok and outcome.status == 400 and "chat not found" in outcome.error


def test_wecom_gets_a_text_message_at_its_key(receiver: Receiver) -> None:
    answering(receiver, {"errcode": 0, "errmsg": "ok"})
    [outcome] = send_test(Notify(wecom=receiver.url("/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4")), NOW)
    url, body = only_request(receiver)
    assert url.path == "/cgi-bin/webhook/send" and urllib.parse.parse_qs(url.query) == {"key": ["693a91f6-7xxx-4bc4"]}
    assert body == {"msgtype": "text", "text": {"content": "routerguard: test\n" + TEST_ALERT["message"]}}
    assert outcome.ok


def test_a_refusal_in_a_200_answer_is_a_failure(receiver: Receiver) -> None:
    answering(receiver, {"errcode": 93000, "errmsg": "invalid webhook url"})
    [outcome] = send_test(Notify(wecom=receiver.url("/cgi-bin/webhook/send?key=wrong")), NOW)
    assert (outcome.ok, outcome.status, outcome.error) == (False, 200, "errcode 93000: invalid webhook url")


def dingtalk_accepts(url: urllib.parse.SplitResult, secret: str) -> bool:
    """DingTalk's check: sign = base64(HMAC-SHA256(key=secret, "<timestamp ms>\\n<secret>")), timestamp within an hour."""
    query = urllib.parse.parse_qs(url.query)
    stamp = query["timestamp"][0]
    expected = base64.b64encode(hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()).decode()
    return query["sign"] == [expected] and abs(int(stamp) / 1000 - time.time()) < 3600


def test_dingtalk_gets_a_signed_text_message(receiver: Receiver) -> None:
    secret = "SEC0123456789abcdef+/="
    answering(receiver, {"errcode": 0, "errmsg": "ok"})
    [outcome] = send_test(Notify(dingtalk=receiver.url("/robot/send?access_token=abc123"), dingtalk_secret=secret), NOW)
    url, body = only_request(receiver)
    assert url.path == "/robot/send" and urllib.parse.parse_qs(url.query)["access_token"] == ["abc123"]
    assert dingtalk_accepts(url, secret) and not dingtalk_accepts(url, secret + "x")
    assert body == {"msgtype": "text", "text": {"content": "routerguard: test\n" + TEST_ALERT["message"]}}
    assert outcome.ok


def test_dingtalk_without_a_secret_is_not_signed(receiver: Receiver) -> None:
    answering(receiver, {"errcode": 0, "errmsg": "ok"})
    send_test(Notify(dingtalk=receiver.url("/robot/send?access_token=abc123")), NOW)
    url, _ = only_request(receiver)
    assert urllib.parse.parse_qs(url.query) == {"access_token": ["abc123"]}


def feishu_accepts(body: dict, secret: str) -> bool:
    """Feishu's check: sign = base64(HMAC-SHA256(key="<timestamp s>\\n<secret>", empty message)), timestamp within an hour."""
    key = f"{body['timestamp']}\n{secret}".encode()
    expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    return body["sign"] == expected and abs(int(body["timestamp"]) - time.time()) < 3600


def test_feishu_gets_a_signed_text_message(receiver: Receiver) -> None:
    secret = "f3ishu-s3cret"
    answering(receiver, {"code": 0, "msg": "success", "data": {}})
    [outcome] = send_test(Notify(feishu=receiver.url("/open-apis/bot/v2/hook/1b2c3d4e"), feishu_secret=secret), NOW)
    url, body = only_request(receiver)
    assert url.path == "/open-apis/bot/v2/hook/1b2c3d4e"
    assert set(body) == {"timestamp", "sign", "msg_type", "content"} and feishu_accepts(body, secret)
    assert not feishu_accepts(body, "another")
    assert body["msg_type"] == "text" and body["content"] == {"text": "routerguard: test\n" + TEST_ALERT["message"]}
    assert outcome.ok


def test_a_feishu_signature_refusal_is_a_failure(receiver: Receiver) -> None:
    answering(receiver, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"})
    [outcome] = send_test(Notify(feishu=receiver.url("/open-apis/bot/v2/hook/x"), feishu_secret="s"), NOW)
    assert not outcome.ok and outcome.error.startswith("code 19021")


def test_bark_gets_title_and_body_for_the_device(receiver: Receiver) -> None:
    answering(receiver, {"code": 200, "message": "success", "timestamp": 1})
    [outcome] = send_test(Notify(bark=receiver.url(""), bark_key="ynJ5Ft4atkMkWeo2PAvFhF"), NOW)
    url, body = only_request(receiver)
    assert url.path == "/push"
    assert body == {"title": "routerguard: test", "body": TEST_ALERT["message"], "device_key": "ynJ5Ft4atkMkWeo2PAvFhF",
                    "group": "routerguard"}
    assert outcome.ok


def test_every_channel_is_tried_and_says_how_it_went(receiver: Receiver) -> None:
    receiver.reply = lambda path, body: (404, b"") if path.startswith("/hook") else (200, b"")
    outcomes = send_test(Notify(webhook=receiver.url("/hook"), ntfy=receiver.url("/topic"),
                                wecom="http://127.0.0.1:9/cgi-bin/webhook/send?key=k"), NOW, timeout=2.0)
    assert [(o.channel, o.ok, o.status) for o in outcomes] == [("webhook", False, 404), ("ntfy", True, 200), ("wecom", False, None)]
    assert outcomes[0].error == "HTTP 404" and outcomes[2].error  # no answer: why (connection refused)


def test_chats_read_in_the_sections_language(receiver: Receiver) -> None:
    answering(receiver, {"errcode": 0, "errmsg": "ok"})
    notifier = Notifier(timeout=2.0, pauses=(), render=chat_words)
    notifier.start()
    try:
        notifier.push(Notify(wecom=receiver.url("/send?key=k"), webhook=receiver.url("/hook"), language="zh-CN"), THRESHOLD)
        wait_until(lambda: len(receiver.requests) == 2, 5, "the alert in both channels")
    finally:
        notifier.stop()
    sent = {path: json.loads(body) for path, _, body in receiver.requests}
    assert sent["/send?key=k"]["text"]["content"] == "routerguard 提醒：流量上限\n流量套餐已用 80%（已用 16.0 GB，共 20.0 GB）。"
    assert sent["/hook"]["message"] == ALERT["message"]  # the webhook's JSON keeps the English sentence (and the params)


def test_english_chats_keep_the_alerts_sentence() -> None:
    [delivery] = deliveries(Notify(wecom="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"), THRESHOLD, chat_words)
    assert json.loads(delivery.request(time.time()).data)["text"]["content"] == "routerguard: threshold\n" + ALERT["message"]


def test_secrets_are_masked_to_their_last_characters() -> None:
    assert mask("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7aoc") == "https://qyapi.weixin.qq.com/****7aoc"
    assert mask(TOKEN) == "****0123"
    assert mask("SEC12") == "****"  # too short to show any of it
    assert mask(None) is None
