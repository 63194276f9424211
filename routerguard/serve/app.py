"""The Flask application factory."""

from __future__ import annotations

from flask import Flask, jsonify


def create_app(daemon) -> Flask:
    app = Flask("routerguard", template_folder=None, static_folder=None)

    @app.get("/healthz")
    def healthz():
        return jsonify(ok=True, readings=daemon.readings, config_error=daemon.config_error)

    @app.get("/")
    def index():
        return "<!doctype html><title>routerguard</title><p>routerguard</p>"

    return app
