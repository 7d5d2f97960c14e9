"""The coverage dashboard, its JSON, CSV and /metrics: protected, and showing
the numbers of a seeded corpus (counted independently here)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from coverage.dashboard import Dashboard
from coverage.numbers import take_snapshot
from pipeline.bus import open_bus
from pipeline.config import Settings
from search.backends import SearchBackend
from storage.db import connect, crawl_runs
from tests.support.corpus import corpus
from tests.support.dashboard import AUTH, Src
from tilts.app import create_app


@pytest.fixture
def dash(tmp_path: Path, backend: SearchBackend, database_url: str):
    docs = corpus()
    assert backend.upsert_many(docs) == []
    backend.refresh()
    settings = Settings(data_dir=tmp_path, database_url=database_url, dashboard_password=AUTH[1])
    engine = connect(database_url)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(crawl_runs), [
            {"source_id": "corpus", "started_at": now - timedelta(hours=2), "finished_at": now - timedelta(hours=2),
             "ok": True, "exit_code": 0, "duration_seconds": 3.0},
            {"source_id": "other", "started_at": now - timedelta(hours=1), "finished_at": now - timedelta(hours=1),
             "ok": False, "exit_code": 1, "duration_seconds": 1.0},
            {"source_id": "other", "started_at": now, "finished_at": now, "ok": False, "exit_code": 1,
             "duration_seconds": 1.0},
        ])
    take_snapshot(settings, engine, backend=backend, day=(now - timedelta(days=8)).date())
    take_snapshot(settings, engine, backend=backend)
    bus = open_bus(f"sqlite:///{tmp_path / 'bus.sqlite3'}")
    bus.ensure_topics()
    dashboard = Dashboard(settings, engine, {"corpus": Src("corpus"), "other": Src("other")}, bus=bus)
    yield TestClient(create_app(backend, dashboard=dashboard)), docs
    bus.close()
    engine.dispose()


def expected(docs):
    open_docs = [d for d in docs if d.status.value == "open"]
    by_country = Counter(c for d in open_docs for c in d.countries)
    matrix: dict[str, Counter] = {}
    for d in open_docs:
        for c in d.countries:
            matrix.setdefault(c, Counter()).update({t.value for t in d.themes})
    return open_docs, by_country, matrix


def test_everything_is_protected(dash, tmp_path: Path, backend: SearchBackend) -> None:
    client, _ = dash
    for path in ("/coverage", "/coverage/summary.json", "/coverage/matrix.csv", "/metrics", "/coverage/sources.json"):
        assert client.get(path).status_code == 401
        assert client.get(path, auth=("officer", "wrong")).status_code == 401
        assert client.get(path, auth=AUTH).status_code == 200
    assert client.get("/search").status_code == 200  # the rest stays public
    closed = Dashboard(Settings(data_dir=tmp_path, dashboard_password=""), None, {})
    assert TestClient(create_app(backend, dashboard=closed)).get("/coverage", auth=AUTH).status_code == 503


def test_numbers_match_the_seeded_corpus(dash) -> None:
    client, docs = dash
    open_docs, by_country, matrix = expected(docs)
    summary = client.get("/coverage/summary.json", auth=AUTH).json()
    assert summary["open"] == len(open_docs) == 19
    assert summary["clusters"] == len({d.cluster_id for d in open_docs})
    assert summary["country"] == dict(by_country)
    assert summary["theme"] == dict(Counter(t.value for d in open_docs for t in d.themes))
    assert summary["programme"] == dict(Counter(d.programme for d in open_docs if d.programme))
    assert summary["country_theme"] == {c: dict(v) for c, v in matrix.items()}
    rows = list(csv.reader(io.StringIO(client.get("/coverage/matrix.csv", auth=AUTH).text)))
    themes = rows[0][1:]
    assert {r[0]: {t: int(n) for t, n in zip(themes, r[1:], strict=False) if int(n)} for r in rows[1:]} == {
        c: dict(v) for c, v in matrix.items()}
    health = {s["source"]: s for s in client.get("/coverage/sources.json", auth=AUTH).json()}
    assert health["corpus"]["silent"] is False and health["corpus"]["open"] == 18
    assert health["other"]["silent"] is True and health["other"]["error_rate"] == 1.0
    assert health["other"]["last_success"] is None and health["other"]["open"] == 1
    trends = client.get("/coverage/trends.json", auth=AUTH).json()
    assert len(trends) == 2 and trends[-1]["open"] == 19
    gaps = client.get("/coverage/gaps.json", auth=AUTH).json()
    assert {"key": "FR", "open": 0, "previous": 0} in gaps["country"]
    assert all(g["open"] < 3 for g in gaps["country"] + gaps["theme"])
    page = client.get("/coverage", auth=AUTH).text
    assert '<strong id="open-count">19</strong>' in page and "<svg" in page and 'class="silent"' in page
    # the officer's language: by ?lang=, or the browser's
    latvian = client.get("/coverage?lang=lv", auth=AUTH).text
    assert "Atvērtas iespējas pa valstīm" in latvian and '<strong id="open-count">19</strong>' in latvian
    russian = client.get("/coverage", auth=AUTH, headers={"Accept-Language": "ru-RU,ru;q=0.9"}).text
    assert "Состояние источников" in russian
    # every word of it: theme names, countries and chart labels in the page's language, not keys or codes
    from html import escape

    from search.i18n import UI

    for lang in ("uk", "ar"):
        ui, text = UI.of(lang), client.get(f"/coverage?lang={lang}", auth=AUTH).text
        for theme in summary["theme"]:
            assert escape(ui.label("theme", theme)) in text and ui.label("theme", theme) != theme, (lang, theme)
        for country in summary["country"]:
            assert escape(ui.country_name(country)) in text, (lang, country)
    assert '<html lang="ar" dir="rtl"' in client.get("/coverage?lang=ar", auth=AUTH).text


def test_metrics_are_prometheus_text(dash) -> None:
    client, docs = dash
    _, by_country, _ = expected(docs)
    text = client.get("/metrics", auth=AUTH).text
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples}
    assert samples[("tilts_index_documents", ())] == len(docs)
    assert samples[("tilts_opportunities_open", (("country", "LV"),))] == by_country["LV"]
    assert samples[("tilts_crawl_runs_total", (("outcome", "failed"), ("source", "other")))] == 2
    assert samples[("tilts_crawl_errors_total", (("source", "other"),))] == 2
    assert samples[("tilts_dlq_messages", ())] == 0
    assert ("tilts_consumer_lag", (("group", "tilts-indexer"), ("topic", "opportunities.normalized.v1"))) in samples
