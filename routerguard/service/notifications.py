"""Where alerts go (`config notify`): the settings' view, their change and a test alert."""

from __future__ import annotations

from typing import Any

from routerguard.config.model import MAX_THRESHOLDS, NOTIFY_OPTIONS, Notify
from routerguard.config import uci
from routerguard.notify import SECRET_OPTIONS, TEST_ALERT, Render, deliveries, mask, send_test
from routerguard.units import rfc3339
from routerguard.service.common import Area, Invalid, is_int


class Notifications(Area):
    """The notify section."""

    def notify(self) -> dict:
        """`config notify` in the API's shape: secrets masked, `channels` the ones set up."""
        notify = self.core.config.notify
        view: dict[str, Any] = {name: getattr(notify, name) for name in NOTIFY_OPTIONS}
        view.update({name: mask(view[name]) for name in SECRET_OPTIONS})
        view["thresholds"] = list(notify.thresholds)
        view["channels"] = [d.channel for d in deliveries(notify, {**TEST_ALERT, "time": None})]
        return view

    def put_notify(self, body: Any) -> dict:
        """Change the fields given (the others stay); null clears one; a secret sent back masked keeps the stored one."""
        if not isinstance(body, dict):
            raise Invalid("the body must be a JSON object")
        allowed = {"thresholds", *NOTIFY_OPTIONS}
        unknown = set(body) - allowed - {"channels"}  # `channels` is the view's own: sending the view back is fine
        if unknown:
            raise Invalid(f"unknown field(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(allowed))}")
        channels = body.get("channels", [])
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            raise Invalid("channels (the view's list of channels set up, ignored here) must be a list of strings")
        current = self.core.config.notify
        options: dict[str, str | None] = {}
        for name in NOTIFY_OPTIONS.keys() & body.keys():
            value = body[name]
            if isinstance(value, str):
                value = value.strip() or None
            if value is not None and not isinstance(value, str):
                raise Invalid(f"{name} must be a string or null")
            if value == getattr(current, name) or (name in SECRET_OPTIONS and value is not None and value == mask(getattr(current, name))):
                continue  # as it is (a secret: the masked value the view showed): the file keeps its own text
            if value is not None:
                try:
                    NOTIFY_OPTIONS[name](value)
                except ValueError as e:
                    raise Invalid(f"{name}: {e}") from None
            options[name] = value
        thresholds = self._parse_thresholds(body["thresholds"]) if "thresholds" in body else None
        if thresholds is not None and tuple(thresholds) == current.thresholds:
            thresholds = None  # the defaults stay unwritten
        def change(package: uci.Package) -> None:
            section = next(iter(package.find("notify")), None) or package.add("notify", "notify")
            for name, value in options.items():
                if value is None or value == getattr(Notify(), name):  # a default is left unwritten
                    section.delete(name)
                else:
                    section.set(name, value)
            if thresholds is not None:
                section.set_list("threshold", [str(t) for t in thresholds])

        self.core.config_file.edit(change)
        self.core.on_change()
        return self.notify()

    @staticmethod
    def _parse_thresholds(value: Any) -> list[int]:
        rule = f"thresholds must be a list of 1 to {MAX_THRESHOLDS} whole percentages from 1 to 100"
        if not isinstance(value, list) or not 0 < len(value) <= MAX_THRESHOLDS:
            raise Invalid(rule)
        if not all(is_int(t) and 1 <= t <= 100 for t in value):
            raise Invalid(rule)
        return sorted(set(value))

    def test_notify(self, render: Render | None = None) -> list[dict]:
        """A test alert to every channel now (in the section's language, with `render`'s words); each one's outcome."""
        return [{"channel": o.channel, "ok": o.ok, "status": o.status, "error": o.error}
                for o in send_test(self.core.config.notify, rfc3339(self.core.now()), render)]
