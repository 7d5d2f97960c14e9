from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from search.backends import open_backend
from search.backends.elastic import ElasticsearchBackend
from tests.support.opportunities import make_opportunity
from tilts.app import create_app


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    backend = open_backend(f"sqlite:///{tmp_path / 's.sqlite3'}")
    backend.setup()
    evil = make_opportunity(2, title="<img src=x onerror=alert(1)> Helper", country="EE", city="Tartu")
    backend.upsert_many([make_opportunity(1, title="Food bank helper"), evil])
    return TestClient(create_app(backend))


def test_search_returns_hits_total_and_facets(client: TestClient) -> None:
    body = client.get("/search", params={"q": "helper", "country": "lv"}).json()
    assert body["total"] == 1
    assert body["hits"][0]["opportunity"]["title"] == "Food bank helper"
    assert body["facets"]["country"] == {"LV": 1, "EE": 1}


def test_get_opportunity_and_404(client: TestClient) -> None:
    assert client.get("/opportunities/test-1").json()["id"] == "test-1"
    assert client.get("/opportunities/nope").status_code == 404


def test_validation_errors_are_422(client: TestClient) -> None:
    assert client.get("/search", params={"page": 0}).status_code == 422
    assert client.get("/search", params={"size": 1000}).status_code == 422


def test_openapi_and_health(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/search", "/opportunities/{opportunity_id}", "/healthz"} <= set(spec["paths"])
    assert client.get("/healthz").json()["status"] == "ok"


def test_html_page_escapes_source_content(client: TestClient) -> None:
    page = client.get("/", params={"q": "helper"}).text
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "2 opportunities" in page.replace("\u00a0", " ")


def test_health_reports_degraded_when_elasticsearch_is_down() -> None:
    # A real client pointed at a closed loopback port: the service is down.
    backend = ElasticsearchBackend("http://127.0.0.1:9", alias="x")
    response = TestClient(create_app(backend)).get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert TestClient(create_app(backend)).get("/search").status_code == 503
