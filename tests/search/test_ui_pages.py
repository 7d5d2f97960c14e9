"""The web UI's search page, as a newcomer uses it (issue 19): every facet
value reachable, active filters removable, the filter form keeping every
choice, invalid input explained next to its field in the page's language
without losing the rest of the search, and counts that match the cards."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from search.backends import SearchBackend
from tests.support.corpus import corpus
from tests.support.opportunities import make_opportunity
from tilts.app import create_app

# More countries than a facet shows at first; Iceland (one listing) comes last by count.
EXTRA = ["FR", "ES", "IT", "NL", "BE", "AT", "CZ", "SK", "HU", "RO", "BG", "GR", "FI", "SE"]


@pytest.fixture
def client(backend: SearchBackend) -> Iterator[TestClient]:
    extra = [make_opportunity(200 + i * 2 + k, title=f"Helper {code}", country=code, city=None)
             for i, code in enumerate(EXTRA) for k in range(2)]
    extra.append(make_opportunity(300, title="Helper in Reykjavik", country="IS", city="Reykjavik"))
    extra.append(make_opportunity(301, title="Neighbourhood garden helpers", country="LV", city="Cēsis")
                 .model_copy(update={"programme": "ngo"}))
    assert backend.upsert_many([*corpus(), *extra]) == []
    backend.refresh()
    with TestClient(create_app(backend)) as c:
        yield c


class Page(HTMLParser):
    """The parts of the search page these tests read."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.facet_links: list[dict] = []
        self.chips: list[dict] = []
        self.options: dict[str, list[tuple[str, str, bool]]] = {}
        self.field_errors: dict[str, str] = {}
        self.hits = 0
        self._stack: list[tuple[str, dict]] = []
        self._text: list[str] | None = None
        self._select: str | None = None
        self._in_more = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self.forms.append({"class": a.get("class", ""), "inputs": []})
        elif tag == "input" and self.forms:
            self.forms[-1]["inputs"].append(a)
        elif tag == "select":
            self._select = a.get("name")
            self.options.setdefault(self._select or "", [])
        elif tag == "option" and self._select:
            self._start(tag, a)
        elif tag == "details" and "more" in a.get("class", ""):
            self._in_more += 1
        elif tag == "a" and ("data-facet" in a or "chip" in a.get("class", "").split() or a.get("id") == "clear-all"):
            self._start(tag, {**a, "in_more": bool(self._in_more)})
        elif tag == "p" and "field-error" in a.get("class", ""):
            self._start(tag, a)
        elif tag == "article" and "hit" in a.get("class", ""):
            self.hits += 1

    def _start(self, tag: str, attrs: dict) -> None:
        self._stack.append((tag, attrs))
        self._text = []

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "details" and self._in_more:
            self._in_more -= 1
        if self._stack and self._stack[-1][0] == tag:
            _, attrs = self._stack.pop()
            text = " ".join("".join(self._text or []).split())
            self._text = None
            if tag == "option":
                self.options[self._select or ""].append((attrs.get("value", ""), text, "selected" in attrs))
            elif tag == "p":
                self.field_errors[attrs["id"]] = text
            elif "data-facet" in attrs:
                self.facet_links.append({**attrs, "text": text})
            else:
                self.chips.append({**attrs, "text": text})

    def hidden(self, form_class: str) -> list[tuple[str, str]]:
        form = next(f for f in self.forms if f["class"] == form_class)
        return [(i["name"], i["value"]) for i in form["inputs"] if i.get("type") == "hidden"]

    def facet(self, facet: str) -> list[dict]:
        return [a for a in self.facet_links if a["data-facet"] == facet]


def total(html: str) -> int:
    text = re.search(r'<p id="total"[^>]*>(.*?)</p>', html, re.DOTALL).group(1)  # type: ignore[union-attr]
    return int(re.sub(r"\D", "", text.split()[0]))


def test_every_country_is_reachable_and_selected_ones_are_marked(client: TestClient) -> None:
    page = Page(client.get("/", params={"lang": "en"}).text)
    countries = page.facet("country")
    assert "Iceland" in [a["text"] for a in countries]  # behind "show all", but there
    more = [a["text"] for a in countries if a["in_more"]]
    assert more and more == sorted(more), more  # the "all" list is by name
    assert not any(a["in_more"] for a in countries[:8])
    # a selected value is shown (first) and marked as selected, even with the fewest listings
    page = Page(client.get("/", params={"country": "IS", "lang": "lv"}).text)
    selected = [a for a in page.facet("country") if a.get("aria-current") == "true"]
    assert [(a["text"], a["in_more"]) for a in selected] == [("Islande", False)]
    assert "aria-pressed" not in client.get("/", params={"country": "IS"}).text
    assert page.hits == 1


