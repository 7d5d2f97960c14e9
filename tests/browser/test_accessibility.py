"""Accessibility of every page a person or an officer sees, in every UI
language (right-to-left ones included), checked in headless Chromium with
axe-core's WCAG 2.0/2.1/2.2 A and AA rules (target-size included): no serious
or critical violation. Beyond axe: the focus ring is visible (at least 3:1
against what is behind it), touch targets on a phone are at least 24×24 CSS
px even where axe's spacing exception would let them pass, a listing's own
words carry its language, and no page scrolls sideways on a phone.

A failure names, per violation, the template that renders it (search.html,
coverage.html, ... or base.html), the rule, its impact, the target selectors
and axe's help text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from search.i18n import UI, UI_LANGUAGES
from tests.support.browser import (
    DESKTOP,
    PHONE,
    Tabs,
    axe_violations,
    corpus_app,
    describe,
    focus_ring,
    serve,
    small_targets,
)
from tests.support.dashboard import AUTH

RESULTS = "/?q=dzivnieku+patversme&theme=animals&resident=LV"
PAGES = {  # name → (path, template)
    "home": ("/", "search.html"),
    "results": (RESULTS, "search.html"),
    "zero-results": ("/?q=shelter&country=PT&theme=animals", "search.html"),
    "invalid-input": ("/?q=shelter&age=200&country=LV", "search.html"),
    "detail": ("/o/lv-3", "detail.html"),
    "subscribed": (RESULTS, "message.html"),  # the page after the subscription form is sent
    "dashboard": ("/coverage", "coverage.html"),
    "not-found": ("/o/no-such-listing", "message.html"),
}
# Every page on a phone in every language; on a desktop the pages whose layout
# changes there: the results (side column) in every language, the dashboard's
# wide tables in Latvian (long words) and in each right-to-left language.
RTL = [lang for lang in UI_LANGUAGES if getattr(UI.of(lang), "dir", "ltr") == "rtl"]
CASES = ([(PHONE, name, lang) for name in PAGES for lang in UI_LANGUAGES]
         + [(DESKTOP, "results", lang) for lang in UI_LANGUAGES]
         + [(DESKTOP, "dashboard", lang) for lang in ["lv", *RTL]])
# Who renders what: the shared frame and the card, else the page's own template.
OWNERS = [(".skip, header.site, body > footer", "base.html"), ("article .meta, article .badges", "_card.html")]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(corpus_app(tmp_path_factory.mktemp("a11y"))) as url:
        yield url


def visit(tabs: Tabs, site: str, viewport: dict, lang: str, name: str):
    page = tabs.open(viewport, http_credentials={"username": AUTH[0], "password": AUTH[1]})
    path = PAGES[name][0]
    response = page.goto(site + path + ("&" if "?" in path else "?") + "lang=" + lang)
    if name == "subscribed":
        page.fill('form.subscribe input[name="email"]', "reader@example.org")
        with page.expect_navigation() as sent:
            page.locator('form.subscribe [type="submit"]').click()
        assert sent.value is not None and sent.value.status == 202  # "check your inbox"
    else:
        expected = {"not-found": 404, "invalid-input": 422}.get(name, 200)
        assert response is not None and response.status == expected, (name, response and response.status)
    assert page.locator("html").get_attribute("lang") == lang
    return page


def owned(page, violations: list[dict], template: str) -> list[dict]:
    """``violations`` with each node's owning template in its ``help``."""
    shown = []
    for v in violations:
        for node in v["nodes"]:
            owner = template
            for selector, name in OWNERS:
                if page.evaluate("([t, s]) => !!document.querySelector(t)?.closest(s)", [node["target"][0], selector]):
                    owner = name
                    break
            shown.append({**v, "id": f"[{owner}] {v['id']}", "nodes": [node]})
    return shown


@pytest.mark.parametrize(("viewport", "name", "lang"), CASES,
                         ids=[f"{'phone' if vp is PHONE else 'desktop'}-{name}-{lang}" for vp, name, lang in CASES])
