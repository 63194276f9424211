"""Every error as `{"error": "<human sentence>"}` (or as a page, for a person's browser).

The API says the English sentence; a page says the error in the reader's
language (i18n.say: by the error's key, else by its HTTP status).

Service commands raise Invalid (422), NotFound (404) and Conflict (409); a change the
config file would not validate is a 422 too, unless the file on disk is
already broken (someone edited it by hand), which is a 409: fix the file
first.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from routerguard.config.model import ConfigError, load_config
from routerguard.reasons import Reason
from routerguard.serve.i18n import say
from routerguard.service import Conflict, Invalid, NotFound

log = logging.getLogger("routerguard.serve")
NOT_PAGES = ("/api/", "/healthz", "/openapi.json", "/metrics", "/static/")


def wants_page() -> bool:
    """A person's browser on a page (it asks for HTML by name), rather than a script or the API (JSON)."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return not request.path.startswith(NOT_PAGES) and best == "text/html"


def error_response(status: int, error: BaseException, headers: dict[str, str] | None = None) -> Response:
    if wants_page():
        response = Response(render_template("error.html", status=status, message=say(error)), status)
    else:
        response = jsonify(error=english(error))
        response.status_code = status
    response.headers.update(headers or {})
    return response


def english(error: BaseException) -> str:
    """The error's English sentence, as the API says it."""
    if isinstance(error, HTTPException):
        return error.description or error.name
    return str(error)


def extra_headers(e: HTTPException) -> dict[str, str]:
    """What an HTTP error says beyond its body: Retry-After, Allow."""
    return {k: v for k, v in e.get_headers() if k.lower() != "content-type"}


def _config_conflict(e: ConfigError) -> Response:
    try:
        if e.problems:
            load_config(e.problems[0].path)
    except ConfigError as on_disk:
        return error_response(409, refused_config(on_disk, broken=True))
    return error_response(422, refused_config(e))


def refused_config(e: ConfigError, broken: bool = False) -> Reason:
    """Why a change was refused: it would make the config invalid, or the file on disk is `broken` already."""
    if broken:
        return Reason("the config file has problems of its own; fix them first: {problems}", "config_broken", problems=str(e))
    return Reason("that change would make the config invalid: {problems}", "config_refused", problems=str(e))


def install(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> Response:
        return error_response(e.code or 500, e, extra_headers(e))

    @app.errorhandler(Invalid)
    def invalid(e: Invalid) -> Response:
        return error_response(422, e)

    @app.errorhandler(NotFound)
    def not_found(e: NotFound) -> Response:
        return error_response(404, e)

    @app.errorhandler(Conflict)
    def conflict(e: Conflict) -> Response:
        return error_response(409, str(e))

    @app.errorhandler(ConfigError)
    def config_error(e: ConfigError) -> Response:
        return _config_conflict(e)

    @app.errorhandler(Exception)
    def crash(e: Exception) -> Response:
        log.exception("error serving %s %s", request.method, request.path)
        return error_response(500, InternalServerError())
