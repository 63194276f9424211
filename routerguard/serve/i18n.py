"""The reader's language, for the page: the browser's Accept-Language picks; the switch on every page sets a
cookie that wins from then on. The words themselves are in serve/words.py.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, g, redirect, request
from werkzeug.exceptions import HTTPException

from routerguard.serve.context import local_path
from routerguard.serve.words import MESSAGES, alert_kind_in, alert_text_in, service_name_in, translate_in

COOKIE = "lang"
COOKIE_AGE = 365 * 86400
DEFAULT = "en"
LANGUAGES = {"en": "English", "zh-CN": "中文"}

def service_name(name: str) -> str:
    """A shipped service's name in the reader's language (SERVICE_NAMES), else as given."""
    return service_name_in(language(), name)


def pick() -> str:
    """The cookie's language, else the browser's best match, else English."""
    chosen = request.cookies.get(COOKIE)
    if chosen in MESSAGES:
        return chosen
    best = request.accept_languages.best_match(["en", "zh-CN", "zh"], default=DEFAULT)
    return "zh-CN" if best.startswith("zh") else "en"


def language() -> str:
    """The reader's language, picked at its first use: an error raised before any view (the Host check, a body
    too large) is still said in it."""
    if "lang" not in g:
        g.lang = pick()
    return g.lang


def translate(key: str, **values: object) -> str:
    return translate_in(language(), key, **values)


TERMS = ("field", "what")  # values that name a thing: said by the reader's word for it (term_<name>)


def say(error: BaseException) -> str:
    """An error in the reader's language: its key's words filled with its values (each said the same way in
    turn), the HTTP status's words for an HTTP error without a key, else its English sentence."""
    words = MESSAGES[language()]
    http = isinstance(error, HTTPException)
    english = (error.description or error.name) if http else str(error)  # type: ignore[union-attr]
    key = getattr(error, "key", None) or (f"http_{error.code}" if http else None)  # type: ignore[union-attr]
    text = words.get(f"error_{key}")
    if text is None:
        return english
    values = {name: _said(name, value, words) for name, value in (getattr(error, "params", None) or {}).items()}
    try:
        return text.format(**values)
    except (KeyError, IndexError, ValueError):
        return english


def _said(name: str, value: object, words: dict[str, str]) -> object:
    if isinstance(value, BaseException):
        return say(value)
    if isinstance(value, (list, tuple)):
        return words["list_sep"].join(map(str, value))
    if name in TERMS and isinstance(value, str):
        return words.get(f"term_{value}") or words.get(f"term_{value.rsplit('.', 1)[-1]}") or value
    return value


def alert_text(alert: dict) -> str:
    """An alert in the reader's language, from what it is about; the stored English sentence when that is unknown."""
    return alert_text_in(alert, language())


def alert_kind(kind: str) -> str:
    """An alert's kind as a word of the reader's language (the raw kind when it is new to us)."""
    return alert_kind_in(kind, language())


bp = Blueprint("i18n", __name__)


@bp.get("/lang/<code>")
def switch(code: str) -> Response:
    """Set the language cookie and go back; only local paths, never an open redirect."""
    response = redirect(local_path(request.args.get("next")), 303)
    if code in MESSAGES:
        response.set_cookie(COOKIE, code, max_age=COOKIE_AGE, samesite="Lax", httponly=True)
    return response


def install(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_filter(alert_text, "alert_text")
    app.add_template_filter(alert_kind, "alert_kind")
    app.add_template_filter(service_name, "service_name")

    @app.context_processor
    def words() -> dict:
        return {"_": translate, "lang": language(), "languages": LANGUAGES}
