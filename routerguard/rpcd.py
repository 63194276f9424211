"""`routerguard rpcd list` / `routerguard rpcd call METHOD`: OpenWrt's rpcd exec-plugin protocol.

/usr/libexec/rpcd/routerguard (openwrt/files/routerguard.rpcd) hands its
arguments here, so `ubus call routerguard status` answers JSON, and LuCI's app
reads and acts through ubus under its ACL (luci-app-routerguard). rpcd runs
the plugin with `list` for the methods and their arguments' types, and with
`call METHOD` and the arguments as a JSON object on stdin; the answer is one
JSON object on stdout. A failure is answered as `{"error": "..."}` (what LuCI
shows), never a traceback.

status, devices, plan and block go to the running daemon's API (the CLI's
client and root's cli.token, as `routerguard status` does); set_password and
create_token write routerguard's secrets directly, so LuCI's login, which
already proves an admin, can start routerguard without SSH.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Callable, TextIO

from routerguard.config.model import ConfigError, load_config

# method -> its arguments as rpcd describes them (an example value of each type)
METHODS: dict[str, dict[str, Any]] = {
    "status": {},
    "devices": {},
    "plan": {},
    "page": {},
    "block": {"mac": "str", "blocked": True},
    "set_password": {"password": "str"},
    "create_token": {"label": "str"},
}
MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


class Refused(ValueError):
    """A call's arguments are wrong; the message names the argument."""


def _client(config):
    from routerguard.client import Client

    return Client.for_config(config)


def _status(config, args: dict) -> dict:
    client = _client(config)
    plan, devices = client.plan(), client.devices()
    return {"plan": plan, **devices}


def _devices(config, args: dict) -> dict:
    return _client(config).devices()


def _plan(config, args: dict) -> dict:
    return _client(config).plan()


def _page(config, args: dict) -> dict:
    from routerguard.client import base_url

    return {"url": base_url(config) + "/"}


def _block(config, args: dict) -> dict:
    mac = str(args.get("mac", "")).lower().replace("-", ":")
    if not MAC_RE.match(mac):
        raise Refused("mac: give a MAC address like 02:00:00:00:00:0a")
    blocked = args.get("blocked", True)
    if not isinstance(blocked, bool):
        raise Refused("blocked: true or false")
    return _client(config).patch_device(mac, {"blocked": blocked})


def _set_password(config, args: dict) -> dict:
    from routerguard.store.secrets import Secrets

    password = args.get("password")
    if not isinstance(password, str):
        raise Refused("password: a text is needed")
    try:
        Secrets(config.main.data_dir).set_password(password)
    except ValueError as e:
        raise Refused(f"password: {e}") from None
    return {"ok": True}


def _create_token(config, args: dict) -> dict:
    from routerguard.store.secrets import Secrets

    label = args.get("label", "LuCI")
    if not isinstance(label, str) or len(label) > 64:
        raise Refused("label: a text of at most 64 characters")
    return {"token": Secrets(config.main.data_dir).new_token(label or "LuCI")}


HANDLERS: dict[str, Callable[[Any, dict], dict]] = {
    "status": _status, "devices": _devices, "plan": _plan, "page": _page, "block": _block,
    "set_password": _set_password, "create_token": _create_token,
}


def call(config_path: str, method: str, stdin: TextIO) -> dict:
    """One rpcd `call`: the answer, or {"error": ...}."""
    from routerguard.client import ApiError, DaemonDown

    if method not in HANDLERS:
        return {"error": f"unknown method {method!r}; known: {', '.join(METHODS)}"}
    text = stdin.read() if not stdin.isatty() else ""
    try:
        args = json.loads(text) if text.strip() else {}
    except ValueError:
        return {"error": "the arguments are not JSON"}
    if not isinstance(args, dict):
        return {"error": "the arguments must be a JSON object"}
    try:
        config = load_config(config_path)
    except ConfigError as e:
        return {"error": f"the config {config_path} has problems: " + "; ".join(map(str, e.problems))}
    try:
        return HANDLERS[method](config, args)
    except Refused as e:
        return {"error": str(e)}
    except DaemonDown as e:
        return {"error": f"routerguard is not running: {e}"}
    except ApiError as e:
        return {"error": str(e)}


def main(argv: list[str], config_path: str, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    if argv[:1] == ["list"]:
        answer: dict = METHODS
    elif len(argv) == 2 and argv[0] == "call":
        answer = call(config_path, argv[1], stdin)
    else:
        print("usage: routerguard rpcd list | call METHOD (arguments as JSON on stdin)", file=sys.stderr)
        return 2
    stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
    return 0
