"""The web UI in a real headless Chromium (Debian's package, driven by
Playwright with ``executable_path``): search, facets, language switch, detail
page, feed link, and stored XSS that must stay inert. Screenshots of failures
go to ``test-artifacts/``."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from search.backends import SearchBackend
from tests.support.corpus import corpus
from tests.support.opportunities import make_opportunity
from tilts.app import create_app

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    exe = chromium_path()
    if exe is None:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("Chromium not found (apt-get install chromium); REQUIRE_SERVICES=1")
        pytest.skip("Chromium not installed")
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
    config = uvicorn.Config(create_app(backend), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


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


def test_search_facet_language_detail_and_feed(site: str, page) -> None:
    page.goto(site + "/")
    assert "opportunities" in page.inner_text("#total")
    page.fill("#q", "animal shelter")
    page.press("#q", "Enter")
    page.wait_for_url("**q=animal+shelter**")
    titles = page.locator("article.hit h3").all_inner_texts()
    assert "Volunteer at an animal shelter in Tallinn" in titles
    # apply a facet: Estonia
    page.locator('a[data-facet="country"]', has_text="Estonia").first.click()
    page.wait_for_url("**country=EE**")
    assert page.locator("article.hit h3").all_inner_texts() == ["Volunteer at an animal shelter in Tallinn"]
    assert page.locator('a[data-facet="country"][aria-current="true"]').inner_text() == "Estonia"
    # switch the interface to Latvian: the search and the facet stay
    page.click('nav.langs a[hreflang="lv"]')
    page.wait_for_url("**lang=lv**")
    assert page.locator("html").get_attribute("lang") == "lv"
    assert page.inner_text("#total") == "1 iespēja"
    assert page.locator('a[data-facet="country"][aria-current="true"]').inner_text() == "Igaunija"
    # the choice sticks (cookie) on the next page
    page.click("article.hit h3 a")
    page.wait_for_url("**/o/en-1")
    assert page.locator("html").get_attribute("lang") == "lv"
    assert page.locator("#apply").get_attribute("href") == "https://example.org/en-1"
    # the feed link returns a feed of the same search
    page.goto(site + "/?q=animal+shelter&country=EE")
    href = page.get_attribute("#feed-link", "href")
    feed = page.request.get(site + href)
    assert feed.ok and "Volunteer at an animal shelter in Tallinn" in feed.text()
    assert page.errors == []  # type: ignore[attr-defined]


def test_accept_language_and_keyboard(site: str, browser) -> None:
    context = browser.new_context(locale="uk-UA", extra_http_headers={"Accept-Language": "uk-UA,uk;q=0.9"})
    pg = context.new_page()
    pg.goto(site + "/")
    assert pg.locator("html").get_attribute("lang") == "uk"
    assert "можлив" in pg.inner_text("#total")
    # keyboard only: the skip link is the first stop, the search box is labelled
    pg.keyboard.press("Tab")
    assert pg.evaluate("document.activeElement.className") == "skip"
    assert pg.locator("label[for=q]").count() == 1
    context.close()


def test_stored_xss_is_inert(site: str, page) -> None:
    for path in ("/?q=shelter", "/o/test-99", "/?q=window"):
        page.goto(site + path)
        page.wait_for_load_state("load")
        protocols = page.evaluate("""() => Array.from(document.querySelectorAll('a[href], form[action]'))
            .map(e => new URL(e.getAttribute('href') || e.getAttribute('action'), location.href).protocol)""")
        assert protocols and set(protocols) <= {"http:", "https:", "mailto:"}, protocols
        if path == "/o/test-99":
            page.locator("p", has_text="Shelter").first.click()
            assert page.locator("#apply").count() == 0  # its link would have been javascript:
            for link in page.locator(".meta a").all():  # source and "also listed on" links
                assert (link.get_attribute("href") or "").startswith(("http://", "https://"))
        assert page.evaluate("window.__xss") is None
    # Should markup ever slip through, the page's Content-Security-Policy refuses inline handlers.
    page.evaluate("""() => { document.body.insertAdjacentHTML('beforeend',
        '<img src="/nowhere.png" onerror="window.__xss=8">'); }""")
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    assert page.errors == []  # type: ignore[attr-defined]
