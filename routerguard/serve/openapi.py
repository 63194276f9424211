"""The OpenAPI 3 document of every route, served at /openapi.json.

Written by hand next to the views and kept true by tests/serve/test_openapi.py,
which fuzzes the running app with schemathesis against it.
"""

from __future__ import annotations

from typing import Any

from routerguard import __version__
from routerguard.config import caps
from routerguard.config.caps import ACTIONS, PERIODS
from routerguard.config.model import MAX_THRESHOLDS, NOTIFY_OPTIONS
from routerguard.config.categories import DOMAIN_PATTERN, MAX_DOMAIN
from routerguard.decide.bundles import STATES as BUNDLE_STATES
from routerguard.decide.policy import GROUP_STATES, STATES
from routerguard.service import HISTORY_SPAN, MAX_BLOCK_SECONDS, MAX_DOMAINS, MAX_NAME, MAX_TOPUP

Schema = dict[str, Any]
MAC_PATTERN = r"^\s*[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}\s*$"
ERRORS = {
    "400": "Malformed JSON",
    "401": "No valid session or bearer token",
    "403": "Host header not the router's, a session request without its CSRF token, or no admin password yet",
    "404": "No such device, group, category or route",
    "409": "The config file on disk has problems of its own (or, for a category, it is a shipped one)",
    "413": "Body over 64 KiB",
    "422": "A value out of range (nothing was changed)",
    "429": "Too many wrong passwords from this address (see Retry-After)",
}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"nullable": True, **schema} if "$ref" not in schema else {"nullable": True, "allOf": [schema]}


def obj(properties: dict[str, Schema], required: list[str] | None = None, closed: bool = False) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, "required": required if required is not None else list(properties)}
    if not schema["required"]:
        del schema["required"]
    if closed:
        schema["additionalProperties"] = False
    return schema


INT = {"type": "integer", "minimum": 0}
TEXT = {"type": "string"}
TIME = {"type": "string", "format": "date-time"}
BOOL = {"type": "boolean"}

CAP_VIEW = obj({
    "bytes": INT, "period": {"type": "string", "enum": list(PERIODS)}, "action": {"type": "string", "enum": list(ACTIONS)},
    "throttle_kbit": nullable(INT), "period_start": nullable(TIME), "period_end": nullable(TIME),
    "reset_day": INT, "start": nullable(TEXT), "days": nullable(INT),
}, required=["bytes", "period", "action", "throttle_kbit", "period_start", "period_end"])

def path_param_early(name: str, schema: Schema) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def whole(rule: caps.Whole) -> Schema:
    return {"type": "integer", "minimum": rule.low, "maximum": rule.high}


CAP_INPUT = obj({  # caps' rules: the ones the API checks a cap against
    "bytes": whole(caps.BYTES),
    "period": {"type": "string", "enum": list(PERIODS)},
    "action": {"type": "string", "enum": list(ACTIONS)},
    "throttle_kbit": nullable(whole(caps.THROTTLE_KBIT)),
    "reset_day": whole(caps.reset_day("monthly")),
    "reset_hour": whole(caps.RESET_HOUR),
    "start": {"type": "string", "example": "2026-11-20T09:00"},
    "days": whole(caps.DAYS),
}, required=["bytes"], closed=True)

LIMIT = obj({"scope": {"type": "string", "enum": ["device", "default", "group", "plan"]}, "allowance_bytes": INT,
             "used_bytes": INT, "remaining_bytes": INT, "action": TEXT, "period_start": nullable(TIME), "period_end": nullable(TIME)})

