"""The two query builders as pure functions: a SearchRequest in, the
Elasticsearch ``_msearch`` body or the SQLite statements out. No services:
the SQL runs on an in-memory index where what it selects is the point."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from pipeline.events import Eligibility, LanguageRequirement
from search.backends import SearchResult
from search.backends.elastic.query import build_searches
from search.backends.sqlite import schema, sql, writes
from search.query import run
from search.request import SearchRequest, encode_cursor
from tests.support.opportunities import make_opportunity

# ------------------------------------------------------------ Elasticsearch


def page_body(request: SearchRequest, **kw: Any) -> dict[str, Any]:
    """The search for the page of hits (the first of the _msearch pairs)."""
    return build_searches(request, **kw)[1]


def count_bodies(request: SearchRequest) -> list[dict[str, Any]]:
    return build_searches(request)[3::2]


def filters(body: dict[str, Any]) -> list[dict[str, Any]]:
    return body["query"]["bool"]["filter"]  # type: ignore[no-any-return]


def test_es_country_filter_is_a_terms_filter_on_the_country_field() -> None:
    body = page_body(SearchRequest(country=["lv", "EE"]))
    assert {"terms": {"countries": ["LV", "EE"]}} in filters(body)
    assert {"terms": {"status": ["open"]}} in filters(body)  # open listings only, by default


def test_es_support_needs_every_selected_item() -> None:
    body = page_body(SearchRequest(support=["accommodation", "food"]))
    assert {"bool": {"filter": [{"term": {"support_offered": "accommodation"}},
                                {"term": {"support_offered": "food"}}]}} in filters(body)


def test_es_resident_keeps_listings_with_no_residence_restriction() -> None:
    """Only listings restricted to other countries are left out: the filter
    excludes "has residence countries, none of them mine", nothing else."""
    (clause,) = filters(page_body(SearchRequest(resident="LV")))[1:]
    (excluded,) = clause["bool"]["must_not"]
    assert excluded["bool"]["filter"] == {"exists": {"field": "eligibility.residence_countries"}}
    assert excluded["bool"]["must_not"] == {"term": {"eligibility.residence_countries": "LV"}}


def test_es_age_excludes_only_listings_whose_limits_rule_it_out() -> None:
    (clause,) = filters(page_body(SearchRequest(age=17)))[1:]
    assert clause["bool"]["must_not"] == [{"range": {"eligibility.age_min": {"gt": 17}}},
                                          {"range": {"eligibility.age_max": {"lt": 17}}}]


def test_es_speaks_reads_alternatives_by_a_regexp_within_its_size_limit() -> None:
    """Listings without alternatives keep the ``terms`` exclusion; those with
    them (``required_groups``) are excluded by a requirement of unspoken
    languages only, a regexp Elasticsearch accepts (index.max_regex_length)."""
    (clause,) = filters(page_body(SearchRequest(speaks=["en", "uk"])))[1:]
    plain, alternatives = clause["bool"]["must_not"]
    others = plain["bool"]["filter"]["terms"]["required_languages"]
    assert "en" not in others and "uk" not in others and "ru" in others
    assert plain["bool"]["must_not"] == {"exists": {"field": "required_groups"}}
    pattern = alternatives["regexp"]["required_groups"]["value"]
    assert re.fullmatch(pattern, "|ru|de") and re.fullmatch(pattern, "|de")
    assert not re.fullmatch(pattern, "|en|ru") and not re.fullmatch(pattern, "|ru|uk")
    assert len(filters(page_body(SearchRequest(speaks=["xx"])))[1]["bool"]["must_not"][1]["regexp"][
        "required_groups"]["value"]) < 1000


def test_es_text_matches_every_word_as_typed_or_with_typos_and_is_highlighted() -> None:
    body = page_body(SearchRequest(q="  food bank "))
    (text,) = body["query"]["bool"]["must"]
    as_typed, fuzzy = text["bool"]["should"]
    assert as_typed["simple_query_string"]["query"] == "food bank"
    assert as_typed["simple_query_string"]["default_operator"] == "and"
    assert fuzzy["multi_match"]["operator"] == "and" and fuzzy["multi_match"]["fuzziness"]
    assert "highlight" in body
    assert body["sort"][0] == "_score"


def test_es_without_text_everything_matches_newest_first() -> None:
    body = page_body(SearchRequest())
    assert body["query"]["bool"]["must"] == [{"match_all": {}}]
    assert "highlight" not in body
    assert body["sort"] == [{"provenance.first_seen": {"order": "desc"}}, {"id": "asc"}]


@pytest.mark.parametrize("params", [{"sort": "deadline"}, {"sort": "newest"}, {"q": "x"},
                                    {"sort": "distance", "lat": 56.9, "lon": 24.1}])
def test_es_every_sort_ends_with_the_id(params: dict[str, Any]) -> None:
    assert page_body(SearchRequest(**params))["sort"][-1] == {"id": "asc"}


def test_es_deadline_sort_puts_listings_without_one_last() -> None:
    assert page_body(SearchRequest(sort="deadline"))["sort"][0] == {"deadline": {"order": "asc", "missing": "_last"}}


def test_es_a_selected_facet_is_counted_without_its_own_selection() -> None:
    request = SearchRequest(country=["LV"], theme=["animals"])
    everything, *own = count_bodies(request)
    assert "country" not in everything["aggs"] and "theme" not in everything["aggs"]
    assert {"city", "support", "clusters"} <= set(everything["aggs"])
    by_facet = {next(iter(body["aggs"])): filters(body) for body in own}
    assert {"terms": {"themes": ["animals"]}} in by_facet["country"]
    assert not any("countries" in str(f) for f in by_facet["country"])
    assert {"terms": {"countries": ["LV"]}} in by_facet["theme"]
    assert all(body["size"] == 0 for body in [everything, *own])


def test_es_pages_from_the_offset_or_after_the_cursor() -> None:
    assert page_body(SearchRequest(page=3, size=10))["from"] == 20
    after = encode_cursor({"a": [1700000000000, "x-1"]})
    uncollapsed = page_body(SearchRequest(cursor=after, collapse=False))
    assert uncollapsed["search_after"] == [1700000000000, "x-1"] and "from" not in uncollapsed
    collapsed = page_body(SearchRequest(cursor=encode_cursor({"o": 40})))
    assert collapsed["from"] == 40 and collapsed["collapse"] == {"field": "cluster_id"}


def test_es_more_like_this_leaves_out_the_listing_and_its_duplicates() -> None:
    body = page_body(SearchRequest(like="lv-1"), like_cluster="cluster-7")
    assert body["query"]["bool"]["must"][0]["more_like_this"]["like"] == [{"_index": "opportunities", "_id": "lv-1"}]
    assert body["query"]["bool"]["must_not"] == [{"term": {"id": "lv-1"}}, {"term": {"cluster_id": "cluster-7"}}]


def test_relaxing_drops_what_was_understood_from_the_query() -> None:
    """"sport Bulgaria" finds nothing as understood (theme and country): the
    theme is relaxed, the place the person named is kept."""
    built: list[list[dict[str, Any]]] = []

    def search(request: SearchRequest) -> SearchResult:
        found = filters(page_body(request))
        built.append(found)
        total = 0 if {"terms": {"themes": ["sport"]}} in found else 3
        return SearchResult(total=total, clusters=total, hits=[], facets={}, page=1, size=20)

    result = run(search, SearchRequest(q="sport Bulgaria"))
    assert result.relaxed == ["theme"] and result.total == 3
    assert {"terms": {"countries": ["BG"]}} in built[-1]
    assert not any("themes" in str(f) for f in built[-1])


# ------------------------------------------------------------ SQLite


@pytest.fixture
def index() -> Iterator[sqlite3.Connection]:
    """An in-memory index: test-1 (LV, open to all), test-2 (EE, residents of
    EE only), test-3 (LV, residents of LV or LT, aged 18-30)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    schema.create(conn)
    docs = [make_opportunity(1, country="LV", title="Food bank helper"),
            make_opportunity(2, country="EE", city="Tartu"),
            make_opportunity(3, country="LV", title="Forest planting")]
    docs[1].eligibility = Eligibility(residence_countries=["EE"])
    docs[2].eligibility = Eligibility(residence_countries=["LV", "LT"], age_min=18, age_max=30)
    writes.insert_all(conn, docs, replace=False)
    yield conn
    conn.close()


