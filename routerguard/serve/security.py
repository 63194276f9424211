"""Refusals every request the app answers goes through: foreign Host headers (serve/hosts.py), big bodies,
other sites' pages; and the headers every answer carries (framing, content from elsewhere)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, request
from werkzeug.exceptions import Forbidden, RequestEntityTooLarge

from routerguard.reasons import tag
from routerguard.serve.hosts import HEADERS, HostCheck

MAX_BODY = 64 * 1024
CROSS_SITE = ("cross-site", "same-site")  # Sec-Fetch-Site values of requests another site's page made


def same_origin() -> bool:
    """Whether the request comes from the router's own page, or from no page at all (a script, curl).

    Browsers say where a POST comes from: Sec-Fetch-Site, Origin, else Referer. A request that says
    another origin (or `null`, a sandboxed or privacy-stripped one) is not ours; one that says nothing
    is no browser's, so no other site can have made it.
    """
    if request.headers.get("Sec-Fetch-Site", "").lower() in CROSS_SITE:
        return False
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if origin is None:
        return True
    parts = urlsplit(origin.strip())
    return parts.scheme in ("http", "https") and parts.netloc.lower() == (request.host or "").lower()


def refuse_cross_site() -> None:
    """403 for a request another site's page made (a login from there could lock the admin out)."""
    if not same_origin():
        raise tag(Forbidden("this request came from another site's page; log in from the router's own page"),
                  "cross_site")


def install(app: Flask, hosts: HostCheck) -> None:
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY

    @app.before_request
    def refuse() -> None:
        if not hosts.allows(request.headers.get("Host")):
            raise tag(Forbidden("this router answers only to its own addresses and names (the Host header names another)"),
                      "host_check")
        if (request.content_length or 0) > MAX_BODY:
            raise tag(RequestEntityTooLarge(f"the body is larger than {MAX_BODY // 1024} KiB"), "body_too_large",
                      kib=MAX_BODY // 1024)

    @app.after_request
    def headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if request.endpoint != "static":
            response.headers["Cache-Control"] = "no-store"
        return response
