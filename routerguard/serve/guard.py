"""Guarding the guard on the page: approve a new device, undo what unusual use did (on_unusual)."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request, url_for

from routerguard.serve.admin import act, device_page
from routerguard.serve.admin import guard as admin_guard
from routerguard.serve.context import service

bp = Blueprint("guard", __name__)
bp.before_request(admin_guard)

UNDO = {"blocked": False, "throttled": False}  # lifts on_unusual's pause or slow-down (and any manual block)


@bp.app_context_processor
def approval() -> dict:
    """`waiting(mac)` for the templates: a device held until the admin approves it (asked only where shown)."""
    return {"waiting": lambda mac: not service().snapshot().approved(mac)}


@bp.post("/admin/devices/<mac>/approve")
def approve(mac: str) -> Response | tuple[str, int]:
    return act(lambda: service().patch_device(mac, {"approved": True}), lambda error: device_page(mac, error),
               url_for("admin.device", mac=mac))


@bp.post("/admin/devices/<mac>/undo")
def undo_device(mac: str) -> Response | tuple[str, int]:
    return act(lambda: service().patch_device(mac, UNDO), lambda error: device_page(mac, error),
               url_for("admin.device", mac=mac))


@bp.post("/admin/alerts/undo")
def undo_alert() -> Response | tuple[str, int]:
    """The alert's "undo": what on_unusual did to the device is lifted."""
    mac = request.form.get("mac", "")
    return act(lambda: service().patch_device(mac, UNDO),
               lambda error: render_template("alerts.html", alerts=service().alerts(), error=error), url_for("admin.alerts"))
