"""SearchRequest → Elasticsearch queries: pure functions, no client.

:func:`build_searches` is the ``_msearch`` body of one search: the page of
hits, then the facet counts; :func:`base_filters` the filters that narrow hits
and counts alike.
"""

from __future__ import annotations

from typing import Any

import pycountry

from search.backends.base import FACET_SIZE
from search.backends.elastic.mapping import DERIVED_FIELDS, FACET_FIELDS, LANGUAGE_ANALYZERS
from search.request import ALL_OF_FACETS, FACETS, SearchRequest, Sort, decode_cursor

# Every ISO 639-1 code: "languages I speak" excludes listings requiring any other.
ALL_LANGUAGES = sorted({lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2")})
_TEXT_FIELDS = [
    "title^5", "i18n_title.*^5", "organisation.name^2", "places^2", "summary^2", "description_text",
    "i18n_text.*", "i18n_names.*",
]
# More like this: the listing-language fields drop stop words and match inflections.
_LIKE_FIELDS = ["title", "description_text", *(f"i18n_{k}.{lang}" for k in ("title", "text")
                                              for lang in LANGUAGE_ANALYZERS)]
_FUZZY_FIELDS = ["title^3", "organisation.name", "places", "description_text"]
_HIGHLIGHT = {
    "encoder": "html", "pre_tags": ["<mark>"], "post_tags": ["</mark>"], "require_field_match": False,
    "fields": {
        "title": {"number_of_fragments": 0},
        "description_text": {"fragment_size": 180, "number_of_fragments": 1},
    },
}


def _facet_filter(facet: str, values: list[str]) -> dict[str, Any]:
    field = FACET_FIELDS[facet]
    if facet in ALL_OF_FACETS:
        return {"bool": {"filter": [{"term": {field: v}} for v in values]}}
    return {"terms": {field: values}}


def _excluding(*clauses: dict[str, Any]) -> dict[str, Any]:
    """Documents matching none of ``clauses``.

    The eligibility filters are written as exclusions ("not for this age",
    "only for residents of other countries"): most listings have no such
    limit, so Lucene subtracts a small set from the hits instead of testing
    "limit satisfied or field missing" on every document, which at 1M
    listings was most of such a search's time.
    """
    return {"bool": {"must_not": list(clauses)}}


def speaks_filter(speaks: list[str]) -> dict[str, Any] | None:
    """Listings whose every language requirement a person speaking
    ``speaks`` meets. Most listings have no alternatives: they are excluded
    when they require a language of the others (``terms``, fast). A listing
    with alternatives has ``required_groups`` ("|de", "|en|ru"): excluded
    when a requirement is made of the others' languages only (a ``regexp``
    over that small field's terms; no scripts)."""
    others = [code for code in ALL_LANGUAGES if code not in speaks]
    if not others:
        return None
    unmet = "(\\|(" + "|".join(others) + "))+"
    return _excluding(
        {"bool": {"filter": {"terms": {"required_languages": others}},
                  "must_not": {"exists": {"field": "required_groups"}}}},
        {"regexp": {"required_groups": {"value": unmet, "flags": "NONE"}}},
    )


def base_filters(request: SearchRequest) -> list[dict[str, Any]]:
    """The non-facet filters: they narrow hits and facet counts alike."""
    out: list[dict[str, Any]] = []
    if request.status:
        out.append({"terms": {"status": request.status}})
    if request.age is not None:  # age_min and age_max hold one value each
        out.append(_excluding({"range": {"eligibility.age_min": {"gt": request.age}}},
                              {"range": {"eligibility.age_max": {"lt": request.age}}}))
    if request.resident:  # listed countries, none of them the resident's
        field = "eligibility.residence_countries"
        out.append(_excluding({"bool": {"filter": {"exists": {"field": field}},
                                        "must_not": {"term": {field: request.resident}}}}))
    if request.speaks and (speaks := speaks_filter(request.speaks)):
        out.append(speaks)
    for field, low, high in (("deadline", request.deadline_from, request.deadline_to),
                             ("start_date", request.start_from, request.start_to)):
        if low or high:
            bounds = {k: v.isoformat() for k, v in (("gte", low), ("lte", high)) if v}
            out.append({"range": {field: bounds}})
    if request.changed_since is not None:
        out.append({"bool": {"should": [
            {"range": {"provenance.first_seen": {"gte": request.changed_since.isoformat()}}},
            {"range": {"updated_date": {"gte": request.changed_since.date().isoformat()}}},
        ], "minimum_should_match": 1}})
    if request.within_km is not None:
        out.append({"geo_distance": {"distance": f"{request.within_km}km",
                                     "locations.geo": {"lat": request.lat, "lon": request.lon}}})
    return out


def _sort(request: SearchRequest) -> list[Any]:
    sort = request.effective_sort
    if sort == Sort.relevance:
        keys: list[Any] = ["_score"]
    elif sort == Sort.deadline:
        keys = [{"deadline": {"order": "asc", "missing": "_last"}}]
    elif sort == Sort.distance:
        keys = [{"_geo_distance": {"locations.geo": {"lat": request.lat, "lon": request.lon},
                                   "order": "asc", "unit": "km", "mode": "min", "distance_type": "arc"}}]
    else:
        keys = [{"provenance.first_seen": {"order": "desc"}}]
    return [*keys, {"id": "asc"}]


def _query(must: list[dict[str, Any]], filters: list[dict[str, Any]],
           must_not: list[dict[str, Any]], should: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``should``: what only ranks (the listings matching none of it stay)."""
    query: dict[str, Any] = {"bool": {"must": must or [{"match_all": {}}], "filter": filters}}
    if must_not:
        query["bool"]["must_not"] = must_not
    if should:
        query["bool"]["should"] = should
    return query


def _terms(facet: str, clusters: bool) -> dict[str, Any]:
    """A facet's counts: of listings, or (``clusters``: the search collapses
    duplicates) of clusters, so that a value's count is the number of results
    choosing it shows. Cardinality is exact far beyond a facet's counts below
    its precision threshold, and close above it."""
    if not clusters:
        return {"terms": {"field": FACET_FIELDS[facet], "size": FACET_SIZE}}
    order = [{"clusters": "desc"}, {"_key": "asc"}]
    return {"terms": {"field": FACET_FIELDS[facet], "size": FACET_SIZE, "order": order},
            "aggs": {"clusters": {"cardinality": {"field": "cluster_id", "precision_threshold": 3000}}}}


def _text(text: str, any_words: bool = False) -> dict[str, Any]:
    """Every word of ``text`` (``any_words``: one of them, those matching more
    ranked first), as typed (``simple_query_string``: user input can
    never inject syntax or make the query fail) over the language-neutral and
    the listing-language fields, or within an edit or two (a fuzzy ``multi_match``)."""
    return {"bool": {"should": [
        {"simple_query_string": {
            "query": text, "fields": _TEXT_FIELDS, "default_operator": "or" if any_words else "and",
            "flags": "AND|OR|NOT|PHRASE|PREFIX|WHITESPACE|ESCAPE",
        }},
        {"multi_match": {
            "query": text, "fields": _FUZZY_FIELDS, "operator": "or" if any_words else "and",
            "fuzziness": "AUTO:4,7", "prefix_length": 1,
        }},
    ], "minimum_should_match": 1}}


_TOPIC_FIELDS = ["title^5", "organisation.name", "summary^2", "description_text"]


def _topics(topic_ids: list[str]) -> dict[str, Any]:
    """Any term of any of the topics (:mod:`search.understanding.topics`) in
    the title, organisation or description: ``"older people" | senior* | музе*``,
    analysed by the fields' own analyzer as the listings were."""
    from search.understanding.topics import topic_terms

    terms = [t.text + "*" if t.prefix else f'"{t.text}"' for topic_id in topic_ids for t in topic_terms(topic_id)]
    return {"simple_query_string": {
        "query": " | ".join(dict.fromkeys(terms)), "fields": _TOPIC_FIELDS, "default_operator": "or",
        "flags": "OR|PHRASE|PREFIX|WHITESPACE",
    }}


def _like(doc_id: str, alias: str, like_cluster: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """More like this listing: the query, and the listing and its duplicates left out."""
    query: dict[str, Any] = {"more_like_this": {
        "fields": _LIKE_FIELDS, "like": [{"_index": alias, "_id": doc_id}],
        "min_term_freq": 1, "min_doc_freq": 1, "max_query_terms": 25, "min_word_length": 3,
        "minimum_should_match": "10%",
    }}
    must_not: list[dict[str, Any]] = [{"term": {"id": doc_id}}]
    if like_cluster:
        must_not.append({"term": {"cluster_id": like_cluster}})
    return query, must_not


def _page(request: SearchRequest, query: dict[str, Any]) -> dict[str, Any]:
    """The search for the page of hits: sorted, from the page or after the cursor, collapsed, highlighted."""
    body: dict[str, Any] = {
        "query": query,
        "size": request.size,
        "track_total_hits": True,
        "sort": _sort(request),
        "_source": {"excludes": DERIVED_FIELDS},
    }
    state = decode_cursor(request.cursor) if request.cursor else {}
    if "a" in state and not request.collapse:
        body["search_after"] = state["a"]
    else:
        body["from"] = request.offset()
    if request.collapse:
        body["collapse"] = {"field": "cluster_id"}
    if request.text or request.topic:
        body["highlight"] = _HIGHLIGHT
    return body


def build_searches(request: SearchRequest, *, alias: str = "opportunities",
                   like_cluster: str | None = None) -> list[dict[str, Any]]:
    """SearchRequest → the ``_msearch`` body of one search (pure; the facet
    logic lives here): the page of hits, then the counts.

    Text uses ``simple_query_string`` (user input can never inject syntax or
    make the query fail) over the language-neutral and the listing-language
    fields, or a fuzzy ``multi_match`` (typos).

    Every facet counts the hits of all selections but its own, so a facet
    with a selection still shows its other values. The counts are ``size: 0``
    searches of their own, which Elasticsearch's shard request cache keeps
    (the same counts asked again come from it until the next refresh that
    changed the index, never stale), and which run in parallel on the search
    thread pool:

    - one with every selection in its query, for the facets with nothing
      selected and the cluster count;
    - one per facet with a selection, with the other selections in its query.

    Each puts the selections in its query, where they lead Lucene's
    conjunction, instead of testing every hit against them in ``filter``
    aggregations, which at 1M listings was most of a broad search's time.

    The page of hits asks for the request cache too (Elasticsearch caches a
    ``size`` > 0 search only when asked): a search asked again, such as a
    popular start page, skips its query phase until the next refresh that
    changed the index; the fetch phase (sources, highlights) still runs.
    """
    must: list[dict[str, Any]] = []
    must_not: list[dict[str, Any]] = []
    should: list[dict[str, Any]] = []
    if request.text:
        if request.rank_words:
            should.append(_text(request.text, any_words=True))
        else:
            must.append(_text(request.text, request.any_words))
    if request.topic:
        must.append(_topics(request.topic))
    if request.like:
        like, must_not = _like(request.like, alias, like_cluster)
        must.append(like)
    facet_filters = {facet: _facet_filter(facet, values) for facet, values in request.filters().items()}
    base = base_filters(request)
    query = _query(must, base + list(facet_filters.values()), must_not, should)
    aggs: dict[str, Any] = {facet: _terms(facet, request.collapse) for facet in FACETS if facet not in facet_filters}
    aggs["clusters"] = {"cardinality": {"field": "cluster_id", "precision_threshold": 40000}}
    counts = [{"query": query, "aggs": aggs}]
    for facet in facet_filters:
        others = [f for name, f in facet_filters.items() if name != facet]
        counts.append({"query": _query(must, base + others, must_not),
                       "aggs": {facet: _terms(facet, request.collapse)}})
    searches: list[dict[str, Any]] = [{"index": alias, "request_cache": True}, _page(request, query)]
    for count in counts:
        searches += [{"index": alias, "request_cache": True}, {**count, "size": 0, "track_total_hits": False}]
    return searches