def test_no_serious_axe_violations(site: str, tabs: Tabs, viewport: dict, name: str, lang: str) -> None:
    page = visit(tabs, site, viewport, lang, name)
    found = owned(page, axe_violations(page), PAGES[name][1])
    assert not found, f"{len(found)} serious or critical axe violation(s) on {name} ({lang}):\n" + describe(found)
    if viewport is PHONE:
        small = small_targets(page)
        assert not small, f"touch targets under 24×24 CSS px on {name} ({lang}):\n" + "\n".join(small)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "the page scrolls sideways"


FOCUSABLE = {  # page → what a keyboard user reaches there
    "results": ["nav.langs a", "#q", 'form.search [type="submit"]', "#filters > summary", "#active-filters a.chip",
                "#understood .chip a", "article.hit h3 a", 'form.subscribe input[name="email"]'],
    "detail": ["#apply", ".meta a", "a.skip"],
}


@pytest.mark.parametrize("lang", UI_LANGUAGES)
def test_focus_ring_contrast(site: str, tabs: Tabs, lang: str) -> None:
    problems = []
    for name, selectors in FOCUSABLE.items():
        page = visit(tabs, site, PHONE, lang, name)
        for selector in selectors:
            if not page.locator(selector).count():
                problems.append(f"{name}: nothing matches {selector}")
                continue
            ring = focus_ring(page, selector)
            if not ring["focused"] or ring["style"] == "none" or ring["width"] < 2 or ring["ratio"] < 3:
                problems.append(f"{name}: focus ring of {selector}: {ring}")
    assert not problems, "\n".join(problems)


def test_a_listing_keeps_its_own_language_on_its_page(site: str, tabs: Tabs) -> None:
    """WCAG 3.1.2 (language of parts): a Latvian listing in the Ukrainian UI."""
    page = visit(tabs, site, PHONE, "uk", "detail")
    for selector in ("main article h2", "main .desc"):
        assert page.locator(selector).get_attribute("lang") == "lv", selector
        assert page.locator(selector).get_attribute("dir") == "auto", selector
    similar = page.locator("#similar ~ ul a[href^='/o/']")
    for i in range(similar.count()):
        assert similar.nth(i).get_attribute("lang"), similar.nth(i).inner_text()


def test_result_titles_carry_their_listings_language(site: str, tabs: Tabs) -> None:
    """WCAG 3.1.2 in search.html: each hit's title and summary are the listing's
    own words, so they need ``lang="{{ o.language }}" dir="auto"``."""
    page = visit(tabs, site, PHONE, "uk", "results")
    title = page.locator('article.hit h3 a[href="/o/lv-1"]')
    summary = page.locator('article.hit:has(a[href="/o/lv-1"]) > p:last-child')
    langs = [el.evaluate("e => e.closest('[lang]').getAttribute('lang')") for el in (title, summary)]
    assert langs == ["lv", "lv"], ("search.html: article.hit h3 a and the summary <p> lack "
                                   f'lang="{{{{ o.language }}}}" dir="auto" (valid-lang / WCAG 3.1.2); got {langs}')


@pytest.mark.parametrize("lang", UI_LANGUAGES)
def test_the_search_box_example_is_read_from_its_start(site: str, tabs: Tabs, lang: str) -> None:
    """On a phone the example in the empty search box is longer than the box:
    it starts where the page's language starts a line (an RTL page read it
    from its end before: dir=auto takes an empty box as LTR) and is cut with
    an ellipsis; what a person types still sets its own direction."""
    page = visit(tabs, site, PHONE, lang, "home")
    box = page.locator("#q")
    style = box.evaluate("e => [getComputedStyle(e).direction, getComputedStyle(e).textOverflow]")
    assert style == [page.locator("html").get_attribute("dir") or "ltr", "ellipsis"]
    box.fill("riga")
    assert box.evaluate("e => getComputedStyle(e).direction") == "ltr"
    box.fill("ريغا")
    assert box.evaluate("e => getComputedStyle(e).direction") == "rtl"