def test_active_filters_are_removable_chips_even_with_no_results(client: TestClient) -> None:
    html = client.get("/", params={"q": "youth", "country": "LV", "age": 24, "resident": "LV", "lang": "lv"}).text
    chips = {c["text"]: c["href"] for c in Page(html).chips}
    assert any("Latvija" in text and "Valsts" in text for text in chips), chips
    assert any("24" in text for text in chips), chips
    removed = next(href for text, href in chips.items() if "Valsts" in text)
    assert "country=" not in removed and "age=24" in removed and "resident=LV" in removed and "q=youth" in removed
    # zero results: the filters are still shown, with the way out
    html = client.get("/", params={"country": "IS", "theme": "sport", "lang": "uk"}).text
    page = Page(html)
    assert page.hits == 0
    texts = [c["text"] for c in page.chips]
    assert any("Ісландія" in t for t in texts) and any(c.get("id") == "clear-all" for c in page.chips), texts
    assert next(c["href"] for c in page.chips if c.get("id") == "clear-all") == "?"


def test_filter_form_carries_every_other_choice(client: TestClient) -> None:
    page = Page(client.get("/", params=[("q", "dog"), ("country", "LV"), ("country", "EE"), ("theme", "animals"),
                                        ("understand", "false"), ("age", "30")]).text)
    hidden = page.hidden("filters")
    assert {("q", "dog"), ("country", "LV"), ("country", "EE"), ("theme", "animals"),
            ("understand", "false")} <= set(hidden), hidden
    assert not {"age", "sort", "speaks", "resident"} & {k for k, _ in hidden}  # those are the form's own fields


def test_where_i_live_is_a_country_list_in_the_page_language(client: TestClient) -> None:
    page = Page(client.get("/", params={"lang": "uk", "resident": "lv", "age": "30"}).text)
    options = page.options["resident"]
    assert len(options) > 200 and options[0][0] == ""
    names = [name for code, name, _ in options[1:]]
    assert names[0].startswith("А"), names[:3]  # Ukrainian alphabetical order, not code points (Є, І first)
    assert names.index("Естонія") < names.index("Єгипет") < names.index("Латвія")
    # lowercase "lv" is read as Latvia, and the age typed with it kept
    assert [(code, name) for code, name, sel in options if sel] == [("LV", "Латвія")]
    assert ("age", "30") not in page.hidden("filters")
    assert any("Латвія" in c["text"] for c in page.chips) and any("30" in c["text"] for c in page.chips)


@pytest.mark.parametrize(("params", "field", "message"), [
    ({"age": "200", "lang": "uk"}, "age", "Вкажіть вік від 0 до 120."),
    ({"near": "Nowhere-on-earth-x", "lang": "lv"}, "near", "Šāda vieta nav zināma"),
    ({"within_km": "20", "lang": "ru"}, "within_km", "укажите место в поле «Рядом с»"),
    ({"resident": "Latvia", "lang": "uk"}, "resident", "Виберіть країну зі списку."),
])
def test_invalid_input_is_explained_and_the_rest_is_kept(client: TestClient, params: dict, field: str,
                                                          message: str) -> None:
    expected = client.get("/", params={"country": "LV", "theme": "animals"}).text
    response = client.get("/", params={"country": "LV", "theme": "animals", **params})
    assert response.status_code == 422
    html = response.text
    assert "String should match" not in html and "Input should be" not in html
    page = Page(html)
    assert message in page.field_errors[f"e-{field}"]
    assert re.search(rf'id="f-{field}"[^>]*aria-invalid="true"', html)
    # the rest of the search still applies
    assert total(html) == total(expected) and page.hits == Page(expected).hits
    assert {("country", "LV"), ("theme", "animals")} <= set(page.hidden("filters"))


def test_count_is_the_number_of_cards_when_duplicates_collapse(client: TestClient) -> None:
    for params in ({"size": 100}, {"country": "LV", "size": 100}):
        html = client.get("/", params=params).text
        assert total(html) == Page(html).hits
    html = client.get("/", params={"collapse": "false", "size": 100}).text
    assert total(html) == Page(html).hits


def test_latvian_accommodation_is_lodging_not_residence(client: TestClient) -> None:
    html = client.get("/", params={"lang": "lv", "support": "accommodation"}).text
    assert "Naktsmītne" in html and "Dzīvesvieta" not in html


