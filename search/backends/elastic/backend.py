"""The Elasticsearch backend (official client, 8.x, matched to the server).

Index lifecycle, as in elasticsearch-py's alias migration example:
``setup()`` puts the index template ``<alias>-template`` for ``<alias>-v*``
and, when the alias does not exist yet, creates ``<alias>-v1`` with the alias
``<alias>`` pointing at it. Reads and writes go through the alias, so a later
reindex can build ``<alias>-v2`` and swap the alias atomically.

Bulk writes use ``helpers.streaming_bulk`` with retries and backoff on 429;
a document the server rejects for good (4xx) is returned to the caller for the
dead-letter topic, a connection failure raises :class:`SearchUnavailable` so
the indexer commits nothing and retries. A rebuild fills its new index over
``REBUILD_LANES`` such streams at once, so Elasticsearch indexes one chunk
while the next is prepared and sent.
"""

from __future__ import annotations

import queue
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from itertools import chain
from typing import Any

from elasticsearch import ApiError, BadRequestError, Elasticsearch, NotFoundError, TransportError, helpers

from pipeline.events import Opportunity
from pipeline.links import ClusterMember
from search.backends.base import (
    Amendments,
    Capabilities,
    DocumentRejected,
    RebuildResult,
    SearchHit,
    SearchResult,
    SearchUnavailable,
)
from search.backends.elastic.mapping import (
    ADDED_FIELDS,
    DERIVED_FIELDS,
    INDEX_SETTINGS,
    LANGUAGE_ANALYZERS,
    MAPPINGS,
    document_json,
    to_document,
)
from search.backends.elastic.query import build_searches
from search.request import FACETS, MAX_WINDOW, SearchRequest, Sort, encode_cursor


def _msearch_item(item: dict[str, Any]) -> dict[str, Any]:
    """One ``_msearch`` response, or the exception the search raises for it."""
    if "error" not in item:
        return item
    status, error = int(item.get("status", 500)), item["error"]
    reason = error.get("reason", error) if isinstance(error, dict) else error
    if status == 400:
        raise ValueError(f"search request refused: {reason}")
    raise SearchUnavailable(f"search failed ({status}): {reason}")


CHUNK = 500  # documents per bulk request
REBUILD_LANES = 2  # concurrent bulk streams filling a rebuild's new index
_END = object()


def _offer(lane: queue.Queue[Any], item: object, running: Future[Any]) -> bool:
    """Put ``item`` on a lane's queue, unless the lane has stopped (its error
    is raised by its result): False then."""
    while not running.done():
        try:
            lane.put(item, timeout=0.5)
            return True
        except queue.Full:
            continue
    return False