def selected(conn: sqlite3.Connection, request: SearchRequest) -> list[str]:
    """The ids the request's match set holds, in the request's order."""
    built = sql.build_search(request)
    assert built is not None
    rows = conn.execute(f"SELECT id FROM ({built.matches[0]}) ORDER BY {built.order}", built.matches[1])
    return [r[0] for r in rows]


def test_sql_country_filter_selects_by_the_country_facet(index: sqlite3.Connection) -> None:
    built = sql.build_search(SearchRequest(country=["LV"]))
    assert built is not None
    assert "country" in built.matches[1] and "LV" in built.matches[1]
    assert "?" in built.matches[0] and "'LV'" not in built.matches[0]  # values are parameters, never SQL
    assert sorted(selected(index, SearchRequest(country=["LV"]))) == ["test-1", "test-3"]


def test_sql_resident_keeps_listings_with_no_residence_restriction(index: sqlite3.Connection) -> None:
    assert sorted(selected(index, SearchRequest(resident="LV"))) == ["test-1", "test-3"]
    assert sorted(selected(index, SearchRequest(resident="FR"))) == ["test-1"]


def test_sql_age_keeps_listings_without_limits(index: sqlite3.Connection) -> None:
    assert sorted(selected(index, SearchRequest(age=40))) == ["test-1", "test-2"]
    assert sorted(selected(index, SearchRequest(age=20))) == ["test-1", "test-2", "test-3"]