DEVICE = obj({
    "mac": TEXT, "name": nullable(TEXT), "hostname": nullable(TEXT), "ips": {"type": "array", "items": TEXT},
    "group": nullable(TEXT), "online": BOOL,
    "usage": obj({"up_bytes": INT, "down_bytes": INT, "total_bytes": INT}),
    "lifetime_bytes": INT,
    "rate": obj({"up_bps": INT, "down_bps": INT}),
    "cap": nullable(ref("Cap")), "default_cap": nullable(ref("Cap")),
    "allowance_bytes": nullable(INT), "remaining_bytes": nullable(INT),
    "state": {"type": "string", "enum": list(STATES)}, "exempt": BOOL, "blocked": BOOL, "blocked_until": nullable(TIME),
    "block": {"type": "array", "items": TEXT}, "limits": {"type": "array", "items": ref("Limit")},
    "told_metered": BOOL,
    "approved": BOOL, "throttled_until": nullable(TIME),  # guarding the guard (docs/guard.md)
    "metered_access": {**BOOL, "description": "false: never over a metered uplink (metered_access '0', its own or its group's)"},
    "metered_refused": {**BOOL, "description": "its traffic is refused now: metered_access is false and a metered uplink is in use"},
})

DEVICE_PATCH = obj({
    "name": nullable({"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": r"\S"}),
    "group": nullable(TEXT), "exempt": BOOL, "cap": nullable(ref("CapInput")), "blocked": BOOL,
    "blocked_until": nullable(TIME), "blocked_for": nullable({"type": "integer", "minimum": 1, "maximum": MAX_BLOCK_SECONDS}),
    "block": {"type": "array", "items": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,32}$"}},
    "approved": BOOL, "throttled": {"type": "boolean", "enum": [False]},
    "metered_access": BOOL,
}, required=[], closed=True)

GROUP = obj({"id": TEXT, "name": TEXT, "members": {"type": "array", "items": TEXT}, "cap": nullable(ref("Cap")),
             "usage": obj({"total_bytes": nullable(INT)}), "allowance_bytes": nullable(INT),
             "state": {"type": "string", "enum": list(GROUP_STATES)}})

GROUP_INPUT = obj({"name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": r"\S"},
                   "cap": nullable(ref("CapInput")),
                   "members": nullable({"type": "array", "items": {"type": "string", "pattern": MAC_PATTERN},
                                        "description": "null or absent: the members stay as they are"})},
                  required=[], closed=True)

PLAN = obj({
    "quota_bytes": nullable(INT), "used_bytes": INT, "allowance_bytes": nullable(INT), "remaining_bytes": nullable(INT),
    "period": nullable(TEXT), "period_start": nullable(TIME), "period_end": nullable(TIME), "action": nullable(TEXT),
    "wan_snmp_bytes": nullable(INT), "gap_bytes": nullable({"type": "integer"}), "router_bytes": INT,
    "forecast_exhausted_at": nullable(TIME), "rate_bps": INT, "cap": nullable(ref("Cap")),
    "uplink": nullable(obj({"ifname": TEXT, "metered": BOOL})),
    "flow_offloading": nullable(obj({"found": {"type": "array", "items": TEXT}, "hardware": BOOL})),
    "counted_bytes": {**INT, "description": "what routerguard metered in the plan's window (used_bytes before calibration)"},
    "calibration_bytes": {"type": "integer", "description": "what the carrier said minus what was counted at the "
                                                            "latest calibration this period (0: none); may be negative"},
    "calibrated_at": nullable(TIME),
    "bundles": {"type": "array", "items": {"$ref": "#/components/schemas/Bundle"}},
})

HISTORY = obj({"mac": nullable(TEXT), "step": {"type": "string", "enum": list(HISTORY_SPAN)}, "from": TIME, "to": TIME,
               "points": {"type": "array", "items": obj({"time": TIME, "up_bytes": INT, "down_bytes": INT, "total_bytes": INT})}})

DESTINATION = obj({"name": TEXT, "service": nullable(TEXT), "category": nullable(TEXT),
                   "up_bytes": INT, "down_bytes": INT, "total_bytes": INT})

CATEGORY_USE = obj({"category": nullable(TEXT), "name": nullable(TEXT), "up_bytes": INT, "down_bytes": INT, "total_bytes": INT})

