"""What a person types, understood the same way on both backends: places and
themes in their language become filters, the rest is matched as text, and a
search that finds nothing is relaxed with a word about what was left out.
Expected results are derived from the corpus's structured fields here, not
from the search."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pipeline.events import Opportunity
from search.backends import SearchBackend, SearchRequest
from search.query import plan, run
from tests.support.corpus import corpus
from tilts.app import create_app


@pytest.fixture
def loaded(backend: SearchBackend) -> Iterator[tuple[SearchBackend, list[Opportunity]]]:
    docs = corpus()
    assert backend.upsert_many(docs) == []
    backend.refresh()
    yield backend, [d for d in docs if d.status.value == "open"]


def ids(result) -> set[str]:
    return {h.id for h in result.hits}


def in_country(docs: list[Opportunity], code: str) -> set[str]:
    return {d.id for d in docs if code in d.countries}


@pytest.mark.parametrize("q", [
    "волонтерство в Латвії", "волонтёрство в Латвии", "brīvprātīgais darbs Latvijā", "brivpratigais darbs latvija",
    "volunteering in Latvia", "Freiwilligendienst in Lettland", "التطوع في لاتفيا", "latvia",
])
def test_a_country_in_any_language_is_a_place_filter(loaded, q: str) -> None:
    backend, docs = loaded
    result = run(backend.search, SearchRequest(q=q, collapse=False, size=100))
    assert result.understood is not None and result.understood["country"] == ["LV"], result.understood
    assert ids(result) == in_country(docs, "LV")
    assert result.relaxed == []


def test_a_theme_word_in_another_language_finds_listings_in_any_language(loaded) -> None:
    backend, docs = loaded
    animals = {d.id for d in docs if "animals" in d.themes}
    assert len({d.language for d in docs if d.id in animals}) > 1  # written in several languages
    for q in ("тварини", "dzīvnieki", "animals", "Tiere", "животные"):
        result = run(backend.search, SearchRequest(q=q, collapse=False, size=100))
        assert result.understood and result.understood.get("theme") == ["animals"], (q, result.understood)
        assert ids(result) == animals, q


def test_a_topic_in_any_language_finds_the_listings_naming_it_in_theirs(loaded) -> None:
    backend, docs = loaded
    # the open listings whose title names an animal shelter, each in its own language
    said = {"lv-1": "patversm", "en-1": "shelter", "ru-1": "приют", "de-1": "tierheim", "pl-1": "schronisk"}
    by_id = {d.id: d for d in docs}
    assert all(word in by_id[i].title.lower() for i, word in said.items())
    assert {d.id for d in docs if d.id not in said and any(w in d.title.lower() for w in said.values())} == set()
    for q in ("притулок для тварин", "dzīvnieku patversme", "animal shelter", "Tierheim", "schronisko dla zwierząt"):
        result = run(backend.search, SearchRequest(q=q, collapse=False, size=100))
        assert result.understood and result.understood.get("topic") == ["animal_shelter"], (q, result.understood)
        assert ids(result) == set(said), q
        assert all(h.highlight for h in result.hits), q  # the words that matched are marked
    # no listing names a hospice: the search widens to the topic's theme, and says so
    hospice = run(backend.search, SearchRequest(q="хоспіс", collapse=False, size=100))
    assert hospice.relaxed == ["topic"] and hospice.understood["theme"] == ["health"]
    assert ids(hospice) == {d.id for d in docs if "health" in d.themes}


@pytest.mark.parametrize("q", ["esc", "ESC volunteering", "Eiropas Solidaritātes korpuss",
                               "європейський корпус солідарності", "europäisches solidaritätskorps"])
def test_a_programme_named_in_any_language_is_a_programme_filter(loaded, q: str) -> None:
    backend, docs = loaded
    esc = {d.id for d in docs if d.programme == "European Solidarity Corps"}
    assert esc and esc != {d.id for d in docs}
    result = run(backend.search, SearchRequest(q=q, collapse=False, size=100))
    assert result.understood and result.understood.get("programme") == ["European Solidarity Corps"], q
    assert ids(result) == esc, q


def test_explicit_choices_win_and_understanding_can_be_undone(loaded) -> None:
    backend, docs = loaded
    planned, understood = plan(SearchRequest(q="Latvia", country=["EE"]))
    assert planned.country == ["EE"] and "country" not in (understood or {})
    literal = run(backend.search, SearchRequest(q="Latvia", understand=False, collapse=False, size=100))
    assert literal.understood is None
    understood_ = run(backend.search, SearchRequest(q="Latvia", collapse=False, size=100))
    assert ids(understood_) == in_country(docs, "LV")
    assert plan(SearchRequest(q="Latvia", understand=False)) == (SearchRequest(q="Latvia", understand=False), None)


def test_nothing_found_is_relaxed_and_said(loaded) -> None:
    backend, docs = loaded
    # words nothing understood next to a place: they rank the place's listings, they hide none
    result = run(backend.search, SearchRequest(q="qqzzyxw in Latvia", collapse=False, size=100))
    assert result.relaxed == [] and result.understood["text"] == "qqzzyxw"
    assert ids(result) == in_country(docs, "LV")
    insured = run(backend.search, SearchRequest(q="beach with insurance", collapse=False, size=100))
    assert insured.understood["support"] == ["insurance"] and insured.understood["text"] == "beach"
    assert ids(insured) == {d.id for d in docs if d.support.insurance}
    ranked = run(backend.search, SearchRequest(q="koordinators in Latvia", collapse=False, size=100))
    assert ranked.understood["text"] == "koordinators" and ids(ranked) == in_country(docs, "LV")
    named = [h.id for h in ranked.hits if "koordinators" in h.opportunity["title"].lower()]
    assert named and [h.id for h in ranked.hits[:len(named)]] == named  # those with the word first
    # a topic no listing there names widens to its theme, then to the place alone
    assert not any("muze" in f"{d.title} {d.description_text}".lower() for d in docs)
    culture_lv = {d.id for d in docs if "LV" in d.countries and "culture" in d.themes}
    topic = run(backend.search, SearchRequest(q="museum in Latvia", collapse=False, size=100))
    assert topic.relaxed == (["topic"] if culture_lv else ["topic", "theme"])
    assert ids(topic) == (culture_lv or in_country(docs, "LV"))
    none = run(backend.search, SearchRequest(q="qqzzyxw", collapse=False, size=100))
    assert none.total == 0 and none.relaxed == []  # nothing understood: nothing to relax
    # relaxing finds nothing either (no listing in Iceland): nothing is said to be left out
    assert not in_country(docs, "IS")
    nowhere = run(backend.search, SearchRequest(q="sport in Iceland", collapse=False, size=100))
    assert nowhere.total == 0 and nowhere.relaxed == []
    assert nowhere.understood["country"] == ["IS"] and nowhere.understood["theme"] == ["sport"]


def test_words_that_do_not_all_match_find_listings_matching_some_of_them(loaded) -> None:
    backend, docs = loaded
    said = {d.id for d in docs if "food" in f"{d.title} {d.description_text}".lower()}
    assert len(said) >= 2
    result = run(backend.search, SearchRequest(q="food qqzzyxw", understand=False, collapse=False, size=100))
    assert result.relaxed == ["words"] and result.understood is None
    assert {h.id for h in result.hits[:len(said)]} == said  # those with the word first (then typo matches)
    one = run(backend.search, SearchRequest(q="qqzzyxw", understand=False, collapse=False, size=100))
    assert one.total == 0 and one.relaxed == []  # one word: nothing else to try


def test_the_page_shows_what_was_understood_and_undoes_it(loaded) -> None:
    backend, docs = loaded
    client = TestClient(create_app(backend))
    page = client.get("/", params={"q": "волонтерство в Латвії", "lang": "uk"}).text
    assert 'id="understood"' in page and "Латвія" in page
    assert "understand=false" in page
    api = client.get("/search", params={"q": "волонтерство в Латвії", "collapse": "false", "size": 100}).json()
    assert api["understood"]["country"] == ["LV"] and {h["id"] for h in api["hits"]} == in_country(docs, "LV")
    literal = client.get("/", params={"q": "волонтерство в Латвії", "understand": "false"}).text
    assert 'id="understood"' not in literal


def test_a_city_in_any_spelling_is_the_area_around_it(loaded) -> None:
    from math import asin, cos, radians, sin, sqrt

    backend, docs = loaded

    def km(a: tuple[float, float], b: tuple[float, float]) -> float:
        h = (sin(radians(b[0] - a[0]) / 2) ** 2
             + cos(radians(a[0])) * cos(radians(b[0])) * sin(radians(b[1] - a[1]) / 2) ** 2)
        return 12742 * asin(sqrt(h))

    riga = (56.9496, 24.1052)
    near = {d.id for d in docs if any(loc.geo and km(riga, (loc.geo.lat, loc.geo.lon)) <= 30 for loc in d.locations)}
    assert near
    for q in ("Рига", "у Ризі", "Rīgā", "in riga", "в Риге"):
        result = run(backend.search, SearchRequest(q=q, collapse=False, size=100))
        assert result.understood and result.understood.get("city") == ["Riga"], (q, result.understood)
        assert ids(result) == near, q
        distances = [h.distance_km for h in result.hits]  # the city's own listings first, then those around
        assert None not in distances and distances == sorted(distances), q


def test_one_understood_filter_can_be_removed(loaded) -> None:
    backend, docs = loaded
    client = TestClient(create_app(backend))
    q = "sport in Latvia"
    both = client.get("/search", params={"q": q, "collapse": "false", "size": 100}).json()
    assert both["understood"]["country"] == ["LV"] and both["understood"]["theme"] == ["sport"]
    page = client.get("/", params={"q": q}).text
    assert "ignore=theme" in page and "ignore=country" in page  # a × on each understood filter
    no_theme = client.get("/search", params=[("q", q), ("ignore", "theme"), ("collapse", "false"),
                                             ("size", "100")]).json()
    assert "theme" not in no_theme["understood"] and no_theme["understood"]["country"] == ["LV"]
    assert {h["id"] for h in no_theme["hits"]} == in_country(docs, "LV")
    neither = client.get("/search", params=[("q", q), ("ignore", "theme"), ("ignore", "country"),
                                            ("collapse", "false"), ("size", "100")]).json()
    assert neither["understood"] == {"text": ""}  # both removed: their words are gone too
    assert {h["id"] for h in neither["hits"]} == {d.id for d in docs}
    assert client.get("/search", params={"q": q, "ignore": "title"}).status_code == 422


def test_a_city_without_listings_widens_to_its_country_not_the_world(loaded) -> None:
    backend, docs = loaded
    result = run(backend.search, SearchRequest(q="volunteering in Liepāja", collapse=False, size=100))
    assert result.understood["city"] == ["Liepāja"] and result.relaxed == ["city"]
    assert result.understood["country"] == ["LV"]
    assert ids(result) == in_country(docs, "LV")  # Latvia's listings, not everyone's
    london = run(backend.search, SearchRequest(q="london", collapse=False, size=100))
    assert london.total == 0 and london.understood["country"] == ["GB"]  # honest: none there


def test_the_page_strikes_out_what_was_left_out(loaded) -> None:
    import re

    backend, _docs = loaded
    page = TestClient(create_app(backend)).get("/", params={"q": "museum in Latvia", "lang": "en"}).text
    # what was understood and then left out no longer looks active; the place still does
    dropped = re.findall(r'<span class="chip dropped" data-facet="(\w+)"><del>', page)
    assert dropped and set(dropped) <= {"topic", "theme"}, page[page.find('id="understood"'):][:800]
    assert "(left out)" in page
    assert '<span class="chip" data-facet="country">' in page
    lv = TestClient(create_app(backend)).get("/", params={"q": "museum in Latvia", "lang": "lv"}).text
    assert "(izlaists)" in lv
    # the note below names what was left out in the person's words, not the fields' names
    note = re.search(r'<p class="relaxed" id="relaxed">(.*?)</p>', page, re.S)
    assert note and "museums" in note.group(1).lower() and "Topic" not in note.group(1), note


def test_a_submitted_form_keeps_only_what_was_chosen_in_the_address(loaded) -> None:
    backend, _docs = loaded
    client = TestClient(create_app(backend), follow_redirects=False)
    sent = client.get("/?q=shelter&age=&resident=&near=&within_km=&deadline_to=&sort=relevance&lang=uk")
    assert sent.status_code == 303 and sent.headers["location"] == "/?q=shelter&sort=relevance&lang=uk"
    assert client.get("/?q=").headers["location"] == "/"
    assert client.get("/?q=shelter&lang=uk").status_code == 200


def test_an_understood_place_is_ticked_in_its_facet_and_unticking_it_undoes_it(loaded) -> None:
    import html
    import re

    backend, docs = loaded
    client = TestClient(create_app(backend))
    page = client.get("/", params={"q": "волонтерство в Латвії", "lang": "uk"}).text
    ticked = re.findall(r'<a href="([^"]*)" data-facet="country" aria-current="true">([^<]*)</a>', page)
    assert [name for _, name in ticked] == ["Латвія"]
    # unticking it is the chip's "×": the same words, the place no longer applied
    untick = html.unescape(ticked[0][0])
    assert "ignore=country" in untick and "country=" not in untick.replace("ignore=country", "")
    wider = client.get("/search" + untick).json()
    assert "country" not in (wider["understood"] or {}) and wider["total"] > len(in_country(docs, "LV"))


def test_what_the_person_unticked_says_so_and_can_be_used_again(loaded) -> None:
    import html
    import re

    backend, docs = loaded
    client = TestClient(create_app(backend))
    page = client.get("/", params={"q": "волонтерство в Латвії", "ignore": "country", "lang": "uk"}).text
    ignored = page[page.index('id="ignored"'):][:600]
    assert "<del>Країна</del>" in ignored and "Не враховується за вашим вибором" in ignored
    again = html.unescape(re.search(r'<a href="([^"]*)">Враховувати знову</a>', ignored).group(1))
    assert "ignore=" not in again
    back = client.get("/search" + again).json()
    assert back["understood"]["country"] == ["LV"] and {h["id"] for h in back["hits"]} <= in_country(docs, "LV")
