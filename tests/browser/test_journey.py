"""A newcomer's journey through the web UI in headless Chromium (issue 19):
phone first (the search box and the first result on the first screen, the
filters in a panel), desktop with a side column, a facet choice that survives
the filter form, removable filters, and invalid input explained in the page's
language without losing the rest of the search. Works without JavaScript:
every page here is loaded with JavaScript disabled."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.browser import ARTIFACTS

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def open_page(browser, request: pytest.FixtureRequest) -> Iterator[object]:
    contexts = []

    def make(viewport: dict, lang: str):
        context = browser.new_context(viewport=viewport, java_script_enabled=False, locale=lang)
        contexts.append(context)
        return context.new_page()

    yield make
    failed = request.node.rep_call.failed if hasattr(request.node, "rep_call") else False
    for i, context in enumerate(contexts):
        if failed and context.pages:
            ARTIFACTS.mkdir(exist_ok=True)
            context.pages[-1].screenshot(path=str(ARTIFACTS / f"{request.node.name}-{i}.png"), full_page=True)
        context.close()


@pytest.mark.parametrize("lang", ["uk", "lv"])
@pytest.mark.parametrize("path", ["/", "/?country=LV", "/?q=shelter&country=EE&country=LV&age=25"])
def test_phone_shows_search_and_first_result_on_the_first_screen(site: str, open_page, lang: str,
                                                                 path: str) -> None:
    page = open_page(PHONE, lang)
    page.goto(site + path + ("&" if "?" in path else "?") + "lang=" + lang)
    assert page.locator("#q").bounding_box()["y"] < PHONE["height"]
    first = page.locator("article.hit").first.bounding_box()
    assert first is not None and first["y"] < PHONE["height"], first
    # the filters are a closed panel that opens without JavaScript
    assert not page.locator("#f-age").is_visible()
    page.locator("#filters > summary").click()
    assert page.locator("#f-age").is_visible()


@pytest.mark.parametrize("lang", ["uk", "lv"])
def test_desktop_keeps_the_filters_in_a_side_column(site: str, open_page, lang: str) -> None:
    page = open_page(DESKTOP, lang)
    page.goto(site + "/?lang=" + lang)
    assert page.locator("#f-age").is_visible() and page.locator("#f-resident").is_visible()
    assert not page.locator("#filters > summary").is_visible()
    form, first = page.locator("form.filters").bounding_box(), page.locator("article.hit").first.bounding_box()
    assert form["x"] + form["width"] <= first["x"] and first["y"] < DESKTOP["height"]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_filter_form_keeps_the_facets_and_chips_remove_them(site: str, open_page, viewport: dict) -> None:
    page = open_page(viewport, "uk")
    page.goto(site + "/?country=LV&lang=uk")
    latvia = page.locator('a[data-facet="country"][aria-current="true"]')
    assert latvia.count() == 1
    if viewport is PHONE:
        page.locator("#filters > summary").click()
    page.fill("#f-age", "20")
    page.press("#f-age", "Enter")
    page.wait_for_url("**age=20**")
    assert "country=LV" in page.url
    chips = page.locator("#active-filters a.chip")
    assert chips.count() == 2
    assert "Латвія" in chips.nth(0).inner_text() and "20" in chips.nth(1).inner_text()
    # remove the country: the age stays
    chips.nth(0).click()
    page.wait_for_url(lambda url: "country=" not in url)
    assert "age=20" in page.url and page.locator("#active-filters a.chip").count() == 1
    page.click("#clear-all")
    page.wait_for_load_state("load")
    assert page.locator("#active-filters").count() == 0 and "age=" not in page.url


def test_where_i_live_is_a_list_and_bad_input_is_explained_in_place(site: str, open_page) -> None:
    page = open_page(PHONE, "uk")
    # "lv" typed into an old link is read as Latvia; the age with it is kept
    response = page.goto(site + "/?resident=lv&age=30&country=LV&lang=uk")
    assert response.status == 200
    assert page.locator("#f-resident").input_value() == "LV"
    assert page.locator("#f-resident").evaluate("e => e.selectedOptions[0].textContent") == "Латвія"
    assert page.locator("#f-resident").evaluate("e => e.tagName") == "SELECT"
    # an impossible age: explained next to the field, in Ukrainian; the country still applies
    response = page.goto(site + "/?age=200&country=LV&lang=uk")
    assert response.status == 422
    assert page.locator("#e-age").text_content() == "Вкажіть вік від 0 до 120."
    # on a phone the results stay in sight: the panel stays closed, the box above the
    # results says what was refused, and its link opens the panel at the field
    assert page.locator("article.hit").first.is_visible() and not page.locator("#e-age").is_visible()
    assert "Вкажіть вік від 0 до 120." in page.locator("#errors").inner_text()
    page.locator('#errors a[href="#f-age"]').click()
    page.locator("#e-age").wait_for(state="visible", timeout=5000)
    assert page.locator("#filters").get_attribute("open") is not None
    assert page.locator("#f-age").get_attribute("aria-invalid") == "true"
    assert "Латвія" in page.locator("#active-filters").inner_text()
    assert page.locator("article.hit").count() > 0
    assert "String should match" not in page.content()
    # typed into the form: the browser does not stop it with a bubble of its own (in
    # the browser's language, which need not be the page's); the page explains it
    page.goto(site + "/?country=LV&lang=uk")
    page.locator("#filters > summary").click()
    page.fill("#f-age", "200")
    page.press("#f-age", "Enter")
    page.wait_for_url("**age=200**")
    assert "Вкажіть вік від 0 до 120." in page.locator("#errors").inner_text()
    assert page.locator("#e-age").text_content() == "Вкажіть вік від 0 до 120."
