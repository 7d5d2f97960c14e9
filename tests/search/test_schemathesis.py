"""schemathesis against the OpenAPI document: generated requests to every
operation on both backends; no 5xx, responses match the schema.
Bounded: a fixed number of derandomized examples per operation."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from search.backends import open_backend
from tests.support.corpus import corpus
from tilts.app import create_app

EXAMPLES = 50


def _app(url: str, alias: str):
    backend = open_backend(url, alias=alias)
    if backend.name == "elasticsearch":
        backend.drop()  # type: ignore[attr-defined]
    backend.setup()
    backend.upsert_many(corpus())
    backend.refresh()
    return create_app(backend)


@pytest.fixture(scope="module", params=["sqlite", "elasticsearch"])
def api_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    if request.param == "sqlite":
        tmp: Path = tmp_path_factory.mktemp("schemathesis")
        return _app(f"sqlite:///{tmp / 's.sqlite3'}", "x")
    return _app(request.getfixturevalue("es_url"), "tilts-schemathesis")


def test_api_never_fails_and_keeps_its_schema(api_app) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case) -> None:
            case.call_and_validate(checks=checks)

        check()
