"""The coverage dashboard in headless Chromium: credentials asked for, the
numbers of the seeded corpus shown, tables and CSV links present. With
TILTS_UPDATE_SCREENSHOTS=1 it refreshes docs/coverage-dashboard.png."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from coverage.dashboard import Dashboard
from pipeline.config import Settings
from search.backends import SearchBackend
from storage.db import connect
from tests.support.corpus import corpus
from tests.support.dashboard import AUTH, Src, seed_history
from tilts.app import create_app
from tilts.serving import serve_in_thread

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
def dashboard_site(tmp_path: Path, backend: SearchBackend) -> Iterator[str]:
    assert backend.upsert_many(corpus()) == []
    backend.refresh()
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
                        dashboard_password=AUTH[1])
    engine = connect(settings.db_url)
    seed_history(settings, engine, backend)
    app = create_app(backend, dashboard=Dashboard(settings, engine, {"corpus": Src("corpus"), "other": Src("other")}))
    with serve_in_thread(app) as url:
        yield url
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