PLAN_BREAKDOWN = obj({
    "from": nullable(TIME), "used_bytes": INT, "categories": {"type": "array", "items": ref("CategoryUse")},
    "devices": {"type": "array", "items": obj({"mac": nullable(TEXT), "name": nullable(TEXT), "up_bytes": INT, "down_bytes": INT,
                                                "total_bytes": INT})},
})

CATEGORY = obj({"id": TEXT, "name": TEXT, "domains": {"type": "array", "items": TEXT},
                "services": {"type": "array", "items": obj({"name": TEXT, "domains": {"type": "array", "items": TEXT}})},
                "origin": {"type": "string", "enum": ["shipped", "changed", "added"],
                           "description": "shipped as is, a shipped id whose list the config replaces, or one of the config's own"}})

CATEGORY_INPUT = obj({
    "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": r"\S"},
    "domains": {"type": "array", "minItems": 1, "maxItems": MAX_DOMAINS,
                "items": {"type": "string", "maxLength": MAX_DOMAIN, "pattern": DOMAIN_PATTERN},
                "description": "each matches itself and its subdomains"},
}, closed=True)

CATEGORY_IDS = {"type": "array", "items": TEXT, "description": "category ids (GET /api/v1/categories); an unknown one is a 422"}
SAVER = obj({"block": CATEGORY_IDS,
             "groups": {"type": "object", "additionalProperties": CATEGORY_IDS,
                        "description": "group id -> the categories blocked for its members"}})
SAVER_INPUT = obj({"block": CATEGORY_IDS,
                   "groups": {"type": "object", "additionalProperties": CATEGORY_IDS,
                              "description": "optional: the groups named get these lists, the others keep theirs"}},
                  required=["block"], closed=True)

ALERT = obj({"id": INT, "time": TIME, "kind": TEXT, "mac": nullable(TEXT), "message": TEXT,
             "params": {"type": "object", "description": "what the alert is about (subject, name, level, bytes), for "
                                                         "saying it in the reader's language"}})

UPLINK_PROBE = obj({"verdict": {"type": "string", "enum": ["ok", "captive", "down"]},
                    "count": INT, "bytes": {**INT, "description": "IP-layer bytes of every probe since the start"},
                    "max_a_day": {**INT, "description": "the most probes that can leave in a day"}})
UPLINK = obj({"ifname": TEXT, "metered": BOOL, "link": BOOL,
              "internet": nullable({**BOOL, "description": "the probes' verdict (a captive portal's answer is false); "
                                                           "null: not known (a metered uplink, no link, no probe yet)"}),
              "in_use": BOOL, "since": nullable({**TIME, "description": "when in_use last changed; null: not since the start"}),
              "up_bytes": {**INT, "description": "link-layer bytes the interface sent since the daemon started, all traffic"},
              "down_bytes": {**INT, "description": "link-layer bytes the interface received since the daemon started"},
              "probe": {**UPLINK_PROBE, "description": "present once the uplink was probed (unmetered uplinks only)"}},
             required=["ifname", "metered", "link", "internet", "in_use", "since", "up_bytes", "down_bytes"])

EXPORT_ROW = obj({"time": TIME, "mac": TEXT, "up_bytes": INT, "down_bytes": INT})
EXPORT = {"text/csv": {"schema": TEXT},
          "application/json": {"schema": obj({"rows": {"type": "array", "items": EXPORT_ROW}})}}
METRICS = {"text/plain": {"schema": TEXT}}

NOTIFY_FIELDS = {name: nullable(TEXT) for name in NOTIFY_OPTIONS}
NOTIFY = obj({**NOTIFY_FIELDS, "thresholds": {"type": "array", "items": INT},
              "channels": {"type": "array", "items": TEXT}})
NOTIFY_INPUT = obj({**NOTIFY_FIELDS, "channels": {"type": "array", "items": TEXT},
                    "thresholds": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 100},
                                   "minItems": 1, "maxItems": MAX_THRESHOLDS}}, required=[], closed=True)
NOTIFY_RESULT = obj({"channel": TEXT, "ok": BOOL, "status": nullable(INT), "error": nullable(TEXT)})

