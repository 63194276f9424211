"""Pages any LAN device may open without a password: its own usage, and "quota reached".

The device is the one the request comes from (its source address), so a
guest sees only what concerns them and needs no account.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from routerguard.serve.context import asking_device, service

bp = Blueprint("selfservice", __name__)


def binding_limit(device: dict | None) -> dict | None:
    """The limit that runs out first: the one whose figures a guest cares about."""
    limits = device["limits"] if device else []
    return min(limits, key=lambda limit: limit["remaining_bytes"], default=None)


def _page(blocked_page: bool) -> str:
    device = asking_device()
    mac = device["mac"] if device else None  # only the asking device's own breakdown, never another's
    return render_template("me.html", device=device, limit=binding_limit(device), blocked_page=blocked_page,
                           services=service().services_used(mac) if mac else [],
                           categories=service().categories_used(mac) if mac else [])


@bp.get("/")
@bp.get("/me")
def me() -> str:
    return _page(blocked_page=False)


@bp.get("/blocked")
def blocked() -> str:
    """Where the enforcement redirects a blocked device's plain-HTTP requests."""
    return _page(blocked_page=True)
