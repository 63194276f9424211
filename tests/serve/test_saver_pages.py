"""The data-saver page and the device page's switches: forms do what the API does, in effect at once, in both languages."""

from __future__ import annotations

import requests

from routerguard.serve.saver import new_id
from test_pages import form
from web_util import LAPTOP, PHONE, Site


def fields(admin: requests.Session, **lists: list[str]) -> list[tuple[str, str]]:
    """A form's fields with repeated names (checkboxes), CSRF token first."""
    return [("csrf_token", admin.headers["X-CSRF-Token"])] + [(name, v) for name, values in lists.items() for v in values]


def test_the_page_shows_who_is_blocked_and_the_shipped_lists(site: Site, admin: requests.Session) -> None:
    site.service.set_saver({"block": ["video"], "groups": {"zhang": ["app_stores"]}})
    page = admin.get(site.url("/admin/saver")).text
    assert 'href="/admin/saver" aria-current="page">Data saver<' in page
    assert 'name="everyone" value="video" checked' in page and 'name="everyone" value="os_updates">' in page
    assert 'name="group_zhang" value="app_stores" checked' in page and "Zhang family (group)" in page
    assert '<details class="category">' in page and "googlevideo.com" in page and "32 domains" in page
    zh = admin.get(site.url("/admin/saver"), cookies={"lang": "zh-CN"}).text
    assert "省流量" in zh and "视频" in zh and "分组“Zhang family”" in zh and "个域名" in zh


def test_the_switches_save_everyone_and_groups(site: Site, admin: requests.Session) -> None:
    response = admin.post(site.url("/admin/saver"), data=fields(admin, everyone=["os_updates", "video"], group_zhang=["video"]))
    assert response.status_code == 200 and "Saved." in response.text and response.url.endswith("/admin/saver")
    assert site.service.saver() == {"block": ["os_updates", "video"], "groups": {"zhang": ["video"]}}
    admin.post(site.url("/admin/saver"), data=fields(admin))
    assert site.service.saver() == {"block": [], "groups": {"zhang": []}}
    assert "list block" not in site.config_bytes().decode()


def test_a_category_of_ones_own_is_added_and_removed_on_the_page(site: Site, admin: requests.Session) -> None:
    response = form(admin, site, "/admin/saver/categories", name="Games", domains="steamcontent.com，epicgames.com\nsteampowered.com")
    assert "Saved." in response.text and "your own" in response.text and "Remove Games" in response.text
    games = next(c for c in site.service.categories() if c["id"] == "games")
    assert games["domains"] == ["epicgames.com", "steamcontent.com", "steampowered.com"]
    assert form(admin, site, "/admin/saver/categories", name="游戏", domains="game.example.com").status_code == 200
    assert "own" in {c["id"] for c in site.service.categories()}
    form(admin, site, "/admin/saver/categories/games/delete")
    assert "games" not in {c["id"] for c in site.service.categories()}


def test_a_refused_category_says_why_and_changes_nothing(site: Site, admin: requests.Session) -> None:
    before = site.config_bytes()
    response = form(admin, site, "/admin/saver/categories", name="Games", domains="steam/content")
    assert response.status_code == 422 and "is not a domain name" in response.text and "<details open>" in response.text
    assert form(admin, site, "/admin/saver/categories", name="Games", domains="").status_code == 422
    assert form(admin, site, "/admin/saver/categories", name=" ", domains="a.com").status_code == 422
    assert site.config_bytes() == before


def test_ids_for_new_categories() -> None:
    assert new_id("My Games!", set()) == "my_games"
    assert new_id("游戏", {"own"}) == "own_2"
    assert new_id("Video", {"video"}) == "video_2"
    assert len(new_id("x" * 80, set())) <= 32


def test_the_device_page_has_its_own_switches(site: Site, admin: requests.Session) -> None:
    site.service.set_saver({"block": ["os_updates"], "groups": {"zhang": ["app_stores"]}})
    page = admin.get(site.url(f"/admin/devices/{PHONE}")).text
    assert 'id="saver"' in page and 'name="block" value="video">' in page
    assert "(blocked for every device)" in page and "(blocked for its group)" in page
    response = admin.post(site.url(f"/admin/devices/{PHONE}/saver"), data=fields(admin, block=["video", "cloud_backup"]))
    assert response.status_code == 200 and "Saved." in response.text
    assert site.service.device(PHONE)["block"] == ["video", "cloud_backup"]
    assert 'name="block" value="video" checked' in response.text
    admin.post(site.url(f"/admin/devices/{PHONE}/saver"), data=fields(admin))
    assert site.service.device(PHONE)["block"] == []
    refused = admin.post(site.url(f"/admin/devices/{LAPTOP}/saver"), data=fields(admin, block=["nope"]))
    assert refused.status_code == 422 and "no category &#39;nope&#39;" in refused.text


def test_the_saver_pages_need_the_admin(site: Site) -> None:
    for path in ("/admin/saver", "/admin/saver/categories", f"/admin/devices/{PHONE}/saver"):
        response = requests.post(site.url(path), allow_redirects=False)
        assert response.status_code == 303 and "/login" in response.headers["Location"]
    assert site.service.saver()["block"] == []
