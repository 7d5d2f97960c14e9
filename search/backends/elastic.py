"""The Elasticsearch backend (official client, 8.x, matched to the server).

Index lifecycle, as in elasticsearch-py's alias migration example:
``setup()`` puts the index template ``<alias>-template`` for ``<alias>-v*``
and, when the alias does not exist yet, creates ``<alias>-v1`` with the alias
``<alias>`` pointing at it. Reads and writes go through the alias, so a later
reindex can build ``<alias>-v2`` and swap the alias atomically.

Bulk writes use ``helpers.streaming_bulk`` with retries and backoff on 429;
a document the server rejects for good (4xx) is returned to the caller for the
dead-letter topic, a connection failure raises :class:`SearchUnavailable` so
the indexer commits nothing and retries.
"""

from __future__ import annotations

from typing import Any

import pycountry
from elasticsearch import ApiError, BadRequestError, Elasticsearch, NotFoundError, TransportError, helpers

from pipeline.events import Opportunity
from search.backends.base import (
    ALL_OF_FACETS,
    FACETS,
    SUPPORT_ITEMS,
    DocumentRejected,
    SearchHit,
    SearchRequest,
    SearchResult,
    SearchUnavailable,
    Sort,
    decode_cursor,
    encode_cursor,
    facet_values,
    place_text,
)

# Facet name -> indexed keyword field.
FACET_FIELDS = {
    "country": "countries",
    "city": "cities",
    "theme": "themes",
    "activity_type": "activity_type",
    "duration_class": "duration_class",
    "work_mode": "work_mode",
    "language": "language",
    "required_language": "required_languages",
    "programme": "programme",
    "organisation": "organisation.name.raw",
    "support": "support_offered",
    "source": "source_id",
}
# Listing language -> the analyzer of its language fields (analysis-common
# names; `tilts services up` provides them on the Maven test distribution).
# Polish and Ukrainian need plugins (analysis-stempel, analysis-ukrainian) the
# default image lacks: their listings use the language-neutral fields only.
LANGUAGE_ANALYZERS = {
    "lv": "latvian", "en": "english", "ru": "russian", "de": "german", "fr": "french",
    "es": "spanish", "it": "italian", "lt": "lithuanian", "et": "estonian",
}
# Every ISO 639-1 code: "languages I speak" excludes listings requiring any other.
ALL_LANGUAGES = sorted({lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2")})

_KEYWORD = {"type": "keyword"}
_DATE = {"type": "date"}
_FOLDED = {"type": "text", "analyzer": "tilts_folded"}

ANALYSIS: dict[str, Any] = {
    "analyzer": {
        # Language-neutral: every listing, any language, accents folded ("Riga" finds "Rīga").
        "tilts_folded": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "asciifolding"]},
        "tilts_autocomplete": {
            "type": "custom", "tokenizer": "standard",
            "filter": ["lowercase", "asciifolding", "tilts_edge"],
        },
    },
    "filter": {"tilts_edge": {"type": "edge_ngram", "min_gram": 1, "max_gram": 20}},
}

