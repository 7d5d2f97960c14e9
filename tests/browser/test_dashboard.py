"""The coverage dashboard in headless Chromium: credentials asked for, the
numbers of the seeded corpus shown, tables and CSV links present. With
TILTS_UPDATE_SCREENSHOTS=1 it refreshes docs/coverage-dashboard.png."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import insert

from coverage.dashboard import Dashboard
from coverage.numbers import take_snapshot
from pipeline.config import Settings
from search.backends import SearchBackend
from storage.db import connect, crawl_runs
from tests.support.corpus import corpus
from tests.support.dashboard import AUTH, Src
from tilts.app import create_app

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
def dashboard_site(tmp_path: Path, backend: SearchBackend) -> Iterator[str]:
    assert backend.upsert_many(corpus()) == []
    backend.refresh()
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
                        dashboard_password=AUTH[1])
    engine = connect(settings.db_url)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(crawl_runs).values(source_id="corpus", started_at=now, finished_at=now, ok=True,
                                               exit_code=0, duration_seconds=2.0))
    take_snapshot(settings, engine, backend=backend, day=(now - timedelta(days=7)).date())
    take_snapshot(settings, engine, backend=backend)
    app = create_app(backend, dashboard=Dashboard(settings, engine, {"corpus": Src("corpus"), "other": Src("other")}))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.05)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    engine.dispose()


def test_dashboard_in_chromium(dashboard_site: str, browser, backend: SearchBackend) -> None:
    anonymous = browser.new_context()
    assert anonymous.request.get(dashboard_site + "/coverage").status == 401
    anonymous.close()
    context = browser.new_context(http_credentials={"username": AUTH[0], "password": AUTH[1]},
                                  viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    assert page.goto(dashboard_site + "/coverage").status == 200
    assert page.inner_text("#open-count") == "19"
    assert page.locator('#matrix-table td[data-country="LV"][data-theme="animals"]').inner_text() == "2"
    assert page.locator("#sources-table tr.silent").count() == 1  # "other" never crawled successfully
    assert page.locator("svg[role=img]").count() >= 4
    csv = page.request.get(dashboard_site + page.get_attribute('a[href="/coverage/matrix.csv"]', "href"))
    assert csv.ok and csv.text().startswith("country,")
    assert errors == []
    if os.environ.get("TILTS_UPDATE_SCREENSHOTS") == "1" and backend.name == "sqlite":
        page.screenshot(path=str(DOCS / "coverage-dashboard.png"), full_page=True)
    context.close()
