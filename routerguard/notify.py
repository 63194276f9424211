"""Alerts pushed out to the channels of `config notify`, from a thread of their own.

The meter loop must never wait on the network (a travel router's uplink is
often the very thing that is slow or gone), so `push` only queues; a
thread sends, retrying with growing pauses, and gives up with a log line.
Targets come with each alert, so a reloaded config applies to the next one.

Each channel is one HTTP POST in the shape its service documents:
- webhook: `{"kind", "mac", "message", "time", ...}` as JSON;
- ntfy: the message as plain text to the topic URL, with a Title header;
- Telegram: `{"chat_id", "text"}` to `<api>/bot<token>/sendMessage`;
- WeCom (企业微信) and DingTalk (钉钉) group bots: `{"msgtype": "text", "text": {"content"}}`,
  DingTalk signed with `timestamp` and `sign` in the URL when a secret is set;
- Feishu/Lark (飞书) group bots: `{"msg_type": "text", "content": {"text"}}`, signed with
  `timestamp` and `sign` in the body when a secret is set;
- Bark (iOS): `{"title", "body", "device_key", "group"}` to `<server>/push`.
The chat services answer 200 even when they refuse (a wrong key, a bad
signature) and say so in the body, so each channel reads its answer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import urllib.request

from routerguard import __version__
from routerguard.config.model import Notify

log = logging.getLogger("routerguard.notify")

TIMEOUT = 10.0  # seconds per attempt
RETRY_PAUSES = (2.0, 10.0, 30.0)  # before the 2nd, 3rd and 4th attempt
MAX_QUEUED = 100  # alerts waiting to be sent; beyond that new ones are only logged
MAX_ANSWER = 64 * 1024  # bytes of a channel's answer read to learn whether it took the alert
WECOM_MAX_BYTES = 2048  # WeCom refuses a longer text
URGENT_KINDS = {"unusual_rate", "unusual_hour"}
USER_AGENT = f"routerguard/{__version__}"
TEST_ALERT = {"id": None, "kind": "test", "mac": None, "device": None, "params": {},
              "message": "This is a test alert from routerguard: alerts will reach this channel."}

# Options whose values let anyone holding them post into the chat: never shown back in full.
SECRET_OPTIONS = ("telegram_token", "wecom", "dingtalk", "dingtalk_secret", "feishu", "feishu_secret", "bark_key")
PLAIN_CHANNELS = ("webhook", "ntfy")  # the contract shows their URLs as they are
MASK = "****"
SHOWN_CHARACTERS = 4  # of a secret, at its end: enough to tell two apart


def mask(value: str | None) -> str | None:
    """A secret as the page and the API show it: a URL's scheme and host, then only its last characters."""
    if not value:
        return value
    parts = urllib.parse.urlsplit(value)
    head = f"{parts.scheme}://{parts.hostname}/" if parts.scheme in ("http", "https") and parts.hostname else ""
    tail = value[len(head):]
    return head + MASK + (tail[-SHOWN_CHARACTERS:] if len(tail) >= 3 * SHOWN_CHARACTERS else "")


Answer = Callable[[bytes], "str | None"]  # a 2xx answer's body -> why it is a refusal, or None when accepted


@dataclass(frozen=True)
class Outcome:
    """How one attempt went: `status` is the HTTP status (None: no answer), `error` why it failed (None: sent)."""

    channel: str
    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def retry(self) -> bool:
        """No answer, or the service was busy: worth another try; a refusal would only be refused again."""
        return self.status is None or self.status >= 500 or self.status == 429


class Delivery:
    """One HTTP POST to make: which channel, where, what, how its answer reads, and how it is signed."""

    def __init__(self, channel: str, url: str, body: bytes | dict, headers: dict[str, str] | None = None,
                 answer: Answer | None = None, sign: Callable[[str, dict, float], tuple[str, dict]] | None = None) -> None:
        self.channel, self.url, self.body, self.answer, self.sign = channel, url, body, answer, sign
        kind = {} if isinstance(body, bytes) else {"Content-Type": "application/json; charset=utf-8"}
        self.headers = {"User-Agent": USER_AGENT, **kind, **(headers or {})}
        self.shown = url if channel in PLAIN_CHANNELS else mask(url)  # for logs: a bot's URL is its key

    def request(self, now: float) -> urllib.request.Request:
        """The request as sent at `now` (signatures carry the time, so each attempt signs afresh)."""
        url, body = self.url, self.body
        if self.sign is not None and isinstance(body, dict):
            url, body = self.sign(url, body, now)
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        import urllib.request  # with http.client, email and ssl: 4.6 MiB a daemon that never alerts need not hold

        return urllib.request.Request(url, data, self.headers, method="POST")


