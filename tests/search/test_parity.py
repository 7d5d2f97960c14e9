"""One request set, two backends: SQLite FTS5 and real Elasticsearch must agree.

Filter-only requests: identical hits in identical order, identical totals,
cluster counts and facet counts. Text requests: each backend finds the
listings a user expects first (relevance, incl. inflected Latvian, Russian and
German forms), and the two top-5s overlap strongly.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from search.backends import SearchBackend, SearchRequest, open_backend
from tests.support.corpus import CITY, corpus

RIGA = CITY["Riga"][1:]

FILTER_REQUESTS: list[dict] = [
    {},
    {"collapse": False},
    {"country": ["LV"]},
    {"country": ["LV", "EE"], "theme": ["animals"]},
    {"country": ["LV", "DE"], "theme": ["animals", "youth"], "support": ["accommodation"], "age": 25},
    {"city": ["Riga"]},
    {"theme": ["environment"], "activity_type": ["volunteering"]},
    {"activity_type": ["traineeship", "exchange"]},
    {"duration_class": ["long_term"]},
    {"work_mode": ["remote"]},
    {"language": ["ru"]},
    {"required_language": ["de"]},
    {"programme": ["European Solidarity Corps"]},
    {"organisation": ["Org LV"]},
    {"support": ["accommodation"]},
    {"support": ["accommodation", "allowance"]},
    {"source": ["other"]},
    {"speaks": ["en"]},
    {"speaks": ["ru", "en"]},
    {"age": 17},
    {"age": 31},
    {"resident": "LV"},
    {"resident": "FR"},
    {"resident": "PL", "age": 25},
    {"deadline_from": date(2026, 12, 1), "deadline_to": date(2026, 12, 15)},
    {"start_from": date(2027, 1, 1)},
    {"lat": RIGA[0], "lon": RIGA[1], "within_km": 300},
    {"lat": RIGA[0], "lon": RIGA[1], "sort": "distance"},
    {"lat": RIGA[0], "lon": RIGA[1], "within_km": 1000, "sort": "distance", "collapse": False},
    {"lat": RIGA[0], "lon": RIGA[1], "within_km": 300, "country": ["LV", "EE"], "sort": "distance"},
    {"changed_since": "2026-11-02T12:00:00+00:00"},
    {"changed_since": "2026-11-02T12:00:00", "theme": ["animals"]},
    {"sort": "deadline"},
    {"sort": "deadline", "country": ["LV", "DE"]},
    {"status": ["open", "closed"]},
    {"status": ["closed"]},
    {"theme": ["youth"], "collapse": True},
    {"theme": ["youth"], "collapse": False},
    {"size": 3, "page": 2},
    {"size": 0},
]

# query -> ids that must all be in the top 3 (on both backends)
RELEVANCE: list[tuple[str, set[str]]] = [
    ("brīvprātīgais darbs", {"lv-1", "lv-2"}),
    ("brīvprātīgo darbu", {"lv-1", "lv-2"}),
    ("dzīvnieku patversme", {"lv-1"}),
    ("волонтёр", {"ru-1", "ru-2"}),
    ("волонтёры", {"ru-1", "ru-2"}),
    ("Tierheim", {"de-1"}),
    ("Freiwillige", {"de-1", "de-3"}),
    ("animal shelter", {"en-1"}),
    ("food bank", {"en-2"}),
    ("riga", {"lv-1", "ru-1", "lv-4"}),
    ("Hamburg Tafel", {"de-3"}),
    ("solidarity corps", {"en-3"}),
    ("refugees", {"en-4"}),
    ("media literacy", {"dup-a"}),
]


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory, es_url: str) -> Iterator[dict[str, SearchBackend]]:
    tmp: Path = tmp_path_factory.mktemp("parity")
    pair = {
        "sqlite": open_backend(f"sqlite:///{tmp / 's.sqlite3'}"),
        "elasticsearch": open_backend(es_url, alias="tilts-parity-test"),
    }
    docs = corpus()
    for b in pair.values():
        if b.name == "elasticsearch":
            b.es.indices.delete(index="tilts-parity-test-v*", ignore_unavailable=True)  # type: ignore[attr-defined]
        b.setup()
        assert b.upsert_many(docs) == []
        b.refresh()
    yield pair
    pair["elasticsearch"].es.indices.delete(index="tilts-parity-test-v*")  # type: ignore[attr-defined]
    for b in pair.values():
        b.close()


@pytest.mark.parametrize("params", FILTER_REQUESTS, ids=[str(p) for p in FILTER_REQUESTS])
def test_filter_requests_agree_exactly(backends: dict[str, SearchBackend], params: dict) -> None:
    req = SearchRequest(**params)
    sq, es = (backends[n].search(req) for n in ("sqlite", "elasticsearch"))
    assert [h.id for h in sq.hits] == [h.id for h in es.hits]
    assert (sq.total, sq.clusters) == (es.total, es.clusters)
    assert sq.facets == es.facets
    assert (sq.next_cursor is None) == (es.next_cursor is None)
    if req.sort == "distance":
        for a, b in zip(sq.hits, es.hits, strict=True):
            assert a.distance_km == pytest.approx(b.distance_km, abs=0.05)


def test_filter_requests_are_not_vacuous(backends: dict[str, SearchBackend]) -> None:
    """The agreement above is about real answers: the filters narrow the
    corpus to different, non-empty sets."""
    sizes = {str(p): backends["sqlite"].search(SearchRequest(**{**p, "size": 100})).total
             for p in FILTER_REQUESTS}
    assert sum(1 for n in sizes.values() if n == 0) <= 1
    assert len(set(sizes.values())) >= 10
    sq = backends["sqlite"]
    assert {h.id for h in sq.search(SearchRequest(speaks=["en"], size=100)).hits}.isdisjoint(
        {"de-1", "de-2", "ru-1", "lv-1", "en-5", "pl-1"})
    assert "lv-4" in {h.id for h in sq.search(SearchRequest(speaks=["en"], size=100)).hits}
    resident_fr = {h.id for h in sq.search(SearchRequest(resident="FR", size=100)).hits}
    assert "en-3" not in resident_fr and "lv-3" not in resident_fr and "lv-1" in resident_fr
    youth = sq.search(SearchRequest(theme=["youth"], size=100))
    assert youth.total == 4 and youth.clusters == 3 and len(youth.hits) == 3


@pytest.mark.parametrize("name", ["sqlite", "elasticsearch"])
@pytest.mark.parametrize(("query", "expected"), RELEVANCE, ids=[q for q, _ in RELEVANCE])
def test_relevance(backends: dict[str, SearchBackend], name: str, query: str, expected: set[str]) -> None:
    hits = [h.id for h in backends[name].search(SearchRequest(q=query, collapse=False)).hits]
    assert expected <= set(hits[:3]), hits


TOPIC_REQUESTS: list[dict] = [
    {"topic": ["animal_shelter"]},
    {"topic": ["elderly"]},
    {"topic": ["food_bank", "homeless"]},
    {"topic": ["children", "elderly"], "country": ["LV", "DE", "RU"]},
    {"q": "food qqzzyxw", "any_words": True},
    {"q": "shelter animals volunteers", "any_words": True},
]


@pytest.mark.parametrize("params", TOPIC_REQUESTS, ids=[str(p) for p in TOPIC_REQUESTS])
def test_topic_and_any_word_requests_find_the_same_listings(backends: dict[str, SearchBackend],
                                                             params: dict) -> None:
    req = SearchRequest(**params, collapse=False, size=100)
    sq, es = (backends[n].search(req) for n in ("sqlite", "elasticsearch"))
    assert sq.total > 0
    if not req.any_words:  # Elasticsearch also tolerates typos in free words
        assert {h.id for h in sq.hits} == {h.id for h in es.hits}
        assert sq.facets == es.facets
    assert sq.hits[0].id in {h.id for h in es.hits[:3]}  # what ranks first on one is near the top on the other


def test_text_top5_agreement(backends: dict[str, SearchBackend]) -> None:
    overlaps = []
    for query, _ in RELEVANCE:
        tops = [{h.id for h in backends[n].search(SearchRequest(q=query, size=5)).hits}
                for n in ("sqlite", "elasticsearch")]
        overlaps.append(len(tops[0] & tops[1]) / max(1, len(tops[0] | tops[1])))
    assert sum(overlaps) / len(overlaps) >= 0.6, overlaps


@pytest.mark.parametrize("name", ["sqlite", "elasticsearch"])
def test_typo_highlight_and_hostile_text(backends: dict[str, SearchBackend], name: str) -> None:
    b = backends[name]
    res = b.search(SearchRequest(q="shelter"))
    first = res.hits[0]
    assert "<mark>" in first.highlight.get("title", "") + first.highlight.get("description", "")
    for hostile in ['"unclosed', "a AND OR", "title:(x", "*", "NEAR(", "<script>", "-", "~~~"]:
        b.search(SearchRequest(q=hostile))  # never raises


@pytest.mark.parametrize("name", ["sqlite", "elasticsearch"])
def test_typos_are_tolerated(backends: dict[str, SearchBackend], name: str, request: pytest.FixtureRequest) -> None:
    b = backends[name]
    if not b.capabilities.typo_tolerance:
        request.applymarker(pytest.mark.xfail(reason=f"{name}: no typo tolerance", strict=True))
    hits = [h.id for h in b.search(SearchRequest(q="volunter sheltr")).hits]
    assert "en-1" in hits[:3]


@pytest.mark.parametrize("name", ["sqlite", "elasticsearch"])
def test_more_like_this_suggest_and_cursor(backends: dict[str, SearchBackend], name: str) -> None:
    b = backends[name]
    # more like this: same language and subject first, never the listing itself or its duplicates
    assert [h.id for h in b.search(SearchRequest(like="lv-1")).hits][:1] == ["lv-2"]
    assert [h.id for h in b.search(SearchRequest(like="de-1")).hits][:1] == ["de-3"]
    assert "ru-1" in [h.id for h in b.search(SearchRequest(like="ru-2")).hits]
    assert not {"dup-a", "dup-b"} & {h.id for h in b.search(SearchRequest(like="dup-a", collapse=False)).hits}
    assert b.search(SearchRequest(like="no-such-id")).hits == []
    assert any(t.startswith("Volunteer at") for t in b.suggest("volunt"))
    assert b.suggest("Tier") == ["Freiwilligendienst im Tierheim Hamburg"]
    seen: list[str] = []
    req = SearchRequest(size=4, collapse=False)
    while True:
        res = b.search(req)
        seen += [h.id for h in res.hits]
        if not res.next_cursor:
            break
        req = SearchRequest(size=4, collapse=False, cursor=res.next_cursor)
    everything = [h.id for h in b.search(SearchRequest(size=100, collapse=False)).hits]
    assert seen == everything and len(seen) == 19
