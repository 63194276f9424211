"""The plan as eSIM bundles over HTTP: GET /api/v1/plan's bundles, POST/DELETE /api/v1/plan/bundles, the costs
(JSON and CSV), and the page's form; bad input is a 422 naming the field that changes nothing."""

from __future__ import annotations

import csv
import io

from web_util import LAPTOP, PHONE, Site

MB = 1_000_000


def test_add_list_and_remove_a_bundle(site: Site, admin) -> None:
    added = admin.post(site.url("/api/v1/plan/bundles"),
                       json={"quota_bytes": 5 * MB, "days": 7, "name": "Jazz add-on", "price": 700, "currency": "PKR"})
    assert added.status_code == 201, added.text
    bundle = added.json()
    assert bundle["name"] == "Jazz add-on" and bundle["state"] == "active" and bundle["price"] == 700
    plan = admin.get(site.url("/api/v1/plan")).json()
    ids = [b["id"] for b in plan["bundles"]]
    assert bundle["id"] in ids and "plan" in ids  # `config plan` is one recurring bundle among them
    active = [b for b in plan["bundles"] if b["state"] == "active"]
    assert plan["quota_bytes"] == sum(b["quota_bytes"] for b in active)
    assert plan["used_bytes"] == sum(b["used_bytes"] for b in active)
    assert admin.delete(site.url(f"/api/v1/plan/bundles/{bundle['id']}")).status_code == 204
    assert admin.delete(site.url(f"/api/v1/plan/bundles/{bundle['id']}")).status_code == 404
    assert admin.get(site.url("/api/v1/plan")).json()["bundles"] == []


def test_bad_bundles_are_422_naming_the_field_and_change_nothing(site: Site, admin) -> None:
    before = site.config_bytes()
    for body, field in [({"quota_bytes": -1, "days": 7}, "quota_bytes"), ({"quota_bytes": MB, "days": 0}, "days"),
                        ({"daily_bytes": MB}, "days"), ({"quota_bytes": MB, "days": 1, "currency": "euro", "price": 1}, "currency"),
                        ({"quota_bytes": MB, "days": 1, "name": "Add-on\nfake line"}, "name"),
                        ({"quota_bytes": MB, "days": 1, "name": "evil\u202eenoG 5"}, "name")]:
        response = admin.post(site.url("/api/v1/plan/bundles"), json=body)
        assert response.status_code == 422 and field in response.json()["error"], (body, response.text)
    assert site.config_bytes() == before


def test_costs_follow_each_devices_bytes_as_json_and_csv(site: Site, admin) -> None:
    admin.post(site.url("/api/v1/plan/bundles"), json={"quota_bytes": 10 * MB, "days": 7, "price": "9.99", "currency": "EUR"})
    site.usage(PHONE, 0, 3 * MB)
    site.usage(LAPTOP, 0, 1 * MB)
    costs = admin.get(site.url("/api/v1/plan/costs")).json()["costs"]
    assert [row["mac"] for row in costs][:2] == [PHONE, LAPTOP]
    assert costs[0]["group"] == "zhang" and costs[0]["currency"] == "EUR"
    assert round(sum(row["amount"] for row in costs), 2) == round(9.99 * 4 / 10, 2)
    text = admin.get(site.url("/api/v1/plan/costs"), params={"format": "csv"}).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["mac"] == PHONE and rows[0]["amount"] == f"{costs[0]['amount']:.2f}"
    by_accept = admin.get(site.url("/api/v1/plan/costs"), headers={"Accept": "text/csv"})
    assert by_accept.headers["Content-Type"].startswith("text/csv")
    assert admin.get(site.url("/api/v1/plan/costs"), params={"from": "2026-05-02T00:00:00Z",
                                                             "to": "2026-05-01T00:00:00Z"}).status_code == 422


def test_the_page_adds_a_day_pack_and_says_a_bad_size_in_chinese(site: Site, admin) -> None:
    page = admin.get(site.url("/admin/plan"))
    assert page.status_code == 200 and "bundles/" not in page.url
    added = admin.post(site.url("/admin/plan/bundles"), data={"size": "1GB", "days": "30", "name": "Day pack", "daily": "1"},
                       allow_redirects=False)
    assert added.status_code == 303
    pack = [b for b in site.service.plan()["bundles"] if b["name"] == "Day pack"][0]
    assert pack["daily_bytes"] == 1_000_000_000 and pack["days"] == 30
    admin.cookies.set("lang", "zh-CN")
    refused = admin.post(site.url("/admin/plan/bundles"), data={"size": "-5GB", "days": "7"})
    assert refused.status_code == 422 and "流量" in refused.text
    shown = admin.get(site.url("/admin/plan")).text
    assert "流量包" in shown and "日包" in shown and "费用分摊" in shown