def test_who_may_apply_is_shown_and_where_i_live_says_what_it_hides(client: TestClient) -> None:
    """Two ESC listings take residents of a few countries only: "Where I live" = France hides
    them, and the page says so with a way to see them; a card says who may apply."""
    everyone = client.get("/", params={"lang": "uk", "collapse": "false"}).text
    total = int(re.sub(r"\D", "", re.search(r'id="total"[^>]*>([^<]*)<', everyone).group(1)))
    assert "Можуть брати участь мешканці 6 країн" in everyone  # en-3, short on the card

    html = client.get("/", params={"resident": "FR", "lang": "uk", "collapse": "false"}).text
    notice = re.search(r'id="resident-notice">(.*?)</p>', html, re.S).group(1)
    assert "Ще 2 можливості недоступні" in notice and "Франція" in notice, notice
    shown = int(re.sub(r"\D", "", re.search(r'id="total"[^>]*>([^<]*)<', html).group(1)))
    assert shown == total - 2
    link = re.search(r'href="([^"]*)" id="show-hidden"', html).group(1).replace("&amp;", "&")
    assert "resident=" not in link and "collapse=false" in link  # the rest of the search is kept
    again = client.get("/" + link).text
    assert int(re.sub(r"\D", "", re.search(r'id="total"[^>]*>([^<]*)<', again).group(1))) == total

    assert "resident-notice" not in client.get("/", params={"resident": "LV", "lang": "uk"}).text  # none hidden
    lisbon = client.get("/", params={"resident": "LV", "q": "Lisbon", "understand": "false", "lang": "lv"}).text
    assert "Var pieteikties šīs valsts iedzīvotāji: Latvija" in lisbon

    detail = client.get("/o/en-3", params={"lang": "uk"}).text
    residence = re.search(r'id="residence">(.*?)</p>', detail, re.S).group(1)
    names = ["Естонія", "Латвія", "Литва", "Німеччина", "Польща", "Португалія"]  # Ukrainian alphabetical order
    assert [n for n in names if n in residence] == names
    assert [residence.index(n) for n in names] == sorted(residence.index(n) for n in names)
    assert "European Solidarity Corps" in detail


def test_errors_are_pages_in_the_persons_language_and_json_for_the_api(client: TestClient) -> None:
    html = {"Accept": "text/html,application/xhtml+xml"}
    page = client.get("/o/no-such-listing", params={"lang": "uk"}, headers=html)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Не знайдено" in page.text and 'href="/"' in page.text
    lv = client.get("/nowhere", params={"lang": "lv"}, headers=html)
    assert lv.status_code == 404 and "Nav atrasts" in lv.text
    api = client.get("/opportunities/no-such-listing", headers=html)  # the API stays JSON
    assert api.status_code == 404 and api.json()["detail"] == "no such opportunity"
    assert client.get("/o/no-such-listing").headers["content-type"].startswith("application/json")
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


def test_a_calendar_is_offered_only_for_listings_with_dates(client: TestClient) -> None:
    assert ".ics" not in client.get("/o/en-2").text  # no start, no deadline
    assert client.get("/opportunities/en-2.ics").status_code == 404
    assert "/opportunities/lv-1.ics" in client.get("/o/lv-1").text
    ics = client.get("/opportunities/lv-1.ics")
    assert ics.status_code == 200 and "BEGIN:VEVENT" in ics.text


def test_a_detail_page_leads_back_to_the_search_it_came_from(client: TestClient) -> None:
    import html
    import re

    def back(**headers: str) -> str:
        found = re.search(r'<a class="back" id="back" href="([^"]*)"', client.get("/o/lv-1", headers=headers).text)
        assert found, "no way back on the detail page"
        return html.unescape(found.group(1))

    search = "/?q=dz%C4%ABvnieki&country=LV&lang=lv"
    assert back(Referer=f"http://testserver{search}") == search
    assert back() == "/"
    assert back(Referer=f"https://elsewhere.example{search}") == "/"  # never a link to another site
    assert back(Referer="http://testserver/o/lv-2") == "/"


