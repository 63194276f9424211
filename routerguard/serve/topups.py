"""Top-ups of a group and of the plan, and the plan's calibration: their API routes and the page's forms.

Thin views as in admin.py: a form posts to a small view that builds the
API's JSON and calls the same Service command the API does, so the page
and the API change the same thing, in effect before the answer.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, url_for

from routerguard import units
from routerguard.serve.admin import _field, act, groups_page, plan_page
from routerguard.serve.admin import guard as admin_guard
from routerguard.serve.api import guard as api_guard
from routerguard.serve.context import json_body, service

bp = Blueprint("topups", __name__)
bp.before_request(lambda: api_guard() if request.path.startswith("/api/") else admin_guard())

SAID = {"used": "used_bytes", "left": "left_bytes"}  # the calibration form's choice -> the API's field


@bp.post("/api/v1/groups/<gid>/topup")
def topup_group(gid: str) -> Response:
    return jsonify(service().topup_group(gid, json_body()))


@bp.post("/api/v1/plan/topup")
def topup_plan() -> Response:
    return jsonify(service().topup_plan(json_body()))


@bp.post("/api/v1/plan/calibrate")
def calibrate() -> Response:
    return jsonify(service().calibrate(json_body()))


# --- the page ----------------------------------------------------------------------------


def _size() -> dict:
    return {"bytes": _field(request.form, "size", units.parse_size)}


@bp.post("/admin/groups/<gid>/topup")
def group_topup_form(gid: str) -> Response | tuple[str, int]:
    return act(lambda: service().topup_group(gid, _size()), groups_page, url_for("admin.groups"))


@bp.post("/admin/plan/topup")
def plan_topup_form() -> Response | tuple[str, int]:
    return act(lambda: service().topup_plan(_size()), plan_page, url_for("admin.plan"))


@bp.post("/admin/plan/calibrate")
def calibrate_form() -> Response | tuple[str, int]:
    def change() -> None:
        field = SAID.get(request.form.get("said", ""), "used_bytes")
        service().calibrate({field: _field(request.form, "size", units.parse_size)})

    return act(change, plan_page, url_for("admin.plan"))
