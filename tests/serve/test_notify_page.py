"""The notifications page without a browser: the form saves to the UCI file, the test button reports each channel."""

from __future__ import annotations

from typing import Iterator

import pytest
import requests

from routerguard_lab.receiver import Receiver
from web_util import Site


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def form(admin: requests.Session, **fields: str) -> dict[str, str]:
    token = admin.headers["X-CSRF-Token"]
    return {"csrf_token": token, "thresholds": "80, 95", "language": "en", **fields}


def test_the_form_saves_and_the_page_shows_it(site: Site, admin: requests.Session) -> None:
    response = admin.post(site.url("/admin/notify"), data=form(admin, webhook="http://192.0.2.10/hook", thresholds="70，90"))
    assert response.status_code == 200 and "Saved." in response.text  # after the redirect
    assert site.core.config.notify.webhook == "http://192.0.2.10/hook" and site.core.config.notify.thresholds == (70, 90)
    assert 'value="70, 90"' in response.text and 'value="http://192.0.2.10/hook"' in response.text


def test_a_refused_field_shows_why_and_keeps_what_was_typed(site: Site, admin: requests.Session) -> None:
    before = site.config_bytes()
    response = admin.post(site.url("/admin/notify"), data=form(admin, webhook="ftp://192.0.2.10/hook"))
    assert response.status_code == 422 and "webhook" in response.text and 'value="ftp://192.0.2.10/hook"' in response.text
    assert site.config_bytes() == before


def test_the_test_button_saves_then_shows_each_channels_result(site: Site, admin: requests.Session, receiver: Receiver) -> None:
    receiver.statuses = [500]
    response = admin.post(site.url("/admin/notify/test"), data=form(admin, webhook=receiver.url("/hook")))
    assert response.status_code == 200
    assert site.core.config.notify.webhook == receiver.url("/hook") and [p for p, _, _ in receiver.requests] == ["/hook"]
    assert 'data-channel="webhook"' in response.text and "Failed" in response.text and "HTTP 500" in response.text
