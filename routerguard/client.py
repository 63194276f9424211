"""The command line's HTTP client to the running daemon: the contract's routes, nothing private.

Going through the API rather than opening the database keeps one owner of
the state (the daemon) and lets the CLI see exactly what the page sees.
As root on the router no token has to be typed: the daemon writes a fresh
one to data_dir/cli.token (mode 0600) at every start, and the client sends
it. `ROUTERGUARD_TOKEN` in the environment takes its place, for a user who
cannot read that file.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from routerguard.config.model import Config
from routerguard.store.secrets import Secrets

TIMEOUT = 10.0
TOKEN_ENV = "ROUTERGUARD_TOKEN"
WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # a daemon listening everywhere answers on loopback


class DaemonDown(ConnectionError):
    """The daemon does not answer (not running, or listening elsewhere)."""


class ApiError(RuntimeError):
    """The daemon answered with an error; the message is its `error` sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def base_url(config: Config) -> str:
    listen = config.main.listen
    if not listen and config.main.listen_interface:  # the daemon serves on that interface's addresses
        from routerguard.read.listen import interface_addresses

        listen = tuple((a, config.main.listen_port) for a in interface_addresses(config.main.listen_interface))
    if not listen:
        raise DaemonDown(f"listen_interface {config.main.listen_interface!r} has no address: the page is not served")
    host, port = listen[0]
    host = WILDCARDS.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def read_token(config: Config) -> str | None:
    """The token to send: $ROUTERGUARD_TOKEN, else the daemon's CLI token when this user may read it."""
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV].strip()
    try:
        with open(Secrets(config.main.data_dir).cli_token_path, encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


class Client:
    def __init__(self, url: str, token: str | None, timeout: float = TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    @classmethod
    def for_config(cls, config: Config) -> Client:
        return cls(base_url(config), read_token(config))

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """The JSON answer; DaemonDown when nothing answers, ApiError for an HTTP error."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                answer = response.read()
                return json.loads(answer) if answer else None  # 204: nothing to say
        except urllib.error.HTTPError as e:
            raise ApiError(e.code, self._error_sentence(e)) from None
        except (urllib.error.URLError, socket.timeout, ConnectionError) as e:
            reason = getattr(e, "reason", e)
            raise DaemonDown(f"routerguard does not answer on {self.url} ({reason}): is the daemon running? "
                             "Start it with `routerguard run --config PATH` (OpenWrt: /etc/init.d/routerguard start)") from None

    def _error_sentence(self, e: urllib.error.HTTPError) -> str:
        try:
            message = json.loads(e.read())["error"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {e.code} {e.reason}"
        if e.code == 401 and not self.token:
            message += f" (run as root on the router, or set {TOKEN_ENV})"
        return message

    # --- the contract's routes -------------------------------------------------

    def devices(self) -> dict:
        return self.request("GET", "/api/v1/devices")

    def device(self, mac: str) -> dict:
        return self.request("GET", f"/api/v1/devices/{urllib.parse.quote(mac)}")

    def plan(self) -> dict:
        return self.request("GET", "/api/v1/plan")

    def add_bundle(self, bundle: dict) -> dict:
        return self.request("POST", "/api/v1/plan/bundles", bundle)

    def remove_bundle(self, bid: str) -> None:
        self.request("DELETE", f"/api/v1/plan/bundles/{urllib.parse.quote(bid, safe='')}")

    def costs(self, since: str | None = None, until: str | None = None) -> dict:
        query = urllib.parse.urlencode({k: v for k, v in (("from", since), ("to", until)) if v})
        return self.request("GET", "/api/v1/plan/costs" + (f"?{query}" if query else ""))

    def patch_device(self, mac: str, changes: dict) -> dict:
        return self.request("PATCH", f"/api/v1/devices/{urllib.parse.quote(mac)}", changes)

    def topup(self, mac: str, nbytes: int) -> dict:
        return self.request("POST", f"/api/v1/devices/{urllib.parse.quote(mac)}/topup", {"bytes": nbytes})

    def topup_group(self, gid: str, nbytes: int) -> dict:
        return self.request("POST", f"/api/v1/groups/{urllib.parse.quote(gid, safe='')}/topup", {"bytes": nbytes})

    def topup_plan(self, nbytes: int) -> dict:
        return self.request("POST", "/api/v1/plan/topup", {"bytes": nbytes})

    def calibrate(self, said: dict) -> dict:
        """`said`: {"used_bytes": N} or {"left_bytes": N}, what the carrier's app says now."""
        return self.request("POST", "/api/v1/plan/calibrate", said)
