"""/healthz answered before the web stack is loaded: exactly as the app answers it; everything else by the app."""

import subprocess
import sys

import pytest
from werkzeug.test import EnvironBuilder

from routerguard.serve.app import create_app
from routerguard.serve.front import Front

from web_util import Site


def call(app, path: str, method: str = "GET", host: str = "192.168.8.1:8080", **options) -> tuple:
    environ = EnvironBuilder(path=path, method=method, headers={"Host": host}, **options).get_environ()
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, list(headers)

    body = b"".join(app(environ, start_response))
    return answer["status"], answer["headers"], body


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("host", ["192.168.8.1:8080", "localhost", "router.lan"])
def test_healthz_before_the_app_is_the_apps_healthz_to_the_byte(site: Site, method: str, host: str) -> None:
    site.service.core.health.readings = 7
    front = Front(site.service)
    ours = call(front, "/healthz", method, host)
    assert not front.app_made
    assert ours == call(create_app(site.service), "/healthz", method, host)
    assert ours[0] == "200 OK"


@pytest.mark.parametrize("ask", [
    {"host": "rebind.example.com"},  # a foreign Host: the app's 403, in its words
    {"method": "POST"},  # the app's 405
    {"method": "GET", "data": b"x" * 10},  # a body: the app decides
    {"path": "/api/v1/plan"},  # anything else
])
def test_anything_but_a_plain_health_ask_goes_to_the_app(site: Site, ask: dict) -> None:
    front = Front(site.service)
    ask = {"path": "/healthz", **ask}
    answer = call(front, **ask)
    assert front.app_made
    assert answer == call(create_app(site.service), **ask)
    assert call(front, "/healthz")[0] == "200 OK"  # from the app, now that it is made


def test_the_daemons_modules_and_the_server_leave_the_web_stack_unloaded() -> None:
    """What the daemon imports to meter, cut, alert and serve /healthz: no Flask, Werkzeug, Jinja2, http.client,
    email or ssl (about 10 MiB)."""
    code = (
        "import sys\n"
        "import routerguard.cli, routerguard.daemon\n"
        "from routerguard.account.meter import Meter\n"
        "from routerguard.enforce.enforcer import Enforcer\n"
        "from routerguard.enforce.watch import FlushWatch\n"
        "from routerguard.leakguard import LeakGuard\n"
        "from routerguard.serve.words import chat_words\n"
        "from routerguard.serve.keeper import PageKeeper\n"
        "from routerguard.serve.server import Server\n"
        "from routerguard.serve.snmp_agent import start_agent\n"
        "from routerguard.uplinkguard import UplinkGuard\n"
        "heavy = ('flask', 'werkzeug', 'jinja2', 'http.client', 'email', 'ssl', 'urllib.request', 'click')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_with_no_session_key_and_a_data_dir_that_takes_no_writes_the_api_still_answers(site: Site, monkeypatch) -> None:
    """The app is made at the first request; the cookie key is made on first use. A data_dir gone full or
    read-only by then leaves the page without sessions, not without its API."""
    import requests

    headers = site.bearer()

    def no_room() -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(site.service.secrets.sessions, "key", no_room)
    answer = requests.get(site.url("/api/v1/plan"), headers={**headers, "Host": "192.168.8.1:8080"}, timeout=10)
    assert answer.status_code == 200
