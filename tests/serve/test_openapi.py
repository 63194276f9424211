"""/openapi.json describes every route truly: schemathesis fuzzes the running app against it over real HTTP."""

from __future__ import annotations

import logging
import os
import random
import re

import pytest
from hypothesis import HealthCheck, seed, settings

from routerguard.serve.app import create_app
from routerguard.serve.openapi import document
from web_util import PHONE, Site

schemathesis = pytest.importorskip("schemathesis")

# Random cases every run, so the fuzzing explores over time; a failure names its seed, and
# RG_FUZZ_SEED=<seed> replays that run's cases. RG_FUZZ_EXAMPLES raises the count locally.
EXAMPLES = int(os.environ.get("RG_FUZZ_EXAMPLES", "8"))  # per operation, fresh ones each run: ~15 s of the pure tests
SEED = int(os.environ.get("RG_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
log = logging.getLogger(__name__)
API_PREFIXES = ("/api/", "/healthz", "/metrics", "/openapi.json")  # the routes for programs, not the pages


@pytest.fixture
def api_schema(site: Site):
    site.usage(PHONE, 1000, 2000)
    site.device(PHONE, "127.0.0.1")  # so that /api/v1/me has someone to find
    loaded = schemathesis.openapi.from_url(site.url("/openapi.json"))
    loaded.config.update(base_url=site.base)
    return loaded


@pytest.fixture
def token(site: Site) -> dict[str, str]:
    return site.bearer()


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow
@schema.parametrize()
@seed(SEED)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_every_route_answers_as_documented(case, token: dict[str, str]) -> None:
    """Statuses, content types, bodies and headers as documented; no 5xx; schema-invalid input refused.

    Schema-valid input may still be a 422: a value can have the right type and
    range yet be refused for its meaning (blocked_until in the past, a days
    plan without its start), which a schema cannot say; hence no
    positive_data_acceptance check.
    """
    try:
        case.call_and_validate(headers=token, excluded_checks=[schemathesis.checks.positive_data_acceptance])
    except schemathesis.core.failures.FailureGroup:
        log.error("replay these cases with RG_FUZZ_SEED=%d", SEED)  # pytest shows the log beside the failure
        raise


def test_the_document_lists_every_route_and_method_of_the_api(site: Site) -> None:
    def shape(path: str) -> str:
        return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)

    documented = {(shape(path), method.upper()) for path, item in document()["paths"].items() for method in item}
    app = create_app(site.service)
    served = {(shape(rule.rule), method) for rule in app.url_map.iter_rules()
              if rule.rule.startswith(API_PREFIXES) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == documented
