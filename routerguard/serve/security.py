"""Refusals every request goes through: foreign Host headers, big bodies, framing.

The page is on the LAN only, but any web page a LAN device opens can make its
browser talk to the router: a DNS-rebinding page does so under its own name,
so requests must name the router itself. Headers forbid framing
(clickjacking the admin page) and everything not from the router itself.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Callable, Iterable
from urllib.parse import urlsplit

from flask import Flask, Response, request
from werkzeug.exceptions import Forbidden, RequestEntityTooLarge

from routerguard.reasons import tag

MAX_BODY = 64 * 1024
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
# Domains no one can buy, so no rebinding page can be served under them: OpenWrt's dnsmasq
# answers `<hostname>.lan`. Not `.local`: mDNS names are answered by whichever LAN device
# speaks first, so a device could serve a page as `<hostname>.local` and then rebind the name
# to the router; list it as a `server_name` to use it anyway.
LOCAL_DOMAINS = ("lan",)
ADDRESS_REFRESH = 30.0  # seconds between re-reads of the local addresses for an unknown IP host
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # Nothing to other sites; our own page's form posts carry their Origin (with no-referrer they
    # would say `Origin: null`, which same_origin() cannot tell from a cross-site page's).
    "Referrer-Policy": "same-origin",
}


def host_of(header: str) -> str:
    """The host part of a Host header, lowercase, without port, brackets or a trailing dot."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    if header.count(":") == 1:
        header = header.partition(":")[0]
    return header.rstrip(".")


def _ip(host: str) -> str | None:
    """An IP literal in its one spelling (`::1` for `0:0::1`); None for a name."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def _canonical(host: str) -> str:
    return _ip(host) or host


class HostCheck:
    """The names and addresses the router answers to.

    `names` gives the configured ones (listen addresses and `server_name`s),
    `addresses` the machine's own; the hostname counts too, alone and under
    LOCAL_DOMAINS; an IP that is not known yet
    triggers a re-read (an address added by DHCP since), at most every
    ADDRESS_REFRESH seconds.
    """

    def __init__(self, names: Callable[[], Iterable[str]], addresses: Callable[[], Iterable[str]]) -> None:
        self._names, self._addresses = names, addresses
        self._lock = threading.Lock()
        self._known: set[str] = set()
        self._read_at = float("-inf")
        short = socket.gethostname().lower().partition(".")[0]
        self._fixed = set(LOCAL_NAMES) | {socket.gethostname().lower(), short} | {f"{short}.{d}" for d in LOCAL_DOMAINS}

    def _refresh(self) -> None:
        try:
            addresses = set(self._addresses())
        except OSError:
            addresses = set()  # no netlink (a container): the configured names still work
        self._known = {_canonical(host_of(h)) for h in set(self._names()) | addresses | self._fixed}
        self._read_at = time.monotonic()

    def allows(self, header: str | None) -> bool:
        if not header:
            return False
        host = _canonical(host_of(header))
        with self._lock:
            if not self._known:
                self._refresh()
            if host in self._known:
                return True
            if _ip(host) is None or time.monotonic() - self._read_at < ADDRESS_REFRESH:
                return False
            self._refresh()
            return host in self._known


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
