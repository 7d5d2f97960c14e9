"""The web UI in a real headless Chromium (Debian's package, driven by
Playwright with ``executable_path``): search, facets, language switch, detail
page, feed link, and stored XSS that must stay inert. Screenshots of failures
go to ``test-artifacts/``."""

from __future__ import annotations


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
