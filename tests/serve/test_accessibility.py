"""Every page in a real browser, at phone and desktop widths, in both languages: axe-core's WCAG 2 A/AA
rules, no horizontal overflow, nothing fetched from outside, no script errors, under 150 KB a page.

The pages come from the app's routes (page_tour.page_paths), as the admin
sees them and, for the public ones, as a guest does, plus the error page
and a refused login; each is visited once and screenshot into
tests/artifacts/ for a person to look at. axe-core's script comes with
the axe-playwright-python wheel and is run in Debian's Chromium.
"""

from __future__ import annotations

import pytest

from routerguard.serve.app import create_app
from page_tour import furnish, page_paths
from browser_util import VIEWPORTS, check_page, log_in, open_page, shoot
from web_util import Site

axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright")

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
pytestmark = pytest.mark.browser


def pages(site: Site) -> tuple[list[str], list[str]]:
    """(every page, the public ones a guest opens without logging in)."""
    app = create_app(site.service)
    paths = page_paths(app)
    public = []
    for path in paths:
        with app.test_request_context(path):
            from flask import request
            view = app.view_functions.get(request.url_rule.endpoint if request.url_rule else "")
            if getattr(view, "public", False):
                public.append(path)
    return paths, public


def violations(axe, page) -> list[str]:
    results = axe.run(page, options={"runOnly": {"type": "tag", "values": TAGS}, "resultTypes": ["violations"]})
    return [f"{v['id']} ({v['impact']}): {v['help']} - " + "; ".join(n["target"][0] for n in v["nodes"][:5])
            for v in results.response["violations"]]


@pytest.mark.parametrize("size", list(VIEWPORTS))
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_every_page_passes_axe_fits_and_weighs_little(browser, router: Site, size: str, locale: str) -> None:
    axe = axe_playwright.Axe()
    furnish(router)
    every, public = pages(router)
    context, page = open_page(browser, size, locale)
    found: list[str] = []
    fetched: dict[str, int] = {}
    errors: list[str] = []  # script errors and CSP refusals land in the console
    page.on("response", lambda r: fetched.__setitem__(r.url, 0 if 300 <= r.status < 400 else len(r.body())))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))

    def visit(path: str, who: str) -> None:
        check_page(page, router, path, size, locale, fetched, "-guest" if who == "guest" else "")
        found.extend(f"{who} {path}: {v}" for v in violations(axe, page))

    def asked_for(status: int) -> None:
        """Drop the browser's own console line for an error status the test asked for on purpose."""
        errors[:] = [e for e in errors if f"status of {status}" not in e]

    visit("/no/such/page", "guest")
    asked_for(404)
    for path in public:
        visit(path, "guest")
    page.goto(router.url("/login"))
    page.fill("input[name=password]", "wrong")  # the login page, now showing why it refused
    page.click("button[type=submit]")
    page.wait_for_selector(".flash.error")
    asked_for(401)
    found.extend(f"guest failed login: {v}" for v in violations(axe, page))
    shoot(page, f"login-failed-{locale[:2]}-{size}")
    log_in(page, router)
    for path in every:
        visit(path, "admin")
    context.close()
    assert not found, "axe-core violations:\n" + "\n".join(found)
    assert errors == []
