"""The data saver in the virtual router: a category blocked by the API or on the page is in effect before the answer.

The daemon reads every POLL seconds, far longer than a test takes, so what
changed did so because of the request (its Core.on_change: the enforcer's
sets and rules, then the dnsmasq snippet and a dnsmasq restart), not the
loop: the tests check that no reading happened meanwhile.
"""

from __future__ import annotations

import os

import pytest

from routerguard.enforce.dnsmasq import SNIPPET
from routerguard_lab.lab_daemon import LabDaemon
from routerguard_lab.topology import Lab
from routerguard_lab.wait import wait_until

pytestmark = pytest.mark.lab  # needs root and the kernel (see tests/conftest.py)

POLL = 600  # seconds between readings: none happens during a test
VIDEO_NAME = "rr3.googlevideo.com"  # the lab's internet answers it; YouTube's, in the shipped "video" category
SIZE = 100_000


def quiet_daemon(lab: Lab) -> LabDaemon:
    """The daemon after its first reading (it wrote the snippet then), with the next one POLL seconds away."""
    daemon = LabDaemon(lab, poll_interval=POLL).start()
    wait_until(lambda: os.path.exists(os.path.join(lab.router.dnsmasq_conf_dir, SNIPPET)), 10, "routerguard's dnsmasq snippet")
    wait_until(lambda: daemon.readings() >= 1, 10, "the first reading")
    return daemon


def test_a_category_blocked_by_the_api_is_in_effect_before_the_answer(lab: Lab) -> None:
    kept, other = lab.clients
    daemon = quiet_daemon(lab)
    try:
        readings = daemon.readings()
        assert kept.download(SIZE, host=VIDEO_NAME) == SIZE  # fills the router's dnsmasq cache, too
        assert daemon.api("PATCH", f"/api/v1/devices/{kept.mac}", {"block": ["video"]})["block"] == ["video"]
        assert kept.download(SIZE, host=VIDEO_NAME, check=False) == 0
        assert kept.download(SIZE, v6=True, host=VIDEO_NAME, check=False) == 0
        assert kept.download(SIZE, host="dl.example.test") == SIZE
        assert other.download(SIZE, host=VIDEO_NAME) == SIZE

        assert daemon.api("PUT", "/api/v1/saver", {"block": ["video"]})["block"] == ["video"]  # everyone
        assert other.download(SIZE, host=VIDEO_NAME, check=False) == 0
        assert daemon.api("PUT", "/api/v1/saver", {"block": []})["block"] == []
        assert other.download(SIZE, host=VIDEO_NAME) == SIZE
        assert daemon.readings() == readings, "a reading happened: the test did not see the request's own effect"
    finally:
        daemon.stop()
