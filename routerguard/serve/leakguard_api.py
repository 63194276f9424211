"""The leak guard's routes: what ate a device's data, the categories, the data saver, and the alerts page's one-tap pause."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template, request, url_for

from routerguard.serve.admin import act
from routerguard.serve.admin import guard as admin_guard
from routerguard.serve.api import guard as api_guard
from routerguard.serve.context import json_body, service

bp = Blueprint("leakguard", __name__)
PAUSE_SECONDS = 3600  # "pause for an hour"

bp.before_request(lambda: api_guard() if request.path.startswith("/api/") else admin_guard())


@bp.get("/api/v1/devices/<mac>/destinations")
def destinations(mac: str) -> Response:
    return jsonify(destinations=service().destinations(mac))


@bp.get("/api/v1/categories")
def categories() -> Response:
    return jsonify(categories=service().categories())


@bp.put("/api/v1/categories/<cid>")
def put_category(cid: str) -> Response:
    return jsonify(service().put_category(cid, json_body()))


@bp.delete("/api/v1/categories/<cid>")
def delete_category(cid: str) -> tuple[str, int]:
    service().delete_category(cid)
    return "", 204


@bp.get("/api/v1/saver")
def saver() -> Response:
    return jsonify(service().saver())


@bp.put("/api/v1/saver")
def put_saver() -> Response:
    return jsonify(service().set_saver(json_body()))


@bp.post("/admin/alerts/pause")
def pause() -> Response | tuple[str, int]:
    """One tap on an alert: the device is blocked for an hour."""
    mac = request.form.get("mac", "")
    return act(lambda: service().patch_device(mac, {"blocked": True, "blocked_for": PAUSE_SECONDS}),
               lambda error: render_template("alerts.html", alerts=service().alerts(), error=error), url_for("admin.alerts"))
