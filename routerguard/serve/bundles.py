"""The plan's bundles on the page: the add-a-bundle form, removing one, and the bill split.

Thin views as in admin.py: the form posts to a small view that builds the
API's JSON and calls the same Service command the API does (add_bundle,
remove_bundle), so the page and the API write the UCI file alike and a plan
cut because it ran out is back on before the redirect.
"""

from __future__ import annotations

from flask import Blueprint, Response, request, url_for

from routerguard.serve.admin import act, plan_page
from routerguard.serve.admin import guard as admin_guard
from routerguard.serve.context import service
from routerguard.service import Invalid
from routerguard.units import parse_size

bp = Blueprint("bundles", __name__)
bp.before_request(admin_guard)


@bp.app_template_global()
def plan_costs() -> dict:
    """This period's costs for the plan page: per device (and the router) and per group, biggest first."""
    rows = service().costs()
    groups: dict[tuple[str, str], float] = {}
    for row in rows:
        if row["group"]:
            key = (row["group"], row["currency"])
            groups[key] = round(groups.get(key, 0.0) + row["amount"], 2)
    names = {g["id"]: g["name"] for g in service().groups()}
    return {"devices": rows, "names": {d["mac"]: d["name"] or d["hostname"] for d in service().devices()},
            "groups": [{"id": gid, "name": names.get(gid, gid), "currency": cur, "amount": amount}
                       for (gid, cur), amount in sorted(groups.items(), key=lambda kv: -kv[1])]}


def _body(form) -> dict:
    size_text = form.get("size", "").strip()
    try:
        size = parse_size(size_text)
    except ValueError as e:
        raise Invalid("{field}: {reason}", "field_reason", field="size", reason=e) from None
    body: dict = {"daily_bytes" if form.get("daily") else "quota_bytes": size}
    days = form.get("days", "").strip()
    body["days"] = int(days) if days.isdigit() else days
    for key in ("name", "price", "currency"):
        value = form.get(key, "").strip()
        if value:
            body[key] = value
    if "currency" in body and "price" not in body:
        del body["currency"]  # the form's currency alone, with no price, says nothing
    return body


@bp.post("/admin/plan/bundles")
def add() -> Response | tuple[str, int]:
    return act(lambda: service().add_bundle(_body(request.form)), plan_page, url_for("admin.plan"))


@bp.post("/admin/plan/bundles/<bid>/delete")
def remove(bid: str) -> Response | tuple[str, int]:
    return act(lambda: service().remove_bundle(bid), plan_page, url_for("admin.plan"))
