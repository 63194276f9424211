"""Fleet figures: `/metrics` as Prometheus reads it (prometheus_client's own parser), equal to the API's
views, and `/api/v1/export` equal to the stored history."""

import csv
import io
import json
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from routerguard.core import Core
from routerguard.serve.app import create_app
from routerguard.serve.metrics import DEVICE_STATES, render_metrics
from routerguard.service import Invalid, Service, parse_time
from routerguard.units import rfc3339

A, B, C = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c"

CONFIG = """config group
\toption id 'zhang'
\toption name 'Zhang family'
\toption cap '5GB'
\toption period 'daily'

config device
\toption mac '{a}'
\toption name 'Zhang "phone" \\ 手机'
\toption group 'zhang'
\toption cap '1GB'
\toption period 'daily'

config device
\toption mac '{b}'
\toption exempt '1'
"""


@pytest.fixture
def service(fleet_config):
    core = Core(str(fleet_config(CONFIG.format(a=A, b=B))))
    core.ledger.add(A, 300_000_000, 900_000_000, core.now())  # past its 1 GB cap
    core.ledger.add(B, 12_345, 6_789_012_345, core.now())
    core.ledger.add(C, 7, 8, core.now())  # seen, not configured
    yield Service(core)
    core.db.close()


def scrape(service: Service) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label items: value}} through the parser Prometheus' Python client ships."""
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(render_metrics(service)):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def per_device(samples: dict, name: str) -> dict[str, float]:
    return {dict(labels)["mac"]: value for labels, value in samples[name].items()}


def test_device_figures_equal_the_api(service):
    samples, devices = scrape(service), service.devices()
    assert {d["mac"] for d in devices} == {A, B, C}
    for metric, figure in [("routerguard_device_up_bytes", lambda d: d["usage"]["up_bytes"]),
                           ("routerguard_device_down_bytes", lambda d: d["usage"]["down_bytes"]),
                           ("routerguard_device_period_bytes", lambda d: d["usage"]["total_bytes"]),
                           ("routerguard_device_lifetime_bytes_total", lambda d: d["lifetime_bytes"]),
                           ("routerguard_device_up_rate_bits_per_second", lambda d: d["rate"]["up_bps"]),
                           ("routerguard_device_remaining_bytes", lambda d: d["remaining_bytes"])]:
        assert per_device(samples, metric) == {d["mac"]: figure(d) for d in devices}, metric


def test_every_per_device_sample_has_mac_and_name(service):
    names = {d["mac"]: d["name"] or "" for d in service.devices()}
    device_samples = {name: s for name, s in scrape(service).items() if name.startswith("routerguard_device_")}
    assert len(device_samples) > 10
    for name, samples in device_samples.items():
        for labels in samples:
            labels = dict(labels)
            assert names[labels["mac"]] == labels["name"], name
    assert names[A] == 'Zhang "phone" \\ 手机'  # quotes, backslash and UTF-8 survive the round trip


def test_cap_and_allowance_only_for_devices_with_a_cap(service):
    samples = scrape(service)
    assert per_device(samples, "routerguard_device_cap_bytes") == {A: 1_000_000_000}
    assert per_device(samples, "routerguard_device_allowance_bytes") == {A: service.device(A)["allowance_bytes"]}


def test_state_is_one_sample_per_state_with_the_current_one_set(service):
    states = scrape(service)["routerguard_device_state"]
    for device in service.devices():
        mine = {dict(labels)["state"]: value for labels, value in states.items() if dict(labels)["mac"] == device["mac"]}
        assert mine == {state: float(state == device["state"]) for state in DEVICE_STATES}
    assert service.device(A)["state"] == "blocked" and service.device(B)["state"] == "exempt"


def test_plan_figures_equal_the_api(service):
    samples, plan = scrape(service), service.plan()
    value = lambda name: samples[name][()]  # noqa: E731
    assert value("routerguard_plan_quota_bytes") == plan["quota_bytes"] == 20_000_000_000
    assert value("routerguard_plan_used_bytes") == plan["used_bytes"] == 300_000_000 + 900_000_000 + 12_345 + 6_789_012_345 + 15
    assert value("routerguard_plan_remaining_bytes") == plan["remaining_bytes"]
    assert "routerguard_wan_snmp_bytes" not in samples  # null without SNMP: no sample
    assert value("routerguard_plan_period_end_timestamp_seconds") > value("routerguard_plan_period_start_timestamp_seconds")


def test_group_figures_equal_the_api(service):
    samples, (group,) = scrape(service), service.groups()
    labels = (("group", "zhang"), ("name", "Zhang family"))
    assert samples["routerguard_group_used_bytes"][labels] == group["usage"]["total_bytes"]
    assert samples["routerguard_group_members"][labels] == 1


