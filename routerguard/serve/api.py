"""The JSON API, /api/v1: thin views over Service (../../../shared/interface.md).

Every route needs the admin session or a bearer token, except the login and
/me (a LAN device asking about itself).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, request
from werkzeug.exceptions import BadRequest

from routerguard.reasons import tag

from routerguard.serve.auth import auth, is_public, public
from routerguard.serve.context import asking_device, json_body, service
from routerguard.serve.security import refuse_cross_site
from routerguard.service import Invalid

bp = Blueprint("api", __name__, url_prefix="/api/v1")
NO_CONTENT = ("", 204)


@bp.before_request
def guard() -> None:
    if not is_public():
        auth().require()


@bp.get("/devices")
def devices() -> Response:
    return jsonify(devices=service().devices())


@bp.get("/devices/<mac>")
def device(mac: str) -> Response:
    return jsonify(service().device(mac))


@bp.patch("/devices/<mac>")
def patch_device(mac: str) -> Response:
    return jsonify(service().patch_device(mac, json_body()))


@bp.post("/devices/<mac>/topup")
def topup(mac: str) -> Response:
    return jsonify(service().topup(mac, json_body()))


@bp.post("/devices/<mac>/reset")
def reset(mac: str) -> Response:
    json_body(required=False)  # optional, but a malformed one is still a 400
    return jsonify(service().reset(mac))


@bp.get("/groups")
def groups() -> Response:
    return jsonify(groups=service().groups())


@bp.get("/groups/<gid>")
def group(gid: str) -> Response:
    return jsonify(service().group(gid))


@bp.put("/groups/<gid>")
def put_group(gid: str) -> Response:
    return jsonify(service().put_group(gid, json_body()))


@bp.delete("/groups/<gid>")
def delete_group(gid: str) -> tuple:
    service().delete_group(gid)
    return NO_CONTENT


@bp.get("/plan")
def plan() -> Response:
    return jsonify(service().plan())


@bp.put("/plan")
def put_plan() -> Response:
    return jsonify(service().set_plan(json_body()))


@bp.post("/plan/bundles")
def add_bundle() -> tuple:
    return jsonify(service().add_bundle(json_body())), 201


@bp.delete("/plan/bundles/<bid>")
def remove_bundle(bid: str) -> tuple:
    service().remove_bundle(bid)
    return NO_CONTENT


@bp.get("/plan/costs")
def plan_costs() -> Response:
    args = request.args
    if args.get("format") == "csv" or (args.get("format") is None and request.accept_mimetypes.best == "text/csv"):
        return Response(service().costs_csv(args.get("from"), args.get("to")), content_type="text/csv; charset=utf-8")
    if args.get("format") not in (None, "json"):
        raise Invalid("format must be csv or json")
    return jsonify(costs=service().costs(args.get("from"), args.get("to")))


@bp.get("/history")
def history() -> Response:
    args = request.args
    return jsonify(service().history(args.get("mac"), args.get("step", "hour"), args.get("from"), args.get("to")))


@bp.get("/alerts")
def alerts() -> Response:
    return jsonify(alerts=service().alerts())


@bp.get("/uplinks")
def uplinks() -> Response:
    return jsonify(uplinks=service().uplinks())


@bp.post("/session")
@public
def login() -> Response:
    refuse_cross_site()
    if not request.is_json:  # a cross-site page can send text/plain without asking; JSON it cannot
        raise tag(BadRequest('send the login as JSON: Content-Type: application/json, {"password": "..."}'), "login_json")
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("password"), str):
        raise Invalid('send the password as {"password": "..."}')
    return jsonify(csrf_token=auth().login(body["password"], body.get("otp")))


@bp.delete("/session")
def logout() -> tuple:
    auth().logout()
    return NO_CONTENT


@bp.get("/me")
@public
def me() -> Response:
    device = asking_device()
    if device is None:
        abort(404, f"the router does not know this device ({request.remote_addr}) yet: it learns devices from "
                   "DHCP and the neighbour table, so use the network for a moment and ask again")
    return jsonify(device)
