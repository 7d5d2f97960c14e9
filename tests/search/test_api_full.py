"""The API, feeds, calendar and pages on both backends (real Elasticsearch)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import feedparser
import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar

from search.backends import SearchBackend
from tests.support.corpus import corpus
from tests.support.feeds import parsed_feed
from tests.support.opportunities import make_opportunity
from tilts.app import create_app


@pytest.fixture
def client(backend: SearchBackend) -> Iterator[TestClient]:
    evil = make_opportunity(
        99, title='<script>alert(1)</script> Shelter <img src=x onerror=alert(2)>',
        description='Shelter work. <a href="javascript:alert(3)">x</a>',
    ).model_copy(update={"url": "javascript:alert(4)", "apply_url": "javascript:alert(5)"})  # as an old index holds
    assert backend.upsert_many([*corpus(), evil]) == []
    backend.refresh()
    with TestClient(create_app(backend)) as c:
        yield c


def test_search_parameters_map_to_the_request_model(client: TestClient) -> None:
    body = client.get("/search", params=[("country", "lv"), ("country", "EE"), ("theme", "animals"),
                                         ("speaks", "ru"), ("size", "50")]).json()
    assert {h["id"] for h in body["hits"]} == {"ru-1"}
    body = client.get("/search", params={"near": "Riga", "within_km": 50, "sort": "distance"}).json()
    assert [h["id"] for h in body["hits"]][:1] in (["lv-4"], ["lv-1"], ["ru-1"], ["test-99"])
    assert all(h["distance_km"] < 50 for h in body["hits"])
    params = {"resident": "FR", "programme": "European Solidarity Corps"}
    assert client.get("/search", params=params).json()["total"] == 0
    # Estonia: four listings, two of them one exchange found on two sites (one cluster)
    estonia = client.get("/facets", params={"country": "EE"}).json()
    assert estonia["facets"]["country"]["EE"] == estonia["clusters"] == 3 and estonia["total"] == 4
    assert client.get("/facets", params={"country": "LV"}).json()["facets"]["country"]["EE"] == 3
    assert client.get("/facets", params={"country": "LV", "collapse": "false"}).json()["facets"]["country"]["EE"] == 4
    assert client.get("/search").headers["cache-control"].startswith("public")


@pytest.mark.parametrize("params", [
    {"page": 0}, {"size": 1000}, {"age": "old"}, {"resident": "Latvia"}, {"sort": "distance"},
    {"within_km": 10}, {"near": "Nowhere-on-earth-x"}, {"cursor": "%%%"}, {"page": 500, "size": 100},
    {"deadline_from": "tomorrow"}, {"lat": 91, "lon": 0},
])
def test_bad_input_is_a_clear_422(client: TestClient, params: dict) -> None:
    response = client.get("/search", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


def test_suggest_detail_and_404(client: TestClient) -> None:
    assert "Freiwilligendienst im Tierheim Hamburg" in client.get("/suggest", params={"q": "tierh"}).json()[
        "suggestions"]
    assert client.get("/opportunities/lv-3").json()["programme"] == "European Solidarity Corps"
    assert client.get("/opportunities/nope").status_code == 404
    assert client.get("/opportunities/nope.ics").status_code == 404




def test_suggest_offers_places_and_themes_in_the_persons_language(client: TestClient) -> None:
    def terms(q: str, lang: str) -> list[str]:
        return client.get("/suggest", params={"q": q, "lang": lang}).json()["terms"]

    # the corpus has listings in Latvia (Riga) and Estonia, and animal ones
    assert terms("lat", "lv")[:1] == ["Latvija"]
    assert "Латвия" in terms("лат", "ru") and "Латвія" in terms("лат", "uk")
    assert "لاتفيا" in terms("لات", "ar")
    assert "Рига" in terms("ри", "ru")  # the city, named as the page's language names it
    assert "Rīga" in terms("riga", "lv")  # typed without diacritics
    assert client.get("/search", params={"theme": "animals", "size": 0}).json()["total"] > 0
    assert "Dzīvnieki" in terms("dziv", "lv") and "Тварини" in terms("твар", "uk")
    assert "الحيوانات" in terms("الحيو", "ar")
    assert "الحيوانات" in terms("حيو", "ar")  # the word typed without its article
    assert terms("Brazīl", "lv") == []  # no listing in Brazil: nothing offered that finds nothing
    # what is offered is understood: searching it as typed finds that place
    body = client.get("/search", params={"q": terms("лат", "ru")[0]}).json()
    assert body["understood"]["country"] == ["LV"] and body["total"] > 0
    # topics too, in the person's language: the corpus has food banks (Riga, Hamburg), no museum
    assert "продовольственные банки" in terms("прод", "ru")
    assert "pārtikas bankas" in terms("partikas", "lv") and "بنوك الطعام" in terms("بنوك", "ar")
    assert client.get("/search", params={"topic": "museum", "size": 0}).json()["total"] == 0
    assert terms("муз", "ru") == [] and terms("museu", "en") == []
    body = client.get("/search", params={"q": "продовольственные банки"}).json()
    assert body["understood"]["topic"] == ["food_bank"] and body["total"] > 0


def test_feeds_parse_and_carry_no_markup(client: TestClient) -> None:
    for kind in ("rss", "atom"):
        feed, body = parsed_feed(client, kind, "shelter")
        titles = [e.title for e in feed.entries]
        assert "Volunteer at an animal shelter in Tallinn" in titles
        assert all(e.link.startswith("http://testserver/o/") for e in feed.entries)
        # source text is escaped text in the XML, never markup a reader could run
        assert b"<script" not in body and b"<img" not in body
        evil = next(e for e in feed.entries if e.link.endswith("/o/test-99"))
        assert "<script" not in evil.title


def test_feeds_speak_the_page_language_and_the_page_links_them_so(client: TestClient) -> None:
    from datetime import UTC, datetime

    page = client.get("/", params={"q": "Riga", "lang": "uk"}).text
    link = re.search(r'href="(/search\.rss\?[^"]*)" id="feed-link"', page).group(1).replace("&amp;", "&")
    assert "lang=uk" in link
    feed = feedparser.parse(client.get(link).content)
    assert not feed.bozo and feed.feed.language == "uk"
    assert feed.feed.title == "tilts: Riga" and feed.feed.subtitle == "Волонтерські можливості за збереженим пошуком"
    assert any("Подати заявку до" in e.description for e in feed.entries), [e.description for e in feed.entries]
    assert not any("deadline" in e.description for e in feed.entries)
    themes = {t.term for e in feed.entries for t in e.get("tags", [])}  # named, not keyed
    assert themes and "Тварини" in themes and "animals" not in themes, themes
    lv = feedparser.parse(client.get("/search.atom", params={"lang": "lv"}).content)
    assert lv.feed.title == "tilts: brīvprātīgā darba iespējas"
    atom_tags = [t for e in lv.entries for t in e.get("tags", [])]
    assert atom_tags and all(t.term != t.label for t in atom_tags)  # Atom: the key and its name
    empty = feedparser.parse(client.get("/search.rss", params={"q": "qqzzyxw", "understand": "false"}).content)
    assert empty.entries == [] and empty.feed.updated_parsed.tm_year == datetime.now(UTC).year  # not 2000


def test_control_characters_in_a_search_never_break_a_feed(client: TestClient) -> None:
    for kind in ("rss", "atom"):
        response = client.get(f"/search.{kind}", params={"q": "shelter\x00\x1b"})
        assert response.status_code == 200
        feed = feedparser.parse(response.content)
        assert not feed.bozo and feed.feed.title == "tilts: shelter"
        assert "Volunteer at an animal shelter in Tallinn" in [e.title for e in feed.entries]


def test_calendar_has_deadline_and_dates(client: TestClient) -> None:
    cal = Calendar.from_ical(client.get("/opportunities/lv-3.ics").content)
    events = {str(e["uid"]): e for e in cal.walk("VEVENT")}
    assert events["lv-3-deadline@tilts"].decoded("dtstart") == date(2027, 1, 10)
    assert events["lv-3-dates@tilts"].decoded("dtstart") == date(2027, 2, 1)


def test_pages_speak_four_languages_and_stay_inert(client: TestClient) -> None:
    assert 'lang="lv"' in client.get("/", params={"lang": "lv"}).text
    client.cookies.clear()
    ru = client.get("/", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert 'lang="ru"' in ru.text and "Языки, которые я знаю" in ru.text
    client.cookies.clear()
    uk = client.get("/", params={"q": "shelter"}, headers={"Accept-Language": "uk"})
    assert "Мова інтерфейсу" in uk.text
    page = client.get("/", params={"q": "shelter", "lang": "en"}).text
    # an attribute of a real tag (escaped text such as "&lt;a href=..." is harmless)
    script_link = re.compile(r"""<[^<>]*\b(?:href|src|action)\s*=\s*["']?\s*(?:javascript|data|vbscript):""",
                             re.IGNORECASE)
    assert "<script>alert(1)" not in page and "<img src=x" not in page and not script_link.search(page)
    assert "&lt;script&gt;alert(1)" in page  # shown as text
    detail = client.get("/o/test-99").text
    assert "<script>alert" not in detail and not script_link.search(detail)
    assert 'id="apply"' not in detail  # the Apply button would have carried javascript:alert(5)


def test_expired_listing_shows_no_apply_button(client: TestClient, backend: SearchBackend) -> None:
    past = make_opportunity(98, title="Old listing").model_copy(update={"deadline": date(2020, 1, 1)})
    backend.upsert_many([past])
    backend.refresh()
    assert 'id="apply"' not in client.get("/o/test-98").text
    assert 'id="apply"' in client.get("/o/lv-3").text
    assert 'id="apply"' not in client.get("/o/closed-1").text