def test_health_figures(service):
    service.core.health.readings = 42
    samples = scrape(service)
    assert samples["routerguard_meter_readings_total"][()] == 42
    assert samples["routerguard_config_error"][()] == 0
    service.core.health.config_error = "bad option"
    assert scrape(service)["routerguard_config_error"][()] == 1


@pytest.fixture
def client(service):
    return create_app(service).test_client()


def test_metrics_route_needs_a_token_and_serves_the_text_format(service, client):
    assert client.get("/metrics", base_url="http://127.0.0.1:8080").status_code == 401
    token = service.secrets.new_token("prometheus")
    response = client.get("/metrics", base_url="http://127.0.0.1:8080", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.content_type == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name for f in text_string_to_metric_families(response.get_data(as_text=True))}
    assert {"routerguard_device_up_bytes", "routerguard_device_lifetime_bytes", "routerguard_plan_used_bytes"} <= families


def test_the_sample_grafana_dashboard_asks_only_for_metrics_we_serve(service):
    dashboard = json.loads((Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json").read_text())
    asked = {name for panel in dashboard["panels"] for target in panel["targets"]
             for name in re.findall(r"routerguard_[a-z_]+", target["expr"])}
    served = set(re.findall(r"^# TYPE (\S+)", render_metrics(service), re.MULTILINE))
    assert asked and asked <= served, asked - served


HOUR = 3600


@pytest.fixture
def history(service):
    """Usage of A at several hours over three days, half committed to disk, half pending."""
    now = service.core.now()
    for hours_ago in (50, 26, 3, 1):
        service.core.ledger.add(A, hours_ago * 10, hours_ago * 1000, now - hours_ago * HOUR)
    service.core.ledger.commit()
    service.core.ledger.add(A, 1, 2, now)
    service.core.ledger.add(B, 5, 6, now - 3 * HOUR)
    return service


def csv_rows(text: str) -> list[tuple[str, str, int, int]]:
    return [(r["time"], r["mac"], int(r["up_bytes"]), int(r["down_bytes"])) for r in csv.DictReader(io.StringIO(text))]


def export(service, *args) -> tuple[str, str]:
    """Service.export's content type and its pieces put together."""
    content_type, pieces = service.export(*args)
    return content_type, "".join(pieces)


def test_export_csv_equals_the_stored_series(history):
    content_type, text = export(history, A, "hour", None, None, "csv")
    assert content_type == "text/csv; charset=utf-8"
    assert text.splitlines()[0] == "time,mac,up_bytes,down_bytes"
    series = history.core.ledger.series(A, 0, float("inf"), lambda hour: hour)
    assert csv_rows(text) == [(rfc3339(t), mac, up, down) for t, mac, up, down in series]
    assert len(series) >= 4 and all(mac == A for _, mac, _, _ in series)


def test_export_by_day_adds_up_to_the_lifetime_usage(history):
    _, text = export(history, A, "day", None, None, "json")
    rows = json.loads(text)["rows"]
    assert (sum(r["up_bytes"] for r in rows), sum(r["down_bytes"] for r in rows)) == history.core.ledger.usage(A, None)
    starts = [history.core.zone.to_local(parse_time(r["time"], "time")) for r in rows]
    assert len(starts) >= 3 and all((t.hour, t.minute, t.second) == (0, 0, 0) for t in starts)  # local midnights


def test_export_of_every_device_and_a_window(history):
    everyone = csv_rows(export(history, None, "hour", None, None, "csv")[1])
    assert {mac for _, mac, _, _ in everyone} == {A, B, C}
    since = rfc3339(history.core.now() - 4 * HOUR)
    recent = csv_rows(export(history, A, "hour", since, None, "csv")[1])
    assert sum(up for _, _, up, _ in recent) == 3 * 10 + 1 * 10 + 1 + 300_000_000


@pytest.mark.parametrize("step, fmt", [("week", "csv"), ("hour", "xml")])
def test_export_refuses_unknown_steps_and_formats(service, step, fmt):
    with pytest.raises(Invalid):
        service.export(None, step, None, None, fmt)


def test_export_route_serves_csv_to_a_token(history, client):
    token = history.secrets.new_token("archive")
    response = client.get(f"/api/v1/export?mac={A}&step=day&format=csv", base_url="http://127.0.0.1:8080",
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.content_type == "text/csv; charset=utf-8"
    assert csv_rows(response.get_data(as_text=True)) == csv_rows(export(history, A, "day", None, None, "csv")[1])
    refused = client.get("/api/v1/export?step=year", base_url="http://127.0.0.1:8080",
                         headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 422 and "step" in refused.get_json()["error"]
