"""The Flask application factory: the API, the admin pages and the self-service pages.

`create_app(service)` is all a caller needs: the daemon's server and the tests
build the same app over a Service, with templates and static files found
through the package (`routerguard.web`; from a checkout, its web/ folder),
never the working directory.
"""

from __future__ import annotations

import logging
from importlib.resources import files
from pathlib import Path

from flask import Flask, Response, jsonify
from jinja2 import FileSystemBytecodeCache

from routerguard import units
from routerguard.config.file import format_size_option
from routerguard.read.neighbours import local_addresses
from routerguard.serve import (admin, api, breakdown, bundles, errors, fleet, guard_page, i18n, leakguard_api, notifications,
                               saver, security, selfservice, topups)
from routerguard.serve import guard
from routerguard.serve.auth import AUTH, SESSION_LIFETIME, Auth, StoredSessions, auth
from routerguard.serve.context import SERVICE
from routerguard.serve.hosts import HostCheck
from routerguard.serve.openapi import document
from routerguard.service import Service

log = logging.getLogger("routerguard.serve")

STATIC_MAX_AGE = 3600
TIME_FORMAT = "%Y-%m-%d %H:%M"
NBSP = "\u00a0"  # keeps "1.5 GB" on one line


def create_app(service: Service, hosts: HostCheck | None = None) -> Flask:
    """The app over `service`; `hosts`: the Host check to use (the server's, which answered before the app was
    made), else one of its own."""
    web = _web()
    app = Flask("routerguard", template_folder=str(web / "templates"), static_folder=str(web / "static"))
    app.session_interface = StoredSessions(service.secrets.sessions)  # signs with data_dir/sessions.json's key
    app.config.update(
        SESSION_COOKIE_NAME="routerguard_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        SEND_FILE_MAX_AGE_DEFAULT=STATIC_MAX_AGE,
    )
    app.jinja_env.bytecode_cache = _compiled_templates()
    app.extensions[SERVICE] = service
    app.extensions[AUTH] = Auth(service.secrets, service.core.directory.mac_of)
    security.install(app, hosts or HostCheck(service.own_names, local_addresses))
    errors.install(app)
    i18n.install(app)
    for blueprint in (api.bp, fleet.bp, admin.bp, selfservice.bp, leakguard_api.bp, notifications.bp, saver.bp,
                      guard_page.bp, bundles.bp, topups.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(guard.bp)
    breakdown.install(app)
    _install_filters(app, service)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(service.health())

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(document())

    return app


def _compiled_templates() -> FileSystemBytecodeCache | None:
    """Compiling the dashboard's templates costs more than the rest of its first load (about 150 ms here, a
    second under a quarter of a router's core); compiled once, they are kept in the temporary directory (RAM on
    OpenWrt: until the next boot), in a folder of our user's own that Jinja checks is nobody else's, and a
    restarted daemon's first page load reads them instead. A template whose source changed is compiled again."""
    try:
        return FileSystemBytecodeCache()
    except (OSError, RuntimeError) as e:  # no temporary directory that is ours alone
        log.warning("templates are compiled afresh at each start: %s", e)
        return None


def _web() -> Path:
    """The page's folder: the installed package `routerguard.web`, or the checkout's web/.

    setup.cfg installs the top-level web/ as routerguard.web; imported from a
    checkout (the tests run the tree they sit in) that package does not exist,
    and web/ sits beside routerguard/.
    """
    try:
        return Path(str(files("routerguard.web")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "web"


def _install_filters(app: Flask, service: Service) -> None:
    def when(text: str | None) -> str:
        return service.local_time(text).strftime(TIME_FORMAT) if text else "-"

    app.add_template_filter(when, "when")
    app.add_template_filter(lambda n: units.format_size(n).replace(" ", NBSP), "size")
    app.add_template_filter(lambda bps: units.format_rate(bps).replace(" ", NBSP), "rate")
    app.add_template_filter(format_size_option, "size_option")

    @app.context_processor
    def credentials() -> dict:
        return {"admin": auth().who() == "session", "csrf_token": auth().csrf_token}
