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


def test_a_card_whose_device_did_not_change_is_not_rendered_again(site: Site, monkeypatch) -> None:
    """Most devices are idle at any moment: only the cards whose view changed are rendered at a publication."""
    from routerguard.serve import admin

    admin_client = site.login()
    site.service.publish_views()
    first = cards(admin_client.get(site.url("/admin")).text)
    rendered = []
    real = admin._card_renderer

    def spied():
        card = real()
        return lambda d: rendered.append(d["mac"]) or card(d)

    monkeypatch.setattr(admin, "_card_renderer", spied)
    site.usage(LAPTOP, 3_000_000, 4_000_000)
    site.service.publish_views()
    after = cards(admin_client.get(site.url("/admin")).text)
    assert LAPTOP in rendered and PHONE not in rendered
    assert after != first and after.count("<article") == first.count("<article")


def test_a_card_shows_only_what_card_shows_says() -> None:
    """Every field of a device's view the card's template uses is in card_shows (else a change would not show)."""
    import pathlib

    from routerguard.serve.admin import card_shows

    template = (pathlib.Path(__file__).parents[2] / "web" / "templates" / "device_card.html").read_text()
    used = set(re.findall(r"\bd\.([a-z_]+)", template))
    view = {"mac": "m", "usage": {"total_bytes": 1}, "rate": {"up_bps": 2, "down_bps": 3}}
    for field in used - set(view):
        marked = dict(view, **{field: "marked"})
        assert card_shows(marked) != card_shows(view), field
    assert used >= {"mac", "usage", "rate"}
