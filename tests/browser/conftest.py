"""Fixtures of the browser tests: one headless Chromium per module, the UI on a
real server with the test corpus (and a listing full of stored XSS), a page
that screenshots failures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from search.backends import SearchBackend
from tests.support.browser import ARTIFACTS, FLAGS, Tabs, chromium_path
from tests.support.corpus import corpus
from tests.support.opportunities import make_opportunity
from tests.support.services import unavailable
from tilts.app import create_app
from tilts.serving import serve_in_thread


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    exe = chromium_path()
    if exe is None:
        unavailable("Chromium not found (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def site(backend: SearchBackend) -> Iterator[str]:
    evil = make_opportunity(
        99, title='<img src=x onerror="window.__xss=1"> Shelter <script>window.__xss=2</script>',
        description="Shelter.",
    ).model_copy(update={"description_html": '<p onclick="window.__xss=3">Shelter</p>'
                                             '<a href="javascript:window.__xss=4">x</a><script>window.__xss=5</script>',
                         # links as an index written before they were checked holds them
                         "url": "javascript:window.__xss=6", "apply_url": "javascript:window.__xss=7"})
    assert backend.upsert_many([*corpus(), evil]) == []
    backend.refresh()
    with serve_in_thread(create_app(backend)) as url:
        yield url


@pytest.fixture
def tabs(browser, request: pytest.FixtureRequest) -> Iterator[Tabs]:
    """Browser contexts opened by one test, screenshotted when it failed."""
    opened = Tabs(browser, request.node.name)
    yield opened
    opened.close(request.node.rep_call.failed if hasattr(request.node, "rep_call") else False)


@pytest.fixture
def page(browser, request: pytest.FixtureRequest) -> Iterator[object]:
    context = browser.new_context(locale="en-GB")
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    pg.errors = errors  # type: ignore[attr-defined]
    yield pg
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