# An alert (with its `params`) and a language -> its title and sentence in that language. The words live
# in the page's dictionaries (serve/i18n.py), a layer above: the daemon hands them in.
Render = Callable[[dict, str], "tuple[str, str]"]


def words(alert: dict, language: str, render: Render | None) -> tuple[str, str]:
    """The title and sentence people read: in `language` when it is not English and words for it were handed in."""
    if render is not None and language != "en":
        return render(alert, language)
    return f"routerguard: {alert['kind'].replace('_', ' ')}", alert["message"]


def deliveries(notify: Notify, alert: dict, render: Render | None = None) -> list[Delivery]:
    """What `notify` asks to be sent for `alert` (a dict with kind, mac, message, time, params, ...), one per channel."""
    found = []
    title, sentence = words(alert, notify.language, render)
    text = f"{title}\n{sentence}"  # a chat message: the title line, then the sentence
    if notify.webhook:
        found.append(Delivery("webhook", notify.webhook, json.dumps(alert).encode(), {"Content-Type": "application/json"}))
    if notify.ntfy:
        urgent = alert["kind"] in URGENT_KINDS or (alert.get("level") or 0) >= 100
        headers = {"Title": _header_text(title), "Tags": "warning",
                   "Priority": "high" if urgent else "default", "Content-Type": "text/plain; charset=utf-8"}
        found.append(Delivery("ntfy", notify.ntfy, sentence.encode(), headers))
    if notify.telegram_token and notify.telegram_chat:
        found.append(Delivery("telegram", f"{notify.telegram_api}/bot{notify.telegram_token}/sendMessage",
                              {"chat_id": notify.telegram_chat, "text": text}, answer=_telegram_answer))
    if notify.wecom:
        found.append(Delivery("wecom", notify.wecom, {"msgtype": "text", "text": {"content": _clip(text, WECOM_MAX_BYTES)}},
                              answer=_errcode_answer))
    if notify.dingtalk:
        secret = notify.dingtalk_secret
        found.append(Delivery("dingtalk", notify.dingtalk, {"msgtype": "text", "text": {"content": text}}, answer=_errcode_answer,
                              sign=(lambda url, body, now: (_dingtalk_signed(url, secret, now), body)) if secret else None))
    if notify.feishu:
        secret = notify.feishu_secret
        found.append(Delivery("feishu", notify.feishu, {"msg_type": "text", "content": {"text": text}}, answer=_feishu_answer,
                              sign=(lambda url, body, now: (url, {**feishu_signature(secret, now), **body})) if secret else None))
    if notify.bark_key:
        found.append(Delivery("bark", f"{notify.bark}/push",
                              {"title": title, "body": sentence, "device_key": notify.bark_key, "group": "routerguard"},
                              answer=_bark_answer))
    return found


# --- signatures, as each service documents and checks them ----------------------------


def dingtalk_signature(secret: str, timestamp_ms: int) -> str:
    """DingTalk: base64 of HMAC-SHA256 over "<timestamp in ms>\\n<secret>", keyed with the secret."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _dingtalk_signed(url: str, secret: str, now: float) -> str:
    stamp = int(now * 1000)
    query = urllib.parse.urlencode({"timestamp": stamp, "sign": dingtalk_signature(secret, stamp)})
    return f"{url}{'&' if '?' in url else '?'}{query}"


def feishu_signature(secret: str, now: float) -> dict[str, str]:
    """Feishu: base64 of HMAC-SHA256 over nothing, keyed with "<timestamp in s>\\n<secret>"; both go in the body."""
    stamp = str(int(now))
    digest = hmac.new(f"{stamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return {"timestamp": stamp, "sign": base64.b64encode(digest).decode()}


# --- answers --------------------------------------------------------------------------


def _json(body: bytes) -> dict:
    try:
        found = json.loads(body or b"{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _telegram_answer(body: bytes) -> str | None:
    answer = _json(body)
    return None if answer.get("ok") is True else str(answer.get("description") or "Telegram did not say ok")


def _errcode_answer(body: bytes) -> str | None:
    """WeCom and DingTalk: {"errcode": 0, "errmsg": "ok"}, or an errcode and why."""
    answer = _json(body)
    return None if answer.get("errcode") == 0 else f"errcode {answer.get('errcode')}: {answer.get('errmsg')}"


def _feishu_answer(body: bytes) -> str | None:
    """Feishu: {"code": 0, ...} (older bots: {"StatusCode": 0, ...})."""
    answer = _json(body)
    code = answer.get("code", answer.get("StatusCode"))
    return None if code == 0 else f"code {code}: {answer.get('msg', answer.get('StatusMessage'))}"


def _bark_answer(body: bytes) -> str | None:
    answer = _json(body)
    return None if answer.get("code") == 200 else f"code {answer.get('code')}: {answer.get('message')}"


def _clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, never inside a character."""
    return text.encode()[:limit].decode(errors="ignore")


