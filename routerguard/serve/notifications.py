"""Where alerts go: the notify routes of the API and the notifications page.

The page's one form holds every channel; "send a test alert" saves what was
typed and then sends, so a webhook entered and tested in one tap is tested
as it will be used. The results are shown on the answer itself (each
channel's outcome is only known then), not after a redirect.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, jsonify, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from routerguard.config.model import NOTIFY_OPTIONS, ConfigError
from routerguard.serve.admin import act
from routerguard.serve.admin import guard as admin_guard
from routerguard.serve.api import guard as api_guard
from routerguard.serve.context import json_body, service
from routerguard.serve.words import chat_words
from routerguard.service import Invalid

bp = Blueprint("notifications", __name__)

# The page's sections: a channel and its fields (the options of `config notify`), in the order shown.
CHANNELS = (
    ("webhook", ("webhook",)),
    ("ntfy", ("ntfy",)),
    ("telegram", ("telegram_token", "telegram_chat", "telegram_api")),
    ("wecom", ("wecom",)),
    ("dingtalk", ("dingtalk", "dingtalk_secret")),
    ("feishu", ("feishu", "feishu_secret")),
    ("bark", ("bark_key", "bark")),
)
# What each field looks like (the services' own address shapes), shown in empty fields.
PLACEHOLDERS = {
    "webhook": "https://example.com/hook",
    "ntfy": "https://ntfy.sh/your-topic",
    "telegram_token": "123456789:AAE...",
    "telegram_chat": "-1001234567890",
    "wecom": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...",
    "dingtalk": "https://oapi.dingtalk.com/robot/send?access_token=...",
    "dingtalk_secret": "SEC...",
    "feishu": "https://open.feishu.cn/open-apis/bot/v2/hook/...",
}

bp.before_request(lambda: api_guard() if request.path.startswith("/api/") else admin_guard())


@bp.get("/api/v1/notify")
def get_notify() -> Response:
    return jsonify(service().notify())


@bp.put("/api/v1/notify")
def put_notify() -> Response:
    return jsonify(service().put_notify(json_body()))


@bp.post("/api/v1/notify/test")
def test_notify() -> Response:
    return jsonify(results=service().test_notify(chat_words))


# --- the page --------------------------------------------------------------------------


def page(error: str | None = None, results: list[dict] | None = None, typed: MultiDict | None = None) -> str:
    """The page; after a refused change it shows what was typed (with why), not the stored values."""
    shown = service().notify()
    if typed is not None:
        shown = {**shown, **{name: typed.get(name, "") for name in NOTIFY_OPTIONS}, "thresholds": typed.get("thresholds", "")}
    return render_template("notify.html", notify=shown, channels=CHANNELS, placeholders=PLACEHOLDERS, error=error,
                           results=results)


def body_from_form(form: MultiDict) -> dict:
    """The PUT body from the page's fields: an empty field clears its option."""
    body: dict = {name: form.get(name, "").strip() or None for name in NOTIFY_OPTIONS if name in form}
    words = [w for w in re.split(r"[\s,，、;%]+", form.get("thresholds", "")) if w]
    try:
        body["thresholds"] = [int(w) for w in words]
    except ValueError:
        raise Invalid(f"thresholds: {form.get('thresholds')!r} is not a list of whole percentages, e.g. 80, 95") from None
    return body


@bp.get("/admin/notify")
def notify_page() -> str:
    return page()


@bp.post("/admin/notify")
def save() -> Response | tuple[str, int]:
    return act(lambda: service().put_notify(body_from_form(request.form)),
               lambda error: page(error, typed=request.form), url_for("notifications.notify_page"))


@bp.post("/admin/notify/test")
def save_and_test() -> str | tuple[str, int]:
    try:
        service().put_notify(body_from_form(request.form))
    except (Invalid, ConfigError) as e:
        return page(str(e), typed=request.form), 422
    return page(results=service().test_notify(chat_words))