class ElasticsearchBackend:
    name = "elasticsearch"
    capabilities = Capabilities(
        typo_tolerance=True, rollback=True, cursor_past_window=True,
        stemmed_languages=frozenset(LANGUAGE_ANALYZERS),
    )

    def __init__(self, url: str, alias: str = "opportunities", client: Elasticsearch | None = None,
                 replicas: int = 0) -> None:
        self.url = url
        self.alias = alias
        self.replicas = replicas  # copies of each shard on other nodes (TILTS_INDEX_REPLICAS)
        # several nodes as "http://a:9200,http://b:9200": the client fails over between them
        self.es = client or Elasticsearch(url.split(","), request_timeout=30, retry_on_timeout=True, max_retries=2)

    @property
    def template_name(self) -> str:
        return f"{self.alias}-template"

    def setup(self) -> None:
        try:
            self.es.indices.put_index_template(
                name=self.template_name,
                index_patterns=[f"{self.alias}-v*"],
                template={"settings": {**INDEX_SETTINGS, "number_of_replicas": self.replicas}, "mappings": MAPPINGS},
                priority=100,
            )
            if not self.es.indices.exists_alias(name=self.alias):
                index = f"{self.alias}-v1"
                if not self.es.indices.exists(index=index):
                    self._create_first(index)
                self.es.indices.update_aliases(
                    actions=[{"add": {"index": index, "alias": self.alias, "is_write_index": True}}]
                )
            else:  # an index made before: the fields added to the mapping since
                self.es.indices.put_mapping(index=self.alias, properties=ADDED_FIELDS)
        except TransportError as exc:
            raise SearchUnavailable(f"Elasticsearch at {self.url} unreachable: {exc}") from exc

    def _create_first(self, index: str) -> None:
        """Create the first index; another process setting up at the same moment
        (two indexers starting together) may have created it first: that is fine."""
        try:
            self.es.indices.create(index=index)
        except ApiError as exc:
            if exc.error != "resource_already_exists_exception":
                raise SearchUnavailable(f"Elasticsearch refused to create {index}: {exc}") from exc

    def drop(self) -> None:
        """Delete this alias's indices and its index template: all that
        ``setup()`` and the writers created (benchmarks and tests clean up
        with it). Names each index, so it works where wildcard deletes are
        refused (``action.destructive_requires_name``)."""
        for index in self._versions():
            self.es.indices.delete(index=index, ignore_unavailable=True)
        with suppress(NotFoundError):
            self.es.indices.delete_index_template(name=self.template_name)

    def upsert_many(self, docs: Iterable[Opportunity], index: str | None = None) -> list[DocumentRejected]:
        return self._bulk(self._index_actions(docs, index))

    def _index_actions(self, docs: Iterable[Opportunity], index: str | None) -> Iterable[dict[str, Any]]:
        return ({"_op_type": "index", "_index": index or self.alias, "_id": d.id, "_source": to_document(d)}
                for d in docs)

    def _versions(self) -> list[str]:
        """This alias's versioned indices, oldest first."""
        names = self.es.indices.get(index=f"{self.alias}-v*", ignore_unavailable=True, allow_no_indices=True)
        return sorted(names, key=lambda n: int(n.rsplit("-v", 1)[1]) if n.rsplit("-v", 1)[1].isdigit() else -1)

    def rebuild(self, docs: Iterable[Opportunity], keep: int = 1,
                amend: Callable[[], Amendments] | None = None) -> RebuildResult:
        """Fill a new versioned index from ``docs`` (one id's writes keep their
        order: the later version wins), apply ``amend()`` to it, and move the
        alias to it in one atomic ``_aliases`` call. Keeps ``keep`` previous versions."""
        self.setup()  # the current template (a changed mapping applies to the new index)
        try:
            versions = self._versions()
            current = list(self.es.indices.get_alias(name=self.alias))
            number = max([int(v.rsplit("-v", 1)[1]) for v in versions if v.rsplit("-v", 1)[1].isdigit()] or [0]) + 1
            new = f"{self.alias}-v{number}"
            self.es.indices.create(index=new, settings={"refresh_interval": "-1"})
            try:
                writes = ({"_op_type": "index", "_index": new, "_id": d.id, "_source": document_json(d)} for d in docs)
                rejected = self._bulk_lanes(writes, REBUILD_LANES)
                if amend is not None and not rejected:
                    rejected = self._amend(new, amend())
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

    def _amend(self, index: str, amendments: Amendments) -> list[DocumentRejected]:
        """Deletes, then ``also_listed_on`` partial updates, on one index (a rebuild's, before the switch).
        Refreshed first: an update reads its document, and reading one not yet refreshed refreshes the
        shard (about 10 ms each, and a tiny segment each)."""
        self.es.indices.refresh(index=index)
        deletes = ({"_op_type": "delete", "_index": index, "_id": i} for i in amendments.deleted)
        links = ({"_op_type": "update", "_index": index, "_id": i, "doc": {"provenance": {"also_listed_on": urls}}}
                 for i, urls in amendments.links)
        return self._bulk_lanes(chain(deletes, links), REBUILD_LANES)

    def delete_many(self, ids: list[str]) -> None:
        actions = ({"_op_type": "delete", "_index": self.alias, "_id": i} for i in ids)
        rejected = [r for r in self._bulk(actions) if "not_found" not in r.reason]
        if rejected:
            raise SearchUnavailable(f"deletes failed: {rejected[0]}")

    def _bulk_lanes(self, actions: Iterable[dict[str, Any]], lanes: int) -> list[DocumentRejected]:
        """``_bulk`` over ``lanes`` concurrent streams, fed chunk by chunk from this
        thread (which builds the documents meanwhile). A document id always
        takes the same lane, so writes to one document keep their order."""
        queues: list[queue.Queue[Any]] = [queue.Queue(maxsize=2) for _ in range(lanes)]
        with ThreadPoolExecutor(lanes, thread_name_prefix="tilts-bulk") as pool:
            running = [pool.submit(self._bulk, chain.from_iterable(iter(q.get, _END))) for q in queues]
            try:
                chunks: list[list[dict[str, Any]]] = [[] for _ in range(lanes)]
                for action in actions:
                    n = zlib.crc32(str(action["_id"]).encode()) % lanes
                    chunks[n].append(action)
                    if len(chunks[n]) == CHUNK:
                        if not _offer(queues[n], chunks[n], running[n]):
                            break  # that lane failed: its error is raised below
                        chunks[n] = []
                else:
                    for q, chunk, lane in zip(queues, chunks, running, strict=True):
                        _offer(q, chunk, lane)
            finally:
                for q, lane in zip(queues, running, strict=True):
                    _offer(q, _END, lane)
            return [r for lane in running for r in lane.result()]

    def _bulk(self, actions: Any) -> list[DocumentRejected]:
        rejected: list[DocumentRejected] = []
        try:
            for ok, item in helpers.streaming_bulk(
                self.es, actions, chunk_size=CHUNK, max_retries=5, initial_backoff=1,
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

    def cluster_members(self, cluster_ids: list[str]) -> list[ClusterMember]:
        """Each founder by id (real time: a founder indexed a moment ago counts),
        the other members by a search (visible after the index's refresh)."""
        fields = ["id", "url", "cluster_id", "provenance.first_seen", "provenance.also_listed_on"]
        found: dict[str, dict[str, Any]] = {}
        try:
            for start in range(0, len(cluster_ids), 500):
                ids = cluster_ids[start:start + 500]
                docs = self.es.mget(index=self.alias, ids=ids, source_includes=fields)["docs"]
                found.update({d["_id"]: d["_source"] for d in docs if d.get("found")})
                resp = self.es.search(index=self.alias, query={"terms": {"cluster_id": ids}}, size=10_000,
                                      source_includes=fields)
                found.update({h["_id"]: h["_source"] for h in resp["hits"]["hits"]})
        except (TransportError, ApiError) as exc:
            raise SearchUnavailable(f"cluster members: {exc}") from exc
        return [ClusterMember(d["id"], d["url"], d["cluster_id"], str(d["provenance"]["first_seen"]),
                              list(d["provenance"].get("also_listed_on") or [])) for d in found.values()]

    def set_also_listed_on(self, updates: dict[str, list[str]]) -> None:
        """A partial update of the field alone: a newer version of the listing
        written meanwhile keeps everything else it says."""
        actions = ({"_op_type": "update", "_index": self.alias, "_id": doc_id, "retry_on_conflict": 3,
                    "doc": {"provenance": {"also_listed_on": urls}}} for doc_id, urls in updates.items())
        rejected = [r for r in self._bulk(actions) if not r.reason.startswith("404")]  # deleted meanwhile
        if rejected:
            raise SearchUnavailable(f"also_listed_on updates failed: {rejected[0]}")

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
        facets = {facet: _bucket_counts(aggs[facet]["buckets"]) for facet in FACETS}
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
            return encode_cursor({"o": nxt}) if nxt < min(reachable, MAX_WINDOW) else None
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


def _bucket_counts(buckets: list[dict[str, Any]]) -> dict[str, int]:
    """A facet's values and counts (of clusters when counted, else of
    listings), most first, as the embedded backend orders them."""
    counts = [(b["key"], int(b["clusters"]["value"]) if "clusters" in b else b["doc_count"]) for b in buckets]
    return dict(sorted(counts, key=lambda c: (-c[1], c[0])))