MAPPINGS: dict[str, Any] = {
    # Fields not listed are kept in _source but not indexed: a new event field
    # never breaks indexing, and a mapping change is a reindex, not an outage.
    "dynamic": False,
    "properties": {
        "id": _KEYWORD,
        "cluster_id": _KEYWORD,
        "source_id": _KEYWORD,
        "programme": _KEYWORD,
        "title": {
            **_FOLDED,
            "fields": {
                "raw": {"type": "keyword", "ignore_above": 512},
                "suggest": {"type": "text", "analyzer": "tilts_autocomplete", "search_analyzer": "tilts_folded"},
            },
        },
        "summary": _FOLDED,
        "places": _FOLDED,
        "description_text": _FOLDED,
        "description_html": {"type": "text", "index": False},
        # The listing's own language, analysed by that language's analyzer.
        "i18n_title": {"properties": {k: {"type": "text", "analyzer": a} for k, a in LANGUAGE_ANALYZERS.items()}},
        "i18n_text": {"properties": {k: {"type": "text", "analyzer": a} for k, a in LANGUAGE_ANALYZERS.items()}},
        "language": _KEYWORD,
        "organisation": {
            "properties": {
                "name": {**_FOLDED, "fields": {"raw": {"type": "keyword", "ignore_above": 256}}},
                "identifier": _KEYWORD,
            }
        },
        "countries": _KEYWORD,
        "cities": _KEYWORD,
        "locations": {
            "properties": {
                "country": _KEYWORD,
                "region": _KEYWORD,
                "city": {"type": "keyword"},
                "geo": {"type": "geo_point"},
            }
        },
        "remote": {"type": "boolean"},
        "work_mode": _KEYWORD,
        "start_date": _DATE,
        "end_date": _DATE,
        "deadline": _DATE,
        "posted_date": _DATE,
        "updated_date": _DATE,
        "duration_class": _KEYWORD,
        "duration_min_days": {"type": "integer"},
        "duration_max_days": {"type": "integer"},
        "themes": _KEYWORD,
        "eligibility": {
            "properties": {
                "age_min": {"type": "integer"},
                "age_max": {"type": "integer"},
                "residence_countries": _KEYWORD,
                "nationality_countries": _KEYWORD,
                "languages": {
                    "properties": {"language": _KEYWORD, "level": _KEYWORD,
                                   "required": {"type": "boolean"}}
                },
            }
        },
        "required_languages": _KEYWORD,
        "support": {
            "properties": {
                flag: {"type": "boolean"}
                for flag in SUPPORT_ITEMS
            }
        },
        "support_offered": _KEYWORD,
        "activity_type": _KEYWORD,
        "status": _KEYWORD,
        "places_available": {"type": "integer"},
        "provenance": {
            "properties": {
                "first_seen": _DATE,
                "last_seen": _DATE,
                "content_hash": _KEYWORD,
            }
        },
    },
}

