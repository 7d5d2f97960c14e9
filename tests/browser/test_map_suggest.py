"""The search page's enhancements in a real headless Chromium: the search
box's suggestions (a WAI-ARIA combobox used with the keyboard only, in
Latin, Cyrillic and Arabic letters), the results map (offline by default,
markers for this page's places, the list still there), hostile listing
titles that stay text in both, the page without JavaScript (no map, the
"Near" picker still a datalist), and the API docs served with no request
leaving 127.0.0.1."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from pipeline.events import GeoPoint
from search.backends import SearchBackend
from tests.support.opportunities import make_opportunity

HOSTILE = '<img src=x onerror="window.__xss=1"> Shelter <script>window.__xss=2</script>'
LOCAL = "127.0.0.1"


def add_hostile_listing_with_a_place(backend: SearchBackend) -> None:
    """A listing whose title is markup, in Valmiera (with coordinates, so it has a marker)."""
    evil = make_opportunity(98, title=HOSTILE, city="Valmiera", description="Shelter in Valmiera.")
    evil.locations[0] = evil.locations[0].model_copy(update={"geo": GeoPoint(lat=57.5411, lon=25.4275)})
    assert backend.upsert_many([evil]) == []
    backend.refresh()


def tab_to(page, element_id: str, limit: int = 40) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} cannot be reached with Tab")


def options(page) -> list[str]:
    return page.locator("#q-suggestions [role=option]").all_inner_texts()


def test_suggestions_are_a_keyboard_combobox(site: str, page) -> None:
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/suggest?" in r.url else None)
    page.goto(site + "/?lang=en")
    tab_to(page, "q")
    box = page.locator("#q")
    assert box.get_attribute("role") == "combobox" and box.get_attribute("aria-expanded") == "false"
    assert box.get_attribute("aria-controls") == "q-suggestions"
    page.keyboard.type("anim", delay=30)  # quicker than the debounce: one request
    page.wait_for_selector("#q-suggestions [role=option]")
    assert len(asked) == 1 and parse_qs(urlsplit(asked[0]).query)["q"] == ["anim"]
    listbox = page.locator("#q-suggestions")
    assert listbox.get_attribute("role") == "listbox" and listbox.is_visible()
    assert box.get_attribute("aria-expanded") == "true"
    found = options(page)
    assert "Volunteer at an animal shelter in Tallinn" in found
    # Down moves through the options (wrapping), Up goes back
    page.keyboard.press("ArrowDown")
    first = page.locator("#q-suggestions [role=option]").first
    assert box.get_attribute("aria-activedescendant") == first.get_attribute("id")
    assert first.get_attribute("aria-selected") == "true"
    for _ in found:
        page.keyboard.press("ArrowDown")
    assert box.get_attribute("aria-activedescendant") == first.get_attribute("id")
    page.keyboard.press("ArrowUp")
    last = page.locator("#q-suggestions [role=option]").last
    assert box.get_attribute("aria-activedescendant") == last.get_attribute("id")
    # Escape closes the list and keeps what was typed
    page.keyboard.press("Escape")
    assert box.get_attribute("aria-expanded") == "false" and not listbox.is_visible()
    assert box.get_attribute("aria-activedescendant") is None and box.input_value() == "anim"
    # places and themes the search understands come first ("Animals"), then titles
    terms = page.locator("#q-suggestions [role=option][data-term]").all_inner_texts()
    assert terms and terms[0] == "Animals" and found[:len(terms)] == terms
    # Down opens it again; Enter on a title picks it and searches for it
    page.keyboard.press("ArrowDown")
    assert box.get_attribute("aria-expanded") == "true"
    for _ in terms:
        page.keyboard.press("ArrowDown")
    chosen = page.locator("#q-suggestions [aria-selected=true]").inner_text()
    assert chosen not in terms
    page.keyboard.press("Enter")
    page.wait_for_url("**/?q=*")
    assert parse_qs(urlsplit(page.url).query)["q"] == [f'"{chosen}"']  # the title as a phrase
    assert page.locator("article.hit h3").all_inner_texts()[0] == chosen
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_place_in_the_persons_own_script_is_suggested_and_understood(site: str, page) -> None:
    page.goto(site + "/?lang=ar")
    page.locator("#q").focus()
    page.keyboard.type("لات", delay=30)  # the start of Latvia in Arabic
    page.wait_for_selector("#q-suggestions [role=option][data-term]")
    term = page.locator("#q-suggestions [role=option][data-term]").first
    assert term.inner_text() == "لاتفيا"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_url("**/?q=*")
    assert parse_qs(urlsplit(page.url).query)["q"] == ["لاتفيا"]  # as it is, to be understood, not a phrase
    assert page.locator("#understood [data-facet=country]").count() == 1
    assert page.locator("article.hit").count() > 0
    assert page.errors == []  # type: ignore[attr-defined]


def test_suggestions_in_cyrillic_and_arabic(site: str, page) -> None:
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/suggest?" in r.url else None)
    page.goto(site + "/?lang=ru")
    page.locator("#q").focus()
    page.keyboard.type("Волон", delay=30)
    page.wait_for_selector("#q-suggestions [role=option]")
    assert "Волонтёр в приюте для животных" in options(page)
    assert parse_qs(urlsplit(asked[-1]).query)["q"] == ["Волон"]
    page.locator("#q").fill("")
    page.keyboard.type("ملجأ الحيوانات", delay=30)  # nothing in Arabic here: asked correctly, nothing shown
    page.wait_for_function("() => document.querySelector('#q').getAttribute('aria-expanded') === 'false'")
    page.wait_for_timeout(600)
    assert parse_qs(urlsplit(asked[-1]).query)["q"] == ["ملجأ الحيوانات"]
    assert page.locator("#q").get_attribute("aria-expanded") == "false"
    page.keyboard.press("Enter")  # the form still searches what was typed
    page.wait_for_url("**/?q=*")
    assert parse_qs(urlsplit(page.url).query)["q"] == ["ملجأ الحيوانات"]
    assert page.errors == []  # type: ignore[attr-defined]


def test_hostile_titles_stay_text_in_suggestions_and_popups(site: str, page, backend: SearchBackend) -> None:
    add_hostile_listing_with_a_place(backend)
    page.goto(site + "/?q=shelter&lang=en")
    page.locator("#q").fill("")
    page.locator("#q").focus()
    page.keyboard.type("Shel", delay=30)
    page.wait_for_selector("#q-suggestions [role=option]")
    assert HOSTILE in options(page)  # shown as the text it is
    assert page.locator("#q-suggestions img, #q-suggestions script").count() == 0
    page.keyboard.press("Escape")
    page.click("#map-toggle")
    page.locator('.leaflet-marker-icon[title="Valmiera, Latvia"]').click()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    link = popup.locator("a", has_text="Shelter")
    assert link.inner_text() == HOSTILE and link.get_attribute("href") == "/o/test-98"
    assert popup.locator("img, script").count() == 0
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    assert page.errors == []  # type: ignore[attr-defined]


def test_map_shows_markers_and_keeps_the_list(site: str, browser) -> None:
    context = browser.new_context(locale="en-GB", viewport={"width": 390, "height": 844})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    hosts: set[str] = set()
    page.on("request", lambda r: hosts.add(urlsplit(r.url).hostname or ""))
    page.goto(site + "/?lang=en")
    hits = page.locator("article.hit h3").all_inner_texts()
    # on a phone the first result is on the first screen, the map closed behind its button
    assert page.locator("article.hit").first.bounding_box()["y"] < 844
    assert not page.locator("#map").is_visible()
    toggle = page.locator("#map-toggle")
    assert toggle.is_visible() and toggle.get_attribute("aria-expanded") == "false"
    places = json.loads(page.locator("#map-data").text_content() or "")["places"]
    assert len(places) >= 5
    toggle.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(".leaflet-marker-icon")
    assert toggle.get_attribute("aria-expanded") == "true" and page.locator("#map").is_visible()
    assert page.locator(".leaflet-marker-icon").count() == len(places)
    assert page.locator(".leaflet-tile-container canvas").count() > 0  # the offline grid, no tiles fetched
    page.locator('.leaflet-marker-icon[title="Tallinn, Estonia"]').focus()  # markers take the keyboard
    page.keyboard.press("Enter")
    link = page.locator(".leaflet-popup-content a")
    assert link.first.get_attribute("href") == "/o/en-1"
    assert page.locator("article.hit h3").all_inner_texts() == hits  # the list is still the page
    assert hosts == {LOCAL}  # nothing from another host without TILTS_MAP_TILES
    toggle.click()
    assert not page.locator("#map").is_visible() and toggle.inner_text() == "Show map"
    assert errors == []
    context.close()


def test_without_javascript_the_list_works_and_no_map_shows(site: str, browser) -> None:
    context = browser.new_context(java_script_enabled=False, locale="en-GB")
    page = context.new_page()
    page.goto(site + "/?q=animal&lang=ru")
    assert page.locator("article.hit").count() > 0
    assert page.locator("#map-data").count() == 1
    assert not page.locator("#map").is_visible() and not page.locator("#map-canvas").is_visible()
    assert not page.locator("#map-toggle").is_visible()
    assert page.locator("#q").get_attribute("role") is None  # a plain search box
    # the "Near" picker is a datalist: a city from it is searched around
    assert page.locator('#near-cities option[value="Рига"]').count() == 1
    if page.locator("#filters > summary").is_visible():  # a closed panel on narrow screens
        page.locator("#filters > summary").click()
    page.fill("#f-near", "Рига")
    page.fill("#f-within_km", "30")
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url("**near=**")
    assert page.locator("#e-near").count() == 0
    assert "Рига" in page.locator("#active-filters").inner_text()
    assert page.locator("article.hit").count() > 0
    context.close()


def test_api_docs_render_offline(site: str, page) -> None:
    outside: list[str] = []

    def only_local(route) -> None:
        if urlsplit(route.request.url).hostname == LOCAL:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.route("**/*", only_local)
    page.goto(site + "/docs")
    page.wait_for_selector(".opblock")
    ops = page.locator(".opblock-summary-path").all_inner_texts()
    assert {"/search", "/suggest", "/facets"} <= {op.strip() for op in ops}
    assert outside == []
    assert requested and {urlsplit(u).hostname for u in requested} == {LOCAL}, requested
    assert any("/static/vendor/swagger-ui/swagger-ui-bundle.js" in u for u in requested)
    # ReDoc too: everything it loads comes from here
    answered: list[str] = []
    refused: list[str] = []
    page.on("response", lambda r: answered.append(r.url))
    page.on("console", lambda m: refused.append(m.text) if m.type == "error" else None)
    page.goto(site + "/redoc")
    page.locator("h2", has_text="Suggest").first.wait_for()
    page.wait_for_timeout(500)
    assert refused == []  # nothing the Content-Security-Policy had to refuse (ReDoc's CDN logo)
    assert outside == [] and {urlsplit(u).hostname for u in answered if not u.startswith("blob:")} == {LOCAL}
    assert page.errors == []  # type: ignore[attr-defined]