# --- the plan as eSIM bundles ---
BUNDLE = obj({
    "id": TEXT, "name": TEXT, "quota_bytes": INT, "used_bytes": INT, "left_bytes": INT,
    "start": nullable(TIME), "end": nullable(TIME), "state": {"type": "string", "enum": list(BUNDLE_STATES)},
    "price": nullable({"type": "number", "minimum": 0}), "currency": nullable(TEXT),
    "daily_bytes": nullable(INT), "days": nullable(INT), "total_bytes": nullable(INT), "total_used_bytes": INT,
    "lapses_at": nullable({**TIME, "description": "when what is left now lapses (a day pack: tonight)"}),
    "expires_unused_bytes": {**INT, "description": "what will be left when it ends, at the recent rate"},
    "recurring": {**BOOL, "description": "the `config plan` section, one bundle a period"},
})
BUNDLE_INPUT = obj({
    "quota_bytes": {"type": "integer", "minimum": 1, "maximum": caps.MAX_BYTES},
    "daily_bytes": {"type": "integer", "minimum": 1, "maximum": caps.MAX_BYTES},
    "days": whole(caps.DAYS),
    "name": nullable({"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": r"\S"}),
    "start": nullable({"type": "string", "example": "2026-11-20T09:00", "description": "local time; or RFC 3339 with an offset"}),
    "price": nullable({"type": "number", "minimum": 0}), "currency": nullable({"type": "string", "pattern": "^[A-Za-z]{3}$"}),
    "id": nullable({"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,32}$"}),
}, required=["days"], closed=True)
COST = obj({"mac": nullable(TEXT), "group": nullable(TEXT), "bytes": INT, "amount": {"type": "number"}, "currency": TEXT})
COSTS = {"application/json": {"schema": obj({"costs": {"type": "array", "items": COST}})}, "text/csv": {"schema": TEXT}}
BID = [path_param_early("id", {"type": "string"})]

SCHEMAS = {
    "Error": obj({"error": TEXT}),
    "Bundle": BUNDLE,
    "BundleInput": BUNDLE_INPUT,
    "Cost": COST,
    "Cap": CAP_VIEW,
    "CapInput": CAP_INPUT,
    "Limit": LIMIT,
    "Device": DEVICE,
    "DevicePatch": DEVICE_PATCH,
    "Group": GROUP,
    "GroupInput": GROUP_INPUT,
    "Plan": PLAN,
    "History": HISTORY,
    "Alert": ALERT,
    "Destination": DESTINATION,
    "Category": CATEGORY,
    "CategoryUse": CATEGORY_USE,
    "PlanBreakdown": PLAN_BREAKDOWN,
    "Uplink": UPLINK,
    "CategoryInput": CATEGORY_INPUT,
    "Saver": SAVER,
    "SaverInput": SAVER_INPUT,
    "Health": obj({"ok": BOOL, "readings": INT, "config_error": nullable(TEXT)}),
    "Notify": NOTIFY,
    "NotifyInput": NOTIFY_INPUT,
    "NotifyResult": NOTIFY_RESULT,
}


def _json(schema: Schema) -> Schema:
    return {"content": {"application/json": {"schema": schema}}}


def operation(summary: str, ok: Schema | None, errors: str, *, body: Schema | None = None, public: bool = False,
              params: list[Schema] | None = None, status: str = "200", content: Schema | None = None) -> Schema:
    """One operation; `errors` lists its error statuses as digits ("401 404 422"), 403 and 413 being everywhere.

    `ok` is the JSON schema of a success, or `content` its media types when not only JSON.
    """
    responses: Schema = {status: {"description": "OK", **(_json(ok) if ok else {}), **({"content": content} if content else {})}}
    codes = set(errors.split()) | {"403", "413"} | (set() if public else {"401"})
    if body is not None:
        codes |= {"400", "422"}
    for code in sorted(codes):
        responses[code] = {"description": ERRORS[code], **_json(ref("Error"))}
    op: Schema = {"summary": summary, "responses": responses}
    if public:
        op["security"] = []
    if body is not None:
        op["requestBody"] = {"required": True, **_json(body)}
    if params:
        op["parameters"] = params
    return op