INDEX_SETTINGS = {
    "number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s", "analysis": ANALYSIS,
}
# Indexed only to search on: never part of what a hit returns.
DERIVED_FIELDS = ["countries", "cities", "places", "required_languages", "support_offered", "i18n_title", "i18n_text"]
_TEXT_FIELDS = [
    "title^5", "i18n_title.*^5", "organisation.name^2", "places^2", "summary^2", "description_text",
    "i18n_text.*",
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


def to_document(doc: Opportunity) -> dict[str, Any]:
    body = doc.model_dump(mode="json")
    values = facet_values(doc)
    body["countries"] = values["country"]
    body["cities"] = values["city"]
    body["required_languages"] = values["required_language"]
    body["support_offered"] = values["support"]
    body["places"] = place_text(doc)
    lang = (doc.language or "").lower()
    if lang in LANGUAGE_ANALYZERS:
        body["i18n_title"] = {lang: doc.title}
        body["i18n_text"] = {lang: f"{doc.summary}\n{doc.description_text}"}
    return body


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
    if request.speaks:
        others = [code for code in ALL_LANGUAGES if code not in request.speaks]
        out.append({"bool": {"must_not": {"terms": {"required_languages": others}}}})
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
    return keys + [{"id": "asc"}]


def _query(must: list[dict[str, Any]], filters: list[dict[str, Any]],
           must_not: list[dict[str, Any]]) -> dict[str, Any]:
    query: dict[str, Any] = {"bool": {"must": must or [{"match_all": {}}], "filter": filters}}
    if must_not:
        query["bool"]["must_not"] = must_not
    return query


def _terms(facet: str) -> dict[str, Any]:
    return {"terms": {"field": FACET_FIELDS[facet], "size": 250}}


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
    text = request.text
    if text:
        must.append({"bool": {"should": [
            {"simple_query_string": {
                "query": text, "fields": _TEXT_FIELDS, "default_operator": "and",
                "flags": "AND|OR|NOT|PHRASE|PREFIX|WHITESPACE|ESCAPE",
            }},
            {"multi_match": {
                "query": text, "fields": _FUZZY_FIELDS, "operator": "and",
                "fuzziness": "AUTO:4,7", "prefix_length": 1,
            }},
        ], "minimum_should_match": 1}})
    must_not: list[dict[str, Any]] = []
    if request.like:
        must.append({"more_like_this": {
            "fields": _LIKE_FIELDS, "like": [{"_index": alias, "_id": request.like}],
            "min_term_freq": 1, "min_doc_freq": 1, "max_query_terms": 25, "min_word_length": 3,
            "minimum_should_match": "10%",
        }})
        must_not.append({"term": {"id": request.like}})
        if like_cluster:
            must_not.append({"term": {"cluster_id": like_cluster}})
    facet_filters = {facet: _facet_filter(facet, values) for facet, values in request.filters().items()}
    base = base_filters(request)
    query = _query(must, base + list(facet_filters.values()), must_not)
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
    if text:
        body["highlight"] = _HIGHLIGHT
    aggs: dict[str, Any] = {facet: _terms(facet) for facet in FACETS if facet not in facet_filters}
    aggs["clusters"] = {"cardinality": {"field": "cluster_id", "precision_threshold": 40000}}
    counts = [{"query": query, "aggs": aggs}]
    for facet in facet_filters:
        others = [f for name, f in facet_filters.items() if name != facet]
        counts.append({"query": _query(must, base + others, must_not), "aggs": {facet: _terms(facet)}})
    searches: list[dict[str, Any]] = [{"index": alias, "request_cache": True}, body]
    for count in counts:
        searches += [{"index": alias, "request_cache": True}, {**count, "size": 0, "track_total_hits": False}]
    return searches


def _msearch_item(item: dict[str, Any]) -> dict[str, Any]:
    """One ``_msearch`` response, or the exception the search raises for it."""
    if "error" not in item:
        return item
    status, error = int(item.get("status", 500)), item["error"]
    reason = error.get("reason", error) if isinstance(error, dict) else error
    if status == 400:
        raise ValueError(f"search request refused: {reason}")
    raise SearchUnavailable(f"search failed ({status}): {reason}")


class ElasticsearchBackend:
    name = "elasticsearch"

    def __init__(self, url: str, alias: str = "opportunities", client: Elasticsearch | None = None) -> None:
        self.url = url
        self.alias = alias
        self.es = client or Elasticsearch(url, request_timeout=30, retry_on_timeout=True, max_retries=2)

    @property
    def template_name(self) -> str:
        return f"{self.alias}-template"

    def setup(self) -> None:
        try:
            self.es.indices.put_index_template(
                name=self.template_name,
                index_patterns=[f"{self.alias}-v*"],
                template={"settings": INDEX_SETTINGS, "mappings": MAPPINGS},
                priority=100,
            )
            if not self.es.indices.exists_alias(name=self.alias):
                index = f"{self.alias}-v1"
                if not self.es.indices.exists(index=index):
                    self.es.indices.create(index=index)
                self.es.indices.update_aliases(
                    actions=[{"add": {"index": index, "alias": self.alias, "is_write_index": True}}]
                )
        except TransportError as exc:
            raise SearchUnavailable(f"Elasticsearch at {self.url} unreachable: {exc}") from exc

    def drop(self) -> None:
        """Delete this alias's indices and its index template: all that
        ``setup()`` and the writers created (benchmarks and tests clean up
        with it). Names each index, so it works where wildcard deletes are
        refused (``action.destructive_requires_name``)."""
        for index in self._versions():
            self.es.indices.delete(index=index, ignore_unavailable=True)
        try:
            self.es.indices.delete_index_template(name=self.template_name)
        except NotFoundError:
            pass

    def upsert_many(self, docs: list[Opportunity], index: str | None = None) -> list[DocumentRejected]:
        actions = (
            {"_op_type": "index", "_index": index or self.alias, "_id": d.id, "_source": to_document(d)}
            for d in docs
        )
        return self._bulk(actions)

    def _versions(self) -> list[str]:
        """This alias's versioned indices, oldest first."""
        names = self.es.indices.get(index=f"{self.alias}-v*", ignore_unavailable=True, allow_no_indices=True)
        return sorted(names, key=lambda n: int(n.rsplit("-v", 1)[1]) if n.rsplit("-v", 1)[1].isdigit() else -1)

    def rebuild(self, docs: list[Opportunity], keep: int = 1) -> tuple[str, str | None, list[str]]:
        """Fill a new versioned index from ``docs`` and move the alias to it in
        one atomic ``_aliases`` call. Keeps ``keep`` previous versions."""
        self.setup()  # the current template (a changed mapping applies to the new index)
        try:
            versions = self._versions()
            current = list(self.es.indices.get_alias(name=self.alias))
            number = max([int(v.rsplit("-v", 1)[1]) for v in versions if v.rsplit("-v", 1)[1].isdigit()] or [0]) + 1
            new = f"{self.alias}-v{number}"
            self.es.indices.create(index=new, settings={"refresh_interval": "-1"})
            try:
                rejected = self.upsert_many(docs, index=new)
            except BaseException:
                self.es.indices.delete(index=new, ignore_unavailable=True)
                raise
            if rejected:
                self.es.indices.delete(index=new)
                raise SearchUnavailable(f"reindex: {len(rejected)} documents refused by the new index, "
                                        f"e.g. {rejected[0]}; the old index still serves")
            self.es.indices.put_settings(index=new, settings={"refresh_interval": INDEX_SETTINGS["refresh_interval"]})
            self.es.indices.refresh(index=new)
            actions: list[dict[str, Any]] = [{"remove": {"index": old, "alias": self.alias}} for old in current]
            actions.append({"add": {"index": new, "alias": self.alias, "is_write_index": True}})
            self.es.indices.update_aliases(actions=actions)
            older = [v for v in self._versions() if v != new]
            doomed = older[: max(0, len(older) - keep)]
            if doomed:
                self.es.indices.delete(index=",".join(doomed))
        except TransportError as exc:
            raise SearchUnavailable(f"Elasticsearch at {self.url} unreachable: {exc}") from exc
        return new, (current[0] if current else None), doomed

    def delete_many(self, ids: list[str]) -> None:
        actions = ({"_op_type": "delete", "_index": self.alias, "_id": i} for i in ids)
        rejected = [r for r in self._bulk(actions) if "not_found" not in r.reason]
        if rejected:
            raise SearchUnavailable(f"deletes failed: {rejected[0]}")

    def _bulk(self, actions: Any) -> list[DocumentRejected]:
        rejected: list[DocumentRejected] = []
        try:
            for ok, item in helpers.streaming_bulk(
                self.es, actions, chunk_size=500, max_retries=5, initial_backoff=1,
                max_backoff=30, raise_on_error=False, raise_on_exception=True,
            ):
                if ok:
                    continue
                op, info = next(iter(item.items()))
                status = int(info.get("status", 0))
                if op == "delete" and status == 404:
                    continue
                if status >= 500 or status == 429:
                    raise SearchUnavailable(f"bulk {op} failed with {status}: {info.get('error')}")
                error = info.get("error") or {}
                reason = error.get("reason", str(error)) if isinstance(error, dict) else str(error)
                rejected.append(DocumentRejected(str(info.get("_id")), f"{status} {reason}"))
        except TransportError as exc:
            raise SearchUnavailable(f"Elasticsearch at {self.url} unreachable: {exc}") from exc
        return rejected

    def get(self, doc_id: str) -> dict[str, Any] | None:
        try:
            resp = self.es.get(index=self.alias, id=doc_id, source_excludes=DERIVED_FIELDS)
        except NotFoundError:
            return None
        except TransportError as exc:
            raise SearchUnavailable(str(exc)) from exc
        return dict(resp["_source"])

    def search(self, request: SearchRequest) -> SearchResult:
        like_cluster = None
        if request.like:
            liked = self.get(request.like)
            if liked is None:
                return SearchResult(total=0, clusters=0, hits=[], facets={f: {} for f in FACETS},
                                    page=request.page, size=request.size)
            like_cluster = liked.get("cluster_id")
        searches = build_searches(request, alias=self.alias, like_cluster=like_cluster)
        try:
            found, counted, *selected_counts = self.es.msearch(searches=searches)["responses"]
        except BadRequestError as exc:
            raise ValueError(f"search request refused: {exc}") from exc
        except (TransportError, ApiError) as exc:
            raise SearchUnavailable(f"search failed: {exc}") from exc
        resp = _msearch_item(found)
        hits = []
        for h in resp["hits"]["hits"]:
            distance = h["sort"][0] if request.effective_sort == Sort.distance else None
            highlight = {
                ("description" if field == "description_text" else field): frags[0]
                for field, frags in (h.get("highlight") or {}).items() if frags
            }
            hits.append(SearchHit(
                id=h["_id"], score=h.get("_score"), opportunity=h["_source"], highlight=highlight,
                distance_km=round(distance, 3) if isinstance(distance, (int, float)) else None,
            ))
        aggs = _msearch_item(counted)["aggregations"]
        for item in selected_counts:  # a selected facet's counts each
            aggs.update(_msearch_item(item)["aggregations"])
        facets = {facet: {b["key"]: b["doc_count"] for b in aggs[facet]["buckets"]} for facet in FACETS}
        total = resp["hits"]["total"]["value"]
        clusters = int(aggs["clusters"]["value"])
        return SearchResult(
            total=total, clusters=clusters, hits=hits, facets=facets, page=request.page,
            size=request.size, next_cursor=self._next_cursor(request, resp, clusters if request.collapse else total),
        )

    @staticmethod
    def _next_cursor(request: SearchRequest, resp: dict[str, Any], reachable: int) -> str | None:
        raw = resp["hits"]["hits"]
        if not raw or len(raw) < request.size:
            return None
        if request.collapse:
            nxt = request.offset() + len(raw)
            return encode_cursor({"o": nxt}) if nxt < min(reachable, 10_000) else None
        return encode_cursor({"a": raw[-1]["sort"]})

    def suggest(self, prefix: str, size: int = 8) -> list[str]:
        prefix = prefix.strip()
        if not prefix:
            return []
        body = {
            "query": {"bool": {
                "must": {"match": {"title.suggest": {"query": prefix, "operator": "and"}}},
                "filter": {"term": {"status": "open"}},
            }},
            "collapse": {"field": "title.raw"}, "_source": ["title"], "size": size,
            "sort": ["_score", {"id": "asc"}],
        }
        try:
            resp = self.es.search(index=self.alias, body=body)
        except (TransportError, ApiError) as exc:
            raise SearchUnavailable(f"suggest failed: {exc}") from exc
        return [h["_source"]["title"] for h in resp["hits"]["hits"]]

    def count(self) -> int:
        return int(self.es.count(index=self.alias)["count"])

    def refresh(self) -> None:
        self.es.indices.refresh(index=self.alias)

    def health(self) -> dict[str, Any]:
        try:
            status = self.es.cluster.health(timeout="2s")["status"]
            return {
                "status": "ok" if status in ("green", "yellow") else "degraded",
                "backend": self.name,
                "cluster": status,
            }
        except Exception as exc:
            return {"status": "degraded", "backend": self.name, "error": type(exc).__name__}

    def close(self) -> None:
        self.es.close()
