"""The data-saver pages: who is kept from which category, the category lists, and a device's own switches.

Thin views as in admin.py: each form posts to a small view that builds the
API's JSON and calls the same Service command the API does (set_saver,
put_category, delete_category, patch_device), so the page and the API
write the UCI file alike and the change is in effect before the redirect.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, render_template, request, url_for

from routerguard.serve.admin import act, device_page
from routerguard.serve.admin import guard as admin_guard
from routerguard.serve.context import service
from routerguard.serve.breakdown import category_label

bp = Blueprint("saver", __name__)
bp.before_request(admin_guard)

DOMAIN_SEPARATORS = re.compile(r"[\s,;，、；]+")  # one per line, or as people paste them (Chinese commas too)
MAX_ID_BASE = 28  # leaves room for "_NN" within the 32 characters of an id


@bp.app_template_filter("category_name")
def category_name(category: dict) -> str:
    """A shipped category in the reader's language; one of the config's own as it was named."""
    return category_label(category["id"], category["name"]) if category.get("origin") == "shipped" else category["name"]


@bp.app_template_global()
def saver_switches(device: dict) -> list[dict]:
    """The device page's switches: each category, whether the device's own list blocks it, and what else does."""
    saver = service().saver()
    group = saver["groups"].get(device["group"] or "", [])
    return [{"category": c, "own": c["id"] in device["block"],
             "everyone": c["id"] in saver["block"], "group": c["id"] in group}
            for c in service().categories()]


def saver_page(error: str | None = None) -> str:
    return render_template("saver.html", saver=service().saver(), categories=service().categories(),
                           groups=service().groups(), error=error)


@bp.get("/admin/saver")
def page() -> str:
    return saver_page()


@bp.post("/admin/saver")
def save() -> Response | tuple[str, int]:
    form = request.form
    body = {"block": form.getlist("everyone"),
            "groups": {g["id"]: form.getlist(f"group_{g['id']}") for g in service().groups()}}
    return act(lambda: service().set_saver(body), saver_page, url_for("saver.page"))


@bp.post("/admin/saver/categories")
def add_category() -> Response | tuple[str, int]:
    """A category of one's own from a name and pasted domains; its id is made from the name."""
    name = request.form.get("name", "").strip()
    domains = [d for d in DOMAIN_SEPARATORS.split(request.form.get("domains", "")) if d]
    cid = new_id(name, {c["id"] for c in service().categories()})
    return act(lambda: service().put_category(cid, {"name": name, "domains": domains}), saver_page, url_for("saver.page"))


@bp.post("/admin/saver/categories/<cid>/delete")
def delete_category(cid: str) -> Response | tuple[str, int]:
    return act(lambda: service().delete_category(cid), saver_page, url_for("saver.page"))


@bp.post("/admin/devices/<mac>/saver")
def device_saver(mac: str) -> Response | tuple[str, int]:
    return act(lambda: service().patch_device(mac, {"block": request.form.getlist("block")}),
               lambda error: device_page(mac, error), url_for("admin.device", mac=mac) + "#saver")


def new_id(name: str, taken: set[str]) -> str:
    """An id that is not taken: the name's ASCII letters and digits ("Games" -> games), else "own"."""
    base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:MAX_ID_BASE] or "own"
    cid, n = base, 1
    while cid in taken:
        n += 1
        cid = f"{base}_{n}"
    return cid
