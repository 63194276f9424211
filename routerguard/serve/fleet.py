"""Routes for managing many routers: `/metrics` for Prometheus, `/api/v1/export` for archives.

Both need what the API needs (a bearer token for a scraper, or the admin's
session): usage per device tells who is home and when.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from routerguard.serve.auth import auth
from routerguard.serve.context import service

bp = Blueprint("fleet", __name__)
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # the text format every Prometheus version reads


@bp.before_request
def guard() -> None:
    auth().require()


@bp.get("/metrics")
def metrics() -> Response:
    from routerguard.serve.metrics import render_metrics  # prometheus_client loads on the first scrape, if ever

    return Response(render_metrics(service()), content_type=METRICS_TYPE)


@bp.get("/api/v1/export")
def export() -> Response:
    args = request.args
    content_type, pieces = service().export(args.get("mac"), args.get("step", "hour"), args.get("from"), args.get("to"),
                                            args.get("format", "csv"))
    return Response(pieces, content_type=content_type)
