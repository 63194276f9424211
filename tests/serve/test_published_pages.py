"""The dashboard over published views (service/views.py): the same page, its device cards rendered once per
publication and language, a change shown at once."""

import re

from web_util import LAPTOP, PHONE, Site


def cards(html: str) -> str:
    """The device grid, without the page's words for live.js."""
    grid = html[html.index('id="devices"'):]
    return grid[:grid.index("<script")]


def test_the_published_dashboard_is_the_fresh_one(site: Site) -> None:
    admin = site.login()
    site.usage(PHONE, 1_000_000, 2_000_000)
    fresh = admin.get(site.url("/admin")).text
    site.service.publish_views()
    assert admin.get(site.url("/admin")).text == fresh


def test_cards_follow_the_publication_not_the_request(site: Site) -> None:
    admin = site.login()
    site.service.publish_views()
    before = cards(admin.get(site.url("/admin")).text)
    site.usage(LAPTOP, 3_000_000, 4_000_000)
    assert cards(admin.get(site.url("/admin")).text) == before  # served as published until the next reading
    site.service.publish_views()
    after = cards(admin.get(site.url("/admin")).text)
    assert after != before and "7.0" in re.sub(r"\s+", " ", after)  # 7 MB used by the laptop


def test_cards_are_kept_per_language(site: Site) -> None:
    site.service.publish_views()
    english = site.login()
    chinese = site.login()
    chinese.get(site.url("/lang/zh-CN?next=/admin"))
    for _ in range(2):  # the second time from what was kept
        assert 'title="online"' in cards(english.get(site.url("/admin")).text)
        assert 'title="在线"' in cards(chinese.get(site.url("/admin")).text)


def test_a_change_on_the_page_shows_at_once(site: Site) -> None:
    """In the daemon core.on_change republishes (daemon.py): after the click the page shows the change."""
    site.core.on_change = site.service.publish_views
    site.service.publish_views()
    admin = site.login()
    page = admin.get(site.url(f"/admin/devices/{LAPTOP}")).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = admin.post(site.url(f"/admin/devices/{LAPTOP}/settings"),
                          data={"csrf_token": token, "name": "Li laptop", "group": "", "exempt": ""})
    assert response.status_code == 200
    assert "Li laptop" in cards(admin.get(site.url("/admin")).text)