def path_param(name: str, schema: Schema) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def query_param(name: str, schema: Schema) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema}


MAC = [path_param("mac", {"type": "string", "example": "02:00:00:00:00:0a"})]
GID = [path_param("id", {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,32}$"})]


def topup_paths() -> dict[str, Schema]:
    """Top-ups of a group and of the plan, and the plan's calibration (service/topups.py)."""
    topup = obj({"bytes": {"type": "integer", "minimum": 1, "maximum": MAX_TOPUP}})
    said = {"type": "integer", "minimum": 0, "maximum": caps.MAX_BYTES}
    return {
        "/api/v1/groups/{id}/topup": {"post": operation(
            "Add bytes to the group's allowance this period (a group without a cap: 422)", ref("Group"), "404",
            body=topup, params=GID)},
        "/api/v1/plan/topup": {"post": operation(
            "Add bytes to the plan's allowance this period (no plan: 422)", ref("Plan"), "", body=topup)},
        "/api/v1/plan/calibrate": {"post": operation(
            "Set the plan's count to what the carrier's app says now: used so far, or left (left needs a plan)",
            ref("Plan"), "", body={"oneOf": [obj({"used_bytes": said}, closed=True), obj({"left_bytes": said}, closed=True)]})},
    }


def document() -> Schema:
    return {
        "openapi": "3.0.3",
        "info": {"title": "routerguard", "version": __version__,
                 "description": "Data-cap guard for travel routers. Sizes are integers of bytes, times RFC 3339."},
        "security": [{"bearer": []}, {"session": []}],
        "paths": {
            "/api/v1/devices": {"get": operation("Every device", obj({"devices": {"type": "array", "items": ref("Device")}}), "")},
            "/api/v1/devices/{mac}": {
                "get": operation("One device", ref("Device"), "404", params=MAC),
                "patch": operation("Change name, group, exempt, cap, blocking, metered_access", ref("Device"), "404 409", body=ref("DevicePatch"),
                                   params=MAC),
            },
            "/api/v1/devices/{mac}/topup": {
                "post": operation("Add bytes to this period's allowance", ref("Device"), "404",
                                  body=obj({"bytes": {"type": "integer", "minimum": 1, "maximum": MAX_TOPUP}}), params=MAC)},
            "/api/v1/devices/{mac}/reset": {"post": operation("Zero this period's usage", ref("Device"), "400 404", params=MAC)},
            "/api/v1/groups": {"get": operation("Every group", obj({"groups": {"type": "array", "items": ref("Group")}}), "")},
            "/api/v1/groups/{id}": {
                "get": operation("One group", ref("Group"), "404", params=GID),
                "put": operation("Create or replace a group", ref("Group"), "409", body=ref("GroupInput"), params=GID),
                "delete": operation("Delete a group (its members stay, without it)", None, "404 409", params=GID, status="204"),
            },
            "/api/v1/plan": {
                "get": operation("The data plan", ref("Plan"), ""),
                "put": operation("Set the plan (null removes it)", ref("Plan"), "409", body=nullable(ref("CapInput"))),
            },
            "/api/v1/plan/bundles": {"post": operation(
                "Add a bundle (quota_bytes or daily_bytes, for days); a plan cut because it ran out is let back on at once",
                ref("Bundle"), "409", body=ref("BundleInput"), status="201")},
            "/api/v1/plan/bundles/{id}": {"delete": operation("Remove a bundle", None, "404 409", params=BID, status="204")},
            "/api/v1/plan/costs": {"get": operation(
                "The bill split by usage: each device's (mac null: the router's) bytes from priced bundles and their cost, "
                "biggest first, a row per currency", None, "422", params=[
                    query_param("from", TIME), query_param("to", TIME),
                    query_param("format", {"type": "string", "enum": ["csv", "json"]})], content=COSTS)},
            "/api/v1/history": {"get": operation("Usage per hour or day of a device, or of all", ref("History"), "404 422", params=[
                query_param("mac", TEXT), query_param("step", {"type": "string", "enum": list(HISTORY_SPAN)}),
                query_param("from", TIME), query_param("to", TIME)])},
            "/api/v1/devices/{mac}/destinations": {"get": operation(
                "What ate the device's data this period: bytes per name it looked up, biggest first",
                obj({"destinations": {"type": "array", "items": ref("Destination")}}), "404", params=MAC)},
            "/api/v1/devices/{mac}/categories": {"get": operation(
                "The device's bytes per category this period (its destinations added up; category null: in no list)",
                obj({"categories": {"type": "array", "items": ref("CategoryUse")}}), "404", params=MAC)},
            "/api/v1/plan/breakdown": {"get": operation(
                "Where the plan's data went: bytes per category over every device, and each device's bytes, in the plan's window",
                ref("PlanBreakdown"), "")},
            "/api/v1/categories": {"get": operation("Background-data categories the data saver can block",
                                                    obj({"categories": {"type": "array", "items": ref("Category")}}), "")},
            "/api/v1/notify": {
                "get": operation("Where alerts go (`config notify`); secrets masked", ref("Notify"), ""),
                "put": operation("Change the fields given; a secret sent back masked stays as stored", ref("Notify"), "409",
                                 body=ref("NotifyInput")),
            },
            "/api/v1/notify/test": {"post": operation(
                "Send a test alert to every channel now, each tried once",
                obj({"results": {"type": "array", "items": ref("NotifyResult")}}), "")},
            "/api/v1/uplinks": {"get": operation("Every uplink: in use, metered, link, bytes",
                                                 obj({"uplinks": {"type": "array", "items": ref("Uplink")}}), "")},
            "/api/v1/categories/{id}": {
                "put": operation("Add a category of one's own, or replace a category's domains", ref("Category"), "409",
                                 body=ref("CategoryInput"), params=GID),
                "delete": operation("Remove a category of one's own (block lists naming it lose it); a shipped one is a 409",
                                    None, "404 409", params=GID, status="204"),
            },
            "/api/v1/saver": {
                "get": operation("The data saver: categories blocked for everyone and for each group", ref("Saver"), ""),
                "put": operation("Set the categories blocked for everyone (and, optionally, for groups)", ref("Saver"), "409",
                                 body=ref("SaverInput")),
            },
            "/api/v1/alerts": {"get": operation("Alerts, newest first", obj({"alerts": {"type": "array", "items": ref("Alert")}}), "")},
            "/api/v1/session": {
                "post": operation("Log in: sets the session cookie; with two-factor login on, also send otp (a TOTP code "
                                  "or a recovery code)", obj({"csrf_token": TEXT}), "401 429", public=True,
                                  body=obj({"password": TEXT, "otp": TEXT}, required=["password"])),
                "delete": operation("Log out", None, "", status="204"),
            },
            "/api/v1/export": {"get": operation("Stored usage per device and step, as CSV or JSON", None, "404 422", params=[
                query_param("mac", TEXT), query_param("step", {"type": "string", "enum": list(HISTORY_SPAN)}),
                query_param("from", TIME), query_param("to", TIME),
                query_param("format", {"type": "string", "enum": ["csv", "json"]})], content=EXPORT)},
            "/metrics": {"get": operation("The same figures in the Prometheus text format", None, "", content=METRICS)},
            "/api/v1/me": {"get": operation("The asking device (by source address)", ref("Device"), "404", public=True)},
            "/healthz": {"get": operation("Alive, and how many meter readings so far", ref("Health"), "", public=True)},
            "/openapi.json": {"get": operation("This document", {"type": "object"}, "", public=True)},
            **topup_paths(),
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A token from `routerguard token` or the tokens page"},
                "session": {"type": "apiKey", "in": "cookie", "name": "routerguard_session",
                            "description": "From POST /api/v1/session; state-changing requests also send X-CSRF-Token"},
            },
        },
    }
