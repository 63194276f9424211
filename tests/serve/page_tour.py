"""Every page of the app, found from its routes, and the words a reader sees on one.

The language test (test_languages.py) and the accessibility test
(test_browser.py) visit the same pages: each GET route that serves HTML,
its arguments filled from SAMPLE_ARGS. A new page is visited without
anyone listing it; a new route argument fails the tour until its sample
is added here.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from flask import Flask, url_for

from routerguard.decide.alerts import threshold_alert, unusual_use
from routerguard.decide.policy import Limit
from routerguard.serve.errors import NOT_PAGES
from web_util import LAPTOP, PHONE, Site

NOT_VISITED = ("/lang/", "/logout", "/test/")  # a redirect, not a page; a form's target; the tests' own routes
SAMPLE_ARGS = {"mac": PHONE, "gid": "zhang"}  # route argument -> a value the test router has
# Words that read the same in Chinese text: the product's name, units, protocols, the language switch's own name.
ALLOWED = {"routerguard", "passwd", "English", "MAC", "IP", "IPv4", "IPv6", "API", "SNMP", "WAN", "LAN", "DNS", "HTTP",
           "HTTPS", "URL", "KiB", "MiB", "GiB", "TiB", "KB", "MB", "GB", "TB", "kbit", "mbit", "gbit", "Mbit", "Gbit",
           "Mbps", "bit",
           # names Chinese users read as they are: services, chat apps and their formats, the SIM
           "Webhook", "JSON", "ntfy", "Telegram", "Bark", "iPhone", "ID", "AAE", "SEC", "eSIM", "SIM", "Wi", "Fi"}
ADDRESS = re.compile(r"\b(?:[0-9a-f]{2}:){5}[0-9a-f]{2}\b|\b\d{1,3}(?:\.\d{1,3}){3}\b|\b[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){2,7}\b"
                     r"|https?://\S+|\b(?:[a-z0-9-]+\.)+[a-z]{2,}\b|“[^”]*”", re.I)  # addresses, links, domain names,
                                                                          # and what the reader typed, quoted back
WORD = re.compile(r"[A-Za-z]{2,}")
SKIPPED = {"script", "style", "code"}  # not words of the page's language: programs and literal commands
SPOKEN_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")
HOUR = 3600


def furnish(site: Site) -> None:
    """Alerts of each kind, an API token and a calibration, so that the alerts and tokens pages show more than "none"
    and the plan its calibration."""
    alert, levels = threshold_alert("device:x", "Zhang phone's cap", Limit("device", 10**9, 9 * 10**8, "block"),
                                    (80, 95), set(), PHONE, {"subject": "device", "name": "Zhang phone"})
    site.core.alerts.record(site.core.now(), alert.kind, alert.mac, alert.message, alert.params, "device:x", 0, levels)
    for burst in unusual_use(LAPTOP, "laptop", 50_000_000, [(t * HOUR, 100_000) for t in range(100)], 200 * HOUR, 0,
                             lambda t: int(t // HOUR) % 24):
        site.core.alerts.record(site.core.now(), burst.kind, burst.mac, burst.message, burst.params, "x", 1, [0])
    site.core.secrets.new_token("backup script")
    site.service.calibrate({"used_bytes": site.service.plan()["counted_bytes"] + 123_000_000})  # the plan shows a difference


def page_paths(app: Flask, samples: dict[str, str] | None = None) -> list[str]:
    """The path of every page (a GET route that is not the API's), with its arguments filled in."""
    samples = {**SAMPLE_ARGS, **(samples or {})}
    paths = set()
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.rule.startswith(NOT_PAGES + NOT_VISITED):
            continue
        missing = set(rule.arguments) - set(samples)
        assert not missing, f"{rule.rule}: add a sample value for {missing} to page_tour.SAMPLE_ARGS"
        with app.test_request_context():
            paths.add(url_for(rule.endpoint, **{name: samples[name] for name in rule.arguments}))
    return sorted(paths)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED:
            self._skipping += 1
        said = dict(attrs)
        self.parts += [said[name] or "" for name in SPOKEN_ATTRIBUTES if name in said]
        if tag == "input" and said.get("type") in ("submit", "button"):
            self.parts.append(said.get("value") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def english_words(html: str, data: set[str]) -> list[str]:
    """The Latin-letter words a reader sees that are neither allowed nor names from the router's data."""
    text = visible_text(html)
    for name in sorted(data, key=len, reverse=True):  # longest first: "Zhang family" before "Zhang"
        text = text.replace(name, " ")
    text = ADDRESS.sub(" ", text)
    return [word for word in WORD.findall(text) if word not in ALLOWED]
