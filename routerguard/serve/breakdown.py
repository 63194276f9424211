"""What ate the data: the API's sums by category, and the words and bars the pages draw them with.

The pages (device, dashboard, /me) show each row as a bar of its share with
the bytes beside it; the bars are SVG rectangles sized by attributes, so the
strict CSP (no inline style) holds and nothing is fetched.
"""

from __future__ import annotations

import ipaddress

from flask import Blueprint, Flask, Response, jsonify

from routerguard.serve.api import guard as api_guard
from routerguard.serve.context import service
from routerguard.serve.i18n import language, service_name, translate
from routerguard.serve.words import MESSAGES

bp = Blueprint("breakdown", __name__, url_prefix="/api/v1")
bp.before_request(api_guard)

ROWS_SHOWN = 8  # rows a card lists before the rest is added up in one line: a phone screen's worth
OTHER_NAME = "other"  # account.destinations.view's name for the bytes of names pushed out of the top 50


@bp.get("/devices/<mac>/categories")
def device_categories(mac: str) -> Response:
    return jsonify(categories=service().categories_used(mac))


@bp.get("/plan/breakdown")
def plan_breakdown() -> Response:
    return jsonify(service().plan_breakdown())


def share(part: int, whole: int) -> str:
    """A row's share as the page shows it: whole percent, "<1%" for a sliver, so no row reads as nothing."""
    if not whole or not part:
        return "0%"
    percent = 100 * part / whole
    return "<1%" if percent < 1 else f"{percent:.0f}%"


def category_label(cid: str | None, name: str | None = None) -> str:
    """A category's name in the reader's language: the shipped ones translated, one of the admin's as named (else its id)."""
    if cid is None:
        return translate("eaten_uncategorised")
    key = f"category_{cid}"
    return translate(key) if key in MESSAGES[language()] else name or cid


def destination_label(row: dict) -> str:
    """A destination's name; the row of names pushed out of the top ones, in words."""
    if row["name"] == OTHER_NAME and row.get("category") is None and row.get("service") is None:
        return translate("eaten_other")
    if row.get("service") and row["name"] == row["service"]:  # a service's own row (services_used)
        return service_name(row["name"])
    return row["name"]


def destination_sub(row: dict) -> str:
    """The line under a destination: its service and category, or why it has no name."""
    if row.get("service"):
        return f"{service_name(row['service'])} · {category_label(row['category'])}"
    try:
        ipaddress.ip_address(row["name"])
    except ValueError:
        return ""
    return translate("eaten_address")


def shown(rows: list[dict], limit: int = ROWS_SHOWN) -> tuple[list[dict], dict | None]:
    """The first `limit` rows and one row adding up the rest (None when nothing is left over)."""
    rest = rows[limit:]
    if not rest:
        return rows, None
    return rows[:limit], {"count": len(rest), "up_bytes": sum(r["up_bytes"] for r in rest),
                          "down_bytes": sum(r["down_bytes"] for r in rest), "total_bytes": sum(r["total_bytes"] for r in rest)}


def install(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_filter(share, "share")
    app.add_template_filter(category_label, "category_label")
    app.add_template_filter(destination_label, "destination_label")
    app.add_template_filter(destination_sub, "destination_sub")
    app.add_template_global(shown, "shown_rows")
