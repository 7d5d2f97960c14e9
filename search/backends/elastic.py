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

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError, helpers

from pipeline.events import Opportunity
from search.backends.base import (
    FACETS,
    DocumentRejected,
    SearchHit,
    SearchRequest,
    SearchResult,
    SearchUnavailable,
)

# Facet name -> indexed keyword field.
FACET_FIELDS = {
    "country": "countries",
    "theme": "themes",
    "activity_type": "activity_type",
    "language": "language",
}

_KEYWORD = {"type": "keyword"}
_DATE = {"type": "date"}

MAPPINGS: dict[str, Any] = {
    # Fields not listed are kept in _source but not indexed: a new event field
    # never breaks indexing, and a mapping change is a reindex, not an outage.
    "dynamic": False,
    "properties": {
        "id": _KEYWORD,
        "cluster_id": _KEYWORD,
        "source_id": _KEYWORD,
        "programme": _KEYWORD,
        "title": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 512}}},
        "summary": {"type": "text"},
        "description_text": {"type": "text"},
        "description_html": {"type": "text", "index": False},
        "language": _KEYWORD,
        "organisation": {
            "properties": {
                "name": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 256}}},
                "identifier": _KEYWORD,
            }
        },
        "countries": _KEYWORD,
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
                "languages": {
                    "properties": {"language": _KEYWORD, "level": _KEYWORD,
                                   "required": {"type": "boolean"}}
                },
            }
        },
        "support": {
            "properties": {
                flag: {"type": "boolean"}
                for flag in ("accommodation", "food", "travel", "insurance", "allowance",
                             "language_course", "training")
            }
        },
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

INDEX_SETTINGS = {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"}


def to_document(doc: Opportunity) -> dict[str, Any]:
    body = doc.model_dump(mode="json")
    body["countries"] = doc.countries
    return body


def build_query(request: SearchRequest) -> dict[str, Any]:
    """SearchRequest → request body (pure; the facet logic lives here).

    Text uses ``simple_query_string``: user input can never inject syntax or
    make the query fail. Facet filters go in ``post_filter`` and every facet's
    aggregation applies all filters but its own.
    """
    must: list[dict[str, Any]] = []
    if request.q and request.q.strip():
        must.append(
            {
                "simple_query_string": {
                    "query": request.q,
                    "fields": ["title^5", "organisation.name^2", "summary^2", "description_text"],
                    "default_operator": "and",
                    "flags": "AND|OR|NOT|PHRASE|PREFIX|WHITESPACE|ESCAPE",
                }
            }
        )
    base_filter: list[dict[str, Any]] = []
    if not request.include_closed:
        base_filter.append({"term": {"status": "open"}})
    facet_filters = {
        facet: {"terms": {FACET_FIELDS[facet]: values}} for facet, values in request.filters().items()
    }
    aggs: dict[str, Any] = {}
    for facet in FACETS:
        others = [f for name, f in facet_filters.items() if name != facet]
        aggs[facet] = {
            "filter": {"bool": {"filter": others}} if others else {"match_all": {}},
            "aggs": {"values": {"terms": {"field": FACET_FIELDS[facet], "size": 250}}},
        }
    body: dict[str, Any] = {
        "query": {"bool": {"must": must or [{"match_all": {}}], "filter": base_filter}},
        "aggs": aggs,
        "from": (request.page - 1) * request.size,
        "size": request.size,
        "track_total_hits": True,
        "sort": (["_score"] if must else []) + [{"provenance.last_seen": "desc"}, {"id": "asc"}],
    }
    if facet_filters:
        body["post_filter"] = {"bool": {"filter": list(facet_filters.values())}}
    return body


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

    def upsert_many(self, docs: list[Opportunity]) -> list[DocumentRejected]:
        actions = (
            {"_op_type": "index", "_index": self.alias, "_id": d.id, "_source": to_document(d)}
            for d in docs
        )
        return self._bulk(actions)

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
            resp = self.es.get(index=self.alias, id=doc_id)
        except NotFoundError:
            return None
        except TransportError as exc:
            raise SearchUnavailable(str(exc)) from exc
        return dict(resp["_source"])

    def search(self, request: SearchRequest) -> SearchResult:
        try:
            resp = self.es.search(index=self.alias, body=build_query(request))
        except (TransportError, ApiError) as exc:
            raise SearchUnavailable(f"search failed: {exc}") from exc
        hits = [
            SearchHit(id=h["_id"], score=h.get("_score"), opportunity=h["_source"])
            for h in resp["hits"]["hits"]
        ]
        facets = {
            facet: {b["key"]: b["doc_count"] for b in resp["aggregations"][facet]["values"]["buckets"]}
            for facet in FACETS
        }
        return SearchResult(
            total=resp["hits"]["total"]["value"], hits=hits, facets=facets,
            page=request.page, size=request.size,
        )

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
        except Exception as exc:  # noqa: BLE001 - health never raises
            return {"status": "degraded", "backend": self.name, "error": type(exc).__name__}

    def close(self) -> None:
        self.es.close()
