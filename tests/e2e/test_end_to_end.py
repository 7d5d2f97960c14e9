"""Crawl → bus → normalize → index → GET /search, embedded and on real Kafka + Elasticsearch."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from crawlers.runner import crawl_source
from crawlers.sources import Source
from devtools.site import StaticSite
from pipeline.config import Settings
from tilts.app import create_app
from tilts.runtime import BackgroundWorkers


@pytest.fixture(params=["embedded", "distributed", "distributed-stage"])
def settings(request: pytest.FixtureRequest, tmp_path: Path, unique: str) -> Settings:
    """Embedded; on Kafka and Elasticsearch; and there with stateless normalizers
    and the clustering stage (TILTS_CLUSTERING=stage)."""
    distributed = request.param.startswith("distributed")
    return Settings(
        data_dir=tmp_path, topic_prefix=f"{unique}.", index_alias=unique, download_delay=0.0,
        clustering="stage" if request.param.endswith("stage") else "inline",
        # Explicit both ways: the environment must not switch the embedded case.
        KAFKA_BOOTSTRAP_SERVERS=request.getfixturevalue("kafka_servers") if distributed else None,
        ELASTICSEARCH_URL=request.getfixturevalue("es_url") if distributed else None,
    )


def test_crawl_to_search(settings: Settings) -> None:
    pipeline = BackgroundWorkers.build(settings)
    site = StaticSite().__enter__()
    try:
        source = Source(id="fixture", name="Fixture NGO", home_url=site.url + "/",
                        start_urls=[site.url + "/"], allowed_domains=["127.0.0.1"])
        result = crawl_source(settings, source, timeout=120)
        assert result.returncode == 0, result.log_tail
        counts = pipeline.drain(idle=4.0)
        stage = {"cluster": 5} if settings.clustering == "stage" else {}
        # The normalizer reads the 6 raw listings and the crawl's CrawlStats report.
        assert counts == {"normalize": 7, **stage, "index": 5}
        assert pipeline.workers[0].dead_lettered == 1  # the untitled listing
        client = TestClient(create_app(pipeline.backend))

        body = client.get("/search", params={"q": "food bank"}).json()
        assert body["total"] == 1
        riga = body["hits"][0]["opportunity"]
        assert riga["title"] == "Food bank volunteer in Riga"
        assert riga["organisation"]["name"] == "Paēdušai Latvijai"
        assert riga["locations"][0]["country"] == "LV" and riga["locations"][0]["city"] == "Rīga"
        assert riga["deadline"] == "2027-01-15"
        assert riga["source_id"] == "fixture"
        assert "<script" not in riga["description_html"] and "<strong>food parcels</strong>" in riga["description_html"]

        everything = client.get("/search").json()
        assert everything["total"] == 5
        assert everything["facets"]["country"] == {"LV": 1, "EE": 1, "DE": 1, "LT": 1}
        assert client.get("/search", params={"country": "EE"}).json()["hits"][0]["opportunity"]["title"] \
            == "River clean-up volunteers, Tartu"
        assert client.get(f"/opportunities/{riga['id']}").json()["url"].endswith("riga-food-bank.html")
        assert client.get("/healthz").json()["status"] == "ok"

        # A second crawl of the same site (a re-crawl) changes nothing in the index.
        assert crawl_source(settings, source, timeout=120).returncode == 0
        # Incremental: unchanged listings are not published again; only the report is.
        assert pipeline.drain(idle=4.0) == {"normalize": 1, **{k: 0 for k in stage}, "index": 0}
        assert pipeline.backend.count() == 5
    finally:
        site.__exit__()
        pipeline.close()