def test_deadline_soon_is_a_filter_with_a_chip(client: TestClient) -> None:
    from datetime import UTC, date, datetime, timedelta

    from tests.support.corpus import corpus as listings

    today = datetime.now(UTC).date()
    html = client.get("/", params={"lang": "uk"}).text
    options = Page(html).options["deadline_to"]
    assert [label for _v, label, _on in options][:3] == ["Будь-коли", "Протягом 7 днів", "Протягом 30 днів"]
    soon = str(today + timedelta(days=30))
    assert (soon, "Протягом 30 днів", False) in options
    page = client.get("/", params={"deadline_to": soon, "lang": "uk", "collapse": "false"}).text
    want = sum(1 for d in listings() if d.status.value == "open" and d.deadline and today <= d.deadline
               <= date.fromisoformat(soon))
    assert Page(page).hits == want
    assert (soon, "Протягом 30 днів", True) in Page(page).options["deadline_to"]
    chip = next(c for c in Page(page).chips if "Подати заявку до" in c["text"])
    assert "deadline_to" not in chip["href"] and "collapse=false" in chip["href"]



def test_a_detail_page_says_what_it_is_in_json_ld_that_a_crawler_reads_back(
        client: TestClient, backend: SearchBackend) -> None:
    from crawlers.platforms.schemaorg import parse_schemaorg

    hostile = make_opportunity(
        301, title='Night shelter </script><script>window.__x=1</script> & "friends"', country="LV", city="Rīga",
        org="Rīgas patversme").model_copy(update={"deadline": date(2027, 1, 15)})
    assert backend.upsert_many([hostile]) == []
    backend.refresh()
    for doc_id in ("lv-3", "test-301"):
        html = client.get(f"/o/{doc_id}").text
        assert html.count('<script type="application/ld+json">') == 1
        items, errors = parse_schemaorg(html.encode(), f"http://tilts.test/o/{doc_id}")
        assert errors == [] and len(items) == 1, errors
        item, doc = items[0], backend.get(doc_id)
        assert doc is not None
        assert item["title"] == doc["title"] and item["external_id"] == doc_id
        assert item["country"] == doc["locations"][0]["country"]
        assert item.get("deadline", "")[:10] == (doc.get("deadline") or "")[:10]
    # the hostile title stays data: the script element ends where the JSON ends, as a browser reads it
    html = client.get("/o/test-301").text
    block = html.split('<script type="application/ld+json">', 1)[1].split("</script>", 1)[0]
    assert json.loads(block)["title"] == hostile.title
    assert "<script>window.__x" not in html


@pytest.mark.parametrize(("lang", "shown"), [
    ("en", "German B1; English or Russian B2"), ("lv", "vācu B1; angļu vai krievu B2"),
    ("ru", "немецкий B1; английский или русский B2"), ("uk", "німецька B1; англійська або російська B2"),
])
def test_cards_show_alternatives_as_one_requirement(tmp_path, lang: str, shown: str) -> None:
    """A requirement with alternatives reads "English or Russian" in the
    page's language, on the search card and the detail page; a listing
    without alternatives reads as before ("German B1, English")."""
    from pipeline.events import Eligibility, LanguageRequirement
    from search.backends import open_backend

    either = make_opportunity(1, title="Either language")
    either.eligibility = Eligibility(languages=[
        LanguageRequirement(language="de", level="B1"), LanguageRequirement(language="en", one_of=1),
        LanguageRequirement(language="ru", level="B2", one_of=1), LanguageRequirement(language="lv", required=False)])
    both = make_opportunity(2, title="Both languages")
    both.eligibility = Eligibility(languages=[LanguageRequirement(language="de", level="B1"),
                                              LanguageRequirement(language="en")])
    backend = open_backend(f"sqlite:///{tmp_path / 's.sqlite3'}")
    backend.setup()
    assert backend.upsert_many([either, both]) == []
    with TestClient(create_app(backend)) as c:
        assert f": {shown}</li>" in c.get("/", params={"lang": lang, "speaks": ["en", "de"]}).text
        assert f": {shown}</li>" in c.get("/o/test-1", params={"lang": lang}).text
        assert ": German B1, English</li>" in c.get("/o/test-2", params={"lang": "en"}).text
    backend.close()


@pytest.mark.parametrize("lang", ["uk", "ar"])
def test_a_card_names_its_programme_and_place_in_the_page_language(client: TestClient, lang: str) -> None:
    from search.i18n import UI

    ui = UI.of(lang)
    page = client.get("/", params={"q": "neighbourhood garden helpers", "understand": "false", "lang": lang}).text
    assert f"<bdi>{ui.label('programme', 'ngo')}</bdi>" in page and ">ngo<" not in page
    comma = "، " if lang == "ar" else ", "
    assert f"Cēsis{comma}{ui.country_name('LV')}" in page
