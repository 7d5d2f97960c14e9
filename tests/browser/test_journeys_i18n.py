"""A newcomer's whole journey in Ukrainian, Latvian and Arabic (right to
left), on a phone and on a desktop, without JavaScript: a country typed the
way people type it (lower case, no diacritics) is understood, the first
result is on the first screen, a facet value is chosen and removed with its
chip, all filters are cleared, zero results recover through "Clear all
filters", an impossible age is explained next to its field in the page's
language while the rest of the search stays, a listing opens with its own
language marked, and the feed of the search is in the page's language.

(test_journey.py covers the panel, the side column and the filter form in
uk/lv; test_ui.py the English search, the language switch and XSS.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from search.i18n import INPUT_ERRORS, UI, UI_LANGUAGES
from tests.support.browser import DESKTOP, PHONE, Tabs, corpus_app, serve

TYPED = {"uk": "латвія", "lv": "latvija", "ar": "لاتفيا"}  # Latvia, as typed on a phone


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(corpus_app(tmp_path_factory.mktemp("journeys"))) as url:
        yield url


def open_filters(page, viewport: dict) -> None:
    if viewport is PHONE and page.locator("#filters:not([open])").count():
        page.locator("#filters > summary").click()


def hits(page) -> int:
    return page.locator("article.hit").count()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize("lang", list(TYPED))
def test_journey_in_the_page_language(site: str, tabs: Tabs, lang: str, viewport: dict) -> None:
    if lang not in UI_LANGUAGES:
        pytest.skip(f"{lang} is not a UI language yet (search.i18n.UI_LANGUAGES)")
    ui, typed = UI.of(lang), TYPED[lang]
    page = tabs.open(viewport, java_script_enabled=False, locale=lang)
    page.goto(f"{site}/?lang={lang}")
    html = page.locator("html")
    assert html.get_attribute("lang") == lang
    assert html.get_attribute("dir") == ("rtl" if lang == "ar" else "ltr")

    # 1. a country typed in lower case without diacritics is understood; the first result is on screen
    page.fill("#q", typed)
    page.press("#q", "Enter")
    page.wait_for_url("**q=**")
    assert ui.country_name("LV") in page.locator('#understood [data-facet="country"]').inner_text()
    first = page.locator("article.hit").first.bounding_box()
    assert first is not None and first["y"] < viewport["height"], first
    assert ui.country_name("LV") in page.locator("article.hit .meta").first.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    if viewport is DESKTOP:  # the side column sits at the start of the line: right in Arabic
        aside, main = page.locator("aside").bounding_box(), page.locator("main").bounding_box()
        assert (aside["x"] > main["x"]) == (lang == "ar"), (aside, main)
    searched = page.url

    # 2. a facet value chosen in the filters, then removed with its chip: the words stay
    open_filters(page, viewport)
    theme = page.locator('a[data-facet="theme"]:not([aria-current])').first
    label = theme.inner_text()
    theme.click()
    page.wait_for_url("**theme=**")
    chip = page.locator("#active-filters a.chip")
    assert chip.count() == 1 and label in chip.inner_text()
    chip.click()
    page.wait_for_url(lambda url: "theme=" not in url)
    assert page.locator("#active-filters").count() == 0 and page.locator("#q").input_value() == typed

    # 3. two filters, cleared at once
    open_filters(page, viewport)
    page.locator('a[data-facet="theme"]:not([aria-current])').first.click()
    page.wait_for_url("**theme=**")
    open_filters(page, viewport)
    page.locator('a[data-facet="country"]:not([aria-current])').first.click()
    page.wait_for_url("**country=**")
    assert page.locator("#active-filters a.chip").count() == 2
    page.click("#clear-all")
    page.wait_for_load_state("load")
    assert page.locator("#active-filters").count() == 0 and hits(page) > 0

    # 4. nothing found, and the way back
    page.goto(f"{site}/?country=PT&theme=animals&lang={lang}")
    assert hits(page) == 0 and page.locator("#nothing").is_visible()
    page.locator("#nothing a").click()
    page.wait_for_load_state("load")
    assert hits(page) > 0 and page.locator("#active-filters").count() == 0

    # 5. an impossible age: explained next to its field in the page's language, the rest applied
    response = page.goto(searched + "&age=200")
    assert response is not None and response.status == 422
    error, age = page.locator("#e-age"), page.locator("#f-age")
    said = ui.gettext(INPUT_ERRORS[("age", None)])
    assert said in page.locator("#errors").inner_text() and hits(page) > 0  # said above the results
    open_filters(page, viewport)  # on a phone the panel stays closed until asked
    assert error.inner_text() == said
    assert lang == "en" or error.inner_text() != INPUT_ERRORS[("age", None)], "not translated"
    assert error.is_visible() and age.get_attribute("aria-describedby") == "e-age"
    below = error.bounding_box()["y"] - (age.bounding_box()["y"] + age.bounding_box()["height"])
    assert 0 <= below < 40, below
    assert page.locator("#q").input_value() == typed and hits(page) > 0
    assert ui.country_name("LV") in page.locator("#understood").inner_text()

    # 6. a listing opens in the page's language, its own words marked with theirs
    page.goto(searched)
    page.locator("article.hit h3 a").first.click()
    page.wait_for_url("**/o/**")
    assert html.get_attribute("lang") == lang and html.get_attribute("dir") == ("rtl" if lang == "ar" else "ltr")
    title = page.locator("main article h2")
    assert title.get_attribute("lang") and title.get_attribute("dir") == "auto"

    # 7. the feed of the search speaks the page's language
    page.goto(searched)
    href = page.get_attribute("#feed-link", "href")
    assert f"lang={lang}" in href
    feed = page.request.get(site + href)
    assert feed.ok and f"<language>{lang}</language>" in feed.text()
