"""What waitress serves: `/healthz` answered at once, everything else by the Flask app, made when first needed.

The web stack (Flask, Werkzeug, Jinja2 and what they import: http.client,
the email package, ssl, click...) is about 10 MiB of a daemon's memory. A
router nobody looks at needs none of it: it meters, cuts and commits, and
something polls `/healthz` (procd, a monitor, the tests). So `/healthz` is
answered here, byte for byte as the app answers it (tests/serve/
test_front.py compares the two), and the app is made at the first other
request (a person opening the page, a script using the API), once, then
answers everything, `/healthz` included. What the first request costs (the
imports, about 150 ms here) it pays once per daemon.

Only a plain, well-formed ask is answered here: GET or HEAD, no body, a
Host that names the router (serve/hosts.py). Anything else (a foreign Host,
another method, a body) goes to the app, whose refusals are the contract's.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable, Iterable

from routerguard.read.neighbours import local_addresses
from routerguard.serve.hosts import HEADERS, HostCheck
from routerguard.service import Service

HEALTH_PATH = "/healthz"
WSGIApp = Callable[[dict, Callable[..., Any]], Iterable[bytes]]


class Front:
    """The WSGI app: `/healthz` here until the Flask app exists, then all of it there."""

    def __init__(self, service: Service, make: Callable[[Service, HostCheck], WSGIApp] | None = None) -> None:
        """`make`: the app's factory (serve/app.py's create_app, imported only when called)."""
        self._service = service
        self._make = make
        self.hosts = HostCheck(service.own_names, local_addresses)  # the app's too: one cache of our addresses
        self._app: WSGIApp | None = None
        self._making = threading.Lock()

    @property
    def app_made(self) -> bool:
        return self._app is not None

    def app(self) -> WSGIApp:
        """The Flask app, made now if not yet (once, whichever thread asks first)."""
        if self._app is None:
            with self._making:
                if self._app is None:
                    make = self._make
                    if make is None:
                        from routerguard.serve.app import create_app as make
                    self._app = make(self._service, self.hosts)
        return self._app

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self._app is None and self._plain_health_ask(environ):
            return self._health(environ, start_response)
        return self.app()(environ, start_response)

    def _plain_health_ask(self, environ: dict) -> bool:
        return (environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") in ("GET", "HEAD")
                and not environ.get("CONTENT_LENGTH", "0").strip("0") and "HTTP_TRANSFER_ENCODING" not in environ
                and self.hosts.allows(environ.get("HTTP_HOST")))

    def _health(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        """As Flask's jsonify says it (sorted keys, compact, a newline), with the headers serve/security.py adds."""
        body = (json.dumps(self._service.health(), sort_keys=True, separators=(",", ":")) + "\n").encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                   *HEADERS.items(), ("Cache-Control", "no-store")]
        start_response("200 OK", headers)
        return [b""] if environ["REQUEST_METHOD"] == "HEAD" else [body]
