"""What every view takes from the app: the Service, and the request's JSON body."""

from __future__ import annotations

import ipaddress
import json
import unicodedata
from typing import Any
from urllib.parse import urlsplit

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
    except RecursionError:  # 64 KiB of [[[[...: deeper than Python's parser goes
        abort(400, "the body is not valid JSON: nested too deeply")


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
    """`target` when it is a path on this site, else `default`: never an open redirect.

    Browsers drop tabs and line breaks from a URL and read `\\` as `/`, so `/%09/evil.example` is
    `//evil.example` to them: any whitespace, control character or backslash makes it `default`
    (and keeps CR/LF out of the Location header).
    """
    if not target or "\\" in target or any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in target):
        return default
    if not target.startswith("/") or target.startswith("//"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
