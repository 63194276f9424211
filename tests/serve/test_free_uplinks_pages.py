"""Free uplinks first on the API and the pages: metered_access (PATCH, DEVICE, the device's and /me's words),
the probes' verdict and bytes on the uplinks card, the `uplink` alerts in both languages."""

from __future__ import annotations

import os

import pytest
import requests

from routerguard.account.uplinks import Uplinks
from routerguard.read.links import LinkReading
from routerguard.serve.words import alert_text_in
from browser_util import ARTIFACTS, CHROMIUM, VIEWPORTS, log_in, open_page, shoot
from web_util import Site

MAC, IP = "02:00:00:00:00:0a", "192.168.8.10"
HOTEL_WIFI = "\nconfig uplink\n\toption ifname 'wlan-sta'\n\toption metered '0'\n"


@pytest.fixture
def hotel(site: Site) -> Site:
    """The eSIM's wwan0 and a hotel Wi-Fi behind a captive portal: the eSIM carries the traffic."""
    with open(site.config_path, "a") as f:
        f.write(HOTEL_WIFI)
    site.core.config_file.reload()
    links = {"wwan0": LinkReading(7, True, 0, 0), "wlan-sta": LinkReading(8, True, 0, 0)}
    site.core.uplinks = Uplinks(links.get, lambda: "wwan0")
    site.core.uplinks.probed("wlan-sta", False, "captive", 690)
    site.device(MAC, IP, "laptop")
    return site


def patch(site: Site, body: dict) -> requests.Response:
    return requests.patch(site.url(f"/api/v1/devices/{MAC}"), json=body, headers=site.bearer())


def test_metered_access_is_changed_shown_and_refused_while_on_the_esim(hotel: Site) -> None:
    assert requests.get(hotel.url(f"/api/v1/devices/{MAC}"), headers=hotel.bearer()).json()["metered_access"] is True
    changed = patch(hotel, {"metered_access": False})
    assert changed.status_code == 200 and changed.json()["metered_access"] is False
    assert changed.json()["metered_refused"] is True  # the eSIM is in use
    assert "option metered_access '0'" in open(hotel.config_path).read()
    back = patch(hotel, {"metered_access": True}).json()
    assert back["metered_access"] is True and back["metered_refused"] is False
    assert "option metered_access" not in open(hotel.config_path).read()  # the default again: no option left behind


@pytest.mark.parametrize("value", ["0", 0, None, "no"])
def test_a_bad_metered_access_changes_nothing(hotel: Site, value) -> None:
    before = open(hotel.config_path).read()
    response = patch(hotel, {"metered_access": value, "name": "Laptop"})
    assert response.status_code == 422 and "metered_access" in response.json()["error"]
    assert open(hotel.config_path).read() == before


def test_the_pages_say_it_in_both_languages(hotel: Site) -> None:
    patch(hotel, {"metered_access": False})
    session = hotel.login()
    device = session.get(hotel.url(f"/admin/devices/{MAC}")).text
    assert "May use mobile data" in device and "Offline now: the router is on mobile data." in device
    session.cookies.set("lang", "zh-CN")
    assert "当前离线：路由器正在使用移动数据。" in session.get(hotel.url(f"/admin/devices/{MAC}")).text
    card = session.get(hotel.url("/admin/plan")).text.split('id="uplinks"')[1].split("</section>")[0]
    assert "需要登录（认证页面）" in card and "已检测 1 次" in card
    session.cookies.set("lang", "en")
    card = session.get(hotel.url("/admin/plan")).text.split('id="uplinks"')[1].split("</section>")[0]
    assert "Login page (captive portal)" in card and "Probes: 1, 690\xa0B" in card


def test_the_settings_form_keeps_metered_access(hotel: Site) -> None:
    session = hotel.login()
    page = session.get(hotel.url(f"/admin/devices/{MAC}")).text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    session.post(hotel.url(f"/admin/devices/{MAC}/settings"), data={"csrf_token": token, "name": "Laptop"})
    device = requests.get(hotel.url(f"/api/v1/devices/{MAC}"), headers=hotel.bearer()).json()
    assert device["name"] == "Laptop" and device["metered_access"] is False  # unticked: no mobile data


def test_uplink_alerts_read_in_both_languages() -> None:
    moved = {"kind": "uplink", "message": "x", "params": {"to": "wwan0", "from": "wlan-sta", "metered": True, "why": "captive"}}
    assert alert_text_in(moved, "en") == ("Traffic moved to the metered uplink wwan0: wlan-sta has no working internet"
                                          " (a captive portal answers: log in there).")
    assert alert_text_in(moved, "zh-CN").startswith("流量已改走计流量的上行链路 wwan0：wlan-sta 无法上网")
    back = {"kind": "uplink", "message": "x", "params": {"to": "wlan-sta", "from": "wwan0", "metered": False, "why": ""}}
    assert "back on the unmetered uplink wlan-sta" in alert_text_in(back, "en")
    assert "已回到不计流量的上行链路 wlan-sta" in alert_text_in(back, "zh-CN")


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Debian's chromium at {CHROMIUM}")
@pytest.mark.parametrize("size", list(VIEWPORTS))
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_the_uplinks_card_and_the_device_switch_in_a_browser(browser, hotel: Site, size: str, locale: str) -> None:
    patch(hotel, {"metered_access": False})
    context, page = open_page(browser, size, locale)
    log_in(page, hotel)
    page.goto(hotel.url("/admin/plan"))
    card = page.locator("#uplinks")
    card.scroll_into_view_if_needed()
    assert card.locator("[data-ifname='wlan-sta'] [data-f='internet']").is_visible()
    assert card.locator("[data-ifname='wlan-sta'] [data-f='probes']").is_visible()
    card.screenshot(path=str(ARTIFACTS / f"free-uplinks-card-{locale[:2]}-{size}.png"))
    page.goto(hotel.url(f"/admin/devices/{MAC}"))
    switch = page.locator("input[name='metered_access']")
    assert switch.is_visible() and not switch.is_checked()
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[size]["width"]
    switch.scroll_into_view_if_needed()
    shoot(page, f"free-uplinks-device-{locale[:2]}-{size}")
    context.close()
