"""What every view takes from the app: the Service, and the request's JSON body."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from flask import abort, current_app, request

from routerguard.service import Service

SERVICE = "routerguard.service"


def service() -> Service:
    return current_app.extensions[SERVICE]


def json_body(required: bool = True) -> Any:
    """The parsed body; malformed JSON is a 400 that says where it broke."""
    data = request.get_data(cache=True)
    if not data.strip():
        if required:
            abort(400, "the body is empty; send a JSON object")
        return None
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        abort(400, f"the body is not valid JSON: {e}")


def asking_device() -> dict | None:
    """DEVICE for the source address of the request (an IPv4-mapped IPv6 address as its IPv4)."""
    address = request.remote_addr or ""
    try:
        ip = ipaddress.ip_address(address)
        address = str(getattr(ip, "ipv4_mapped", None) or ip)
    except ValueError:
        return None
    return service().device_for_address(address)


def local_path(target: str | None, default: str = "/") -> str:
    """`target` when it is a path on this site, else `default`: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
