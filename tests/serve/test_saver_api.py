"""The data saver's and the category lists' routes over real HTTP: written to the UCI file, in effect at once, bad input changes nothing."""

from __future__ import annotations

import pytest
import requests

from routerguard.config.model import ConfigError, load_config
from routerguard.service import MAX_DOMAINS
from web_util import Site


@pytest.fixture
def api(site: Site) -> "Api":
    return Api(site)


class Api:
    """Bearer-token calls, and how often the change reached the kernel (Core.on_change)."""

    def __init__(self, site: Site) -> None:
        self.site, self.headers, self.changes = site, site.bearer(), 0

        def count() -> None:
            self.changes += 1
        site.core.on_change = count

    def call(self, method: str, path: str, body: object = None, expect: int = 200) -> dict | None:
        response = requests.request(method, self.site.url(path), json=body, headers=self.headers)
        assert response.status_code == expect, response.text
        return response.json() if response.content else None


def test_the_saver_blocks_for_everyone_and_groups_in_the_config_file(site: Site, api: Api) -> None:
    assert api.call("GET", "/api/v1/saver") == {"block": [], "groups": {"zhang": []}}
    saved = api.call("PUT", "/api/v1/saver", {"block": ["video", "os_updates", "video"], "groups": {"zhang": ["app_stores"]}})
    assert saved == {"block": ["video", "os_updates"], "groups": {"zhang": ["app_stores"]}}
    assert api.changes == 1
    text = site.config_bytes().decode()
    assert "config saver 'saver'\n\tlist block 'video'\n\tlist block 'os_updates'" in text
    assert "\tlist block 'app_stores'" in text.split("option id 'zhang'")[1].split("config ")[0]
    assert api.call("PUT", "/api/v1/saver", {"block": []}) == {"block": [], "groups": {"zhang": ["app_stores"]}}
    assert "list block 'video'" not in site.config_bytes().decode()


@pytest.mark.parametrize("body, field", [
    ({"block": ["videos"]}, "block: no category 'videos'"),
    ({"block": "video"}, "block must be a list"),
    ({}, '{"block"'),
    ({"block": [], "groups": {"nobody": []}}, "groups: no group 'nobody'"),
    ({"block": [], "groups": {"zhang": ["nope"]}}, "groups.zhang: no category 'nope'"),
    ({"block": [], "extra": 1}, "unknown field(s) extra"),
])
def test_a_bad_saver_list_is_refused_naming_the_field(site: Site, api: Api, body: dict, field: str) -> None:
    before = site.config_bytes()
    assert field in api.call("PUT", "/api/v1/saver", body, expect=422)["error"]
    assert site.config_bytes() == before and api.changes == 0


def test_a_category_of_ones_own_is_added_blocked_and_removed(site: Site, api: Api) -> None:
    games = api.call("PUT", "/api/v1/categories/games", {"name": "Games", "domains": ["SteamContent.com", "epicgames.com"]})
    assert games == {"id": "games", "name": "Games", "domains": ["epicgames.com", "steamcontent.com"],
                     "services": [{"name": "Games", "domains": ["steamcontent.com", "epicgames.com"]}], "origin": "added"}
    assert "config category\n\toption id 'games'\n\toption name 'Games'\n\tlist domain 'steamcontent.com'" in site.config_bytes().decode()
    api.call("PUT", "/api/v1/saver", {"block": ["games"], "groups": {"zhang": ["games"]}})
    api.call("PATCH", "/api/v1/devices/02:00:00:00:00:0a", {"block": ["games", "video"]})
    assert api.call("PUT", "/api/v1/categories/games", {"name": "Games", "domains": ["steampowered.com"]})["domains"] == ["steampowered.com"]
    assert site.config_bytes().decode().count("option id 'games'") == 1
    changes = api.changes
    assert api.call("DELETE", "/api/v1/categories/games", expect=204) is None
    assert api.changes == changes + 1
    assert "games" not in site.config_bytes().decode()
    assert api.call("GET", "/api/v1/saver") == {"block": [], "groups": {"zhang": []}}
    assert api.call("GET", "/api/v1/devices/02:00:00:00:00:0a")["block"] == ["video"]
    assert "no category" in api.call("DELETE", "/api/v1/categories/games", expect=404)["error"]


def test_a_shipped_list_is_replaced_but_never_removed(site: Site, api: Api) -> None:
    video = api.call("PUT", "/api/v1/categories/video", {"name": "Video", "domains": ["googlevideo.com"]})
    assert (video["domains"], video["origin"]) == (["googlevideo.com"], "changed")
    categories = {c["id"]: c for c in api.call("GET", "/api/v1/categories")["categories"]}
    assert categories["video"]["origin"] == "changed" and categories["os_updates"]["origin"] == "shipped"
    before = site.config_bytes()
    assert "shipped" in api.call("DELETE", "/api/v1/categories/os_updates", expect=409)["error"]
    assert "shipped" in api.call("DELETE", "/api/v1/categories/video", expect=409)["error"]
    assert site.config_bytes() == before


@pytest.mark.parametrize("cid, body, field", [
    ("games", {"name": " ", "domains": ["a.com"]}, "name must be"),
    ("games", {"domains": ["a.com"]}, "name must be"),
    ("games", {"name": "Games", "domains": []}, "domains must be a list of 1 to"),
    ("games", {"name": "Games", "domains": ["a.com"] * (MAX_DOMAINS + 1)}, "domains must be a list of 1 to"),
    ("games", {"name": "Games", "domains": ["com"]}, "domains: 'com' is not a domain name"),
    ("games", {"name": "Games", "domains": ["a.com/#inet#x"]}, "domains: 'a.com/#inet#x' is not"),
    ("games", {"name": "Games", "domains": ["a.com\nserver=1.2.3.4"]}, "is not a domain name"),
    ("games", {"name": "Games", "domains": [".".join(["a" * 60] * 5)]},
     "longer than 253"),
    ("games", {"name": "Games", "domains": ["a.com"], "services": []}, "unknown field(s) services"),
    ("bad.id", {"name": "Games", "domains": ["a.com"]}, "id: a category id"),
])
def test_a_bad_category_is_refused_naming_the_field(site: Site, api: Api, cid: str, body: dict, field: str) -> None:
    before = site.config_bytes()
    assert field in api.call("PUT", f"/api/v1/categories/{cid}", body, expect=422)["error"]
    assert site.config_bytes() == before and api.changes == 0


def test_a_hand_written_bad_domain_is_a_config_error(site: Site) -> None:
    path = site.config_path
    with open(path, "a") as f:
        f.write("\nconfig category\n\toption id 'x'\n\tlist domain 'a.com/#inet'\n")
    with pytest.raises(ConfigError, match="is not a domain name"):
        load_config(path)