def test_sql_text_is_a_quoted_prefix_and_stem_match(index: sqlite3.Connection) -> None:
    match = sql.fts_query('food "bank" NEAR(')
    assert match is not None
    assert match.count(" AND ") == 2  # every word must match
    assert '"food"*' in match and '"near"*' in match and "stems :" in match
    assert sql.fts_query("-- * !") is None
    assert sql.build_search(SearchRequest(q="--")) is None  # nothing can match
    assert selected(index, SearchRequest(q="plant")) == ["test-3"]


def test_sql_a_text_match_near_a_place_is_run_once_not_per_place(index: sqlite3.Connection) -> None:
    """FTS5 asked again for every place's rowid took 10 s for "senioren hamburg"
    over the real corpus: the match must be materialized once, whatever order
    SQLite chooses for the join."""
    for request in (SearchRequest(q="food", lat=56.95, lon=24.11, within_km=30.0),
                    SearchRequest(topic=["elderly"], lat=56.95, lon=24.11, within_km=30.0),
                    SearchRequest(q="food", rank_words=True, lat=56.95, lon=24.11, within_km=30.0)):
        built = sql.build_search(request)
        assert built is not None
        plan = [row[3] for row in index.execute("EXPLAIN QUERY PLAN " + built.matches[0], built.matches[1])]
        per_row = [step for step in plan if "VIRTUAL TABLE INDEX" in step and ":=" in step]
        assert per_row == [], plan


def test_sql_speaks_strikes_single_requirements_and_reads_alternatives() -> None:
    """``,de,en|ru,``: German, and English or Russian. A listing without
    alternatives is read by replace() as before; one with them by speaks_met."""
    doc = make_opportunity(9)
    doc.eligibility = Eligibility(languages=[
        LanguageRequirement(language="RU", one_of=2), LanguageRequirement(language="de"),
        LanguageRequirement(language="en", one_of=2), LanguageRequirement(language="lv", required=False)])
    assert writes.required_column(doc) == ",de,en|ru,"
    assert writes.required_column(make_opportunity(10)) == ","
    assert sql.speaks_met(",de,en|ru,", ",ru,de,") and sql.speaks_met(",en|ru,", ",en,")
    assert not sql.speaks_met(",de,en|ru,", ",en,uk,") and not sql.speaks_met(",en|ru,", ",uk,")
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.create_function("speaks_met", 2, sql.speaks_met, deterministic=True)
    schema.create(conn)
    writes.insert_all(conn, [doc, make_opportunity(10), make_opportunity(11)], replace=False)
    conn.execute("UPDATE docs SET required_languages = ',de,' WHERE id = 'test-11'")
    assert sorted(selected(conn, SearchRequest(speaks=["en"]))) == ["test-10"]
    assert sorted(selected(conn, SearchRequest(speaks=["en", "de"]))) == ["test-10", "test-11", "test-9"]
    assert sorted(selected(conn, SearchRequest(speaks=["de"]))) == ["test-10", "test-11"]


def test_sql_sorts_end_with_the_id() -> None:
    for params in ({}, {"sort": "deadline"}, {"q": "x"}, {"sort": "distance", "lat": 1.0, "lon": 2.0}):
        built = sql.build_search(SearchRequest(**params))
        assert built is not None and built.order.endswith("id ASC")
    built = sql.build_search(SearchRequest(sort="deadline"))
    assert built is not None and built.order.startswith("deadline IS NULL")  # no deadline: last


def test_sql_a_selected_facet_is_counted_without_its_own_selection(index: sqlite3.Connection) -> None:
    built = sql.build_search(SearchRequest(country=["EE"], theme=["community"]))
    assert built is not None and set(built.own_counts) == {"country", "theme"}
    members, args = built.own_counts["country"]
    assert "EE" not in args and "community" in args
    ns = {r[0] for r in index.execute(members, args)}
    assert len(ns) == 3  # every country's listings, for the country counts


def test_sql_more_like_this_leaves_out_the_listing_and_its_duplicates() -> None:
    liked = sql.Liked("lv-1", "cluster-7", '{title} : ("shelter")')
    built = sql.build_search(SearchRequest(like="lv-1"), liked=liked)
    assert built is not None and built.match == liked.match
    assert built.matches[1][-2:] == ["lv-1", "cluster-7"]
    assert sql.build_search(SearchRequest(like="lv-1")) is None  # the listing is not in the index