def _header_text(text: str) -> str:
    """ASCII as is; anything else RFC 2047-encoded (ntfy decodes it), since headers are Latin-1 on the wire."""
    if text.isascii():
        return text
    from email.header import Header  # the email package: only for a title that needs it

    return Header(text, "utf-8").encode()


# --- sending --------------------------------------------------------------------------


def _opener() -> urllib.request.OpenerDirector:
    import urllib.request  # at the first alert sent (see Delivery.request)

    return urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to the target, whatever the environment says


def attempt(opener: urllib.request.OpenerDirector, delivery: Delivery, timeout: float) -> Outcome:
    """One POST and what came of it; never raises."""
    try:
        with opener.open(delivery.request(time.time()), timeout=timeout) as response:
            refusal = delivery.answer(response.read(MAX_ANSWER)) if delivery.answer else None
            return Outcome(delivery.channel, response.status, refusal)
    except urllib.error.HTTPError as e:
        body = e.read(MAX_ANSWER) if e.fp else b""
        why = delivery.answer(body) if delivery.answer else None
        return Outcome(delivery.channel, e.code, f"HTTP {e.code}" + (f": {why}" if why and body else ""))
    except (OSError, ValueError) as e:  # URLError, timeouts, a bad URL
        reason = getattr(e, "reason", None) or e
        return Outcome(delivery.channel, None, str(reason))


def send_test(notify: Notify, now: str, render: Render | None = None, timeout: float = TIMEOUT) -> list[Outcome]:
    """A test alert to every channel of `notify` at once, each tried once; what each answered, in channel order."""
    found = deliveries(notify, {**TEST_ALERT, "time": now}, render)
    if not found:
        return []
    opener = _opener()
    with ThreadPoolExecutor(len(found)) as pool:
        return list(pool.map(lambda d: attempt(opener, d, timeout), found))


class Notifier:
    def __init__(self, timeout: float = TIMEOUT, pauses: tuple[float, ...] = RETRY_PAUSES, render: Render | None = None) -> None:
        self.timeout, self.pauses = timeout, pauses
        self.render = render  # the words for alerts in other languages than English (the daemon hands them in)
        self._queue: queue.Queue[Delivery | None] = queue.Queue(MAX_QUEUED)  # None: stop
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="routerguard-notify", daemon=True)
        self._opener: urllib.request.OpenerDirector | None = None  # made by the first delivery (_opener)

    def start(self) -> None:
        self._thread.start()

    def push(self, notify: Notify, alert: dict) -> None:
        """Queue `alert` for every channel of `notify`; returns at once."""
        for delivery in deliveries(notify, alert, self.render):
            try:
                self._queue.put_nowait(delivery)
            except queue.Full:
                log.error("%d alerts are waiting to be sent; not sending this one to the %s: %s",
                          MAX_QUEUED, delivery.channel, alert["message"])

    def _run(self) -> None:
        while not self._stop.is_set():
            delivery = self._queue.get()
            if delivery is not None:
                self._send(delivery)

    def _send(self, delivery: Delivery) -> None:
        if self._opener is None:
            self._opener = _opener()
        for number, pause in enumerate((0.0, *self.pauses)):
            if self._stop.wait(pause):
                return
            outcome = attempt(self._opener, delivery, self.timeout)
            if outcome.ok:
                return
            if not outcome.retry:
                log.error("the %s at %s refused an alert (%s); not retrying", delivery.channel, delivery.shown, outcome.error)
                return
            log.warning("sending an alert to the %s at %s failed (attempt %d): %s", delivery.channel, delivery.shown,
                        number + 1, outcome.error)
        log.error("gave up sending an alert to the %s at %s", delivery.channel, delivery.shown)

    def stop(self) -> None:
        self._stop.set()
        try:
            self._queue.put_nowait(None)  # wakes the thread; a full queue means it is busy and sees the event
        except queue.Full:
            pass
        if self._thread.is_alive():
            self._thread.join(self.timeout + 1)  # an attempt under way ends by its timeout
        if not self._queue.empty():
            log.warning("%d alerts were not sent before stopping", self._queue.qsize())
