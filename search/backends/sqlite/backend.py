"""The embedded backend's connections, transactions, caches and answers
(the SQL comes from ``sql``, the tables from ``schema``, writes from ``writes``)."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from pipeline.events import Opportunity
from pipeline.links import ClusterMember
from pipeline.sqlite_files import open_wal
from search.backends.base import (
    FACET_SIZE,
    Amendments,
    Capabilities,
    DocumentRejected,
    RebuildResult,
    SearchHit,
    SearchResult,
    SearchUnavailable,
    haversine_km,
)
from search.backends.facet_rows import FacetRows, IndexState, numbers, refreshed
from search.backends.sqlite import schema, sql, writes
from search.request import FACETS, MAX_WINDOW, SearchRequest, Sort, encode_cursor
from search.stemming import STEMMED_LANGUAGES

log = logging.getLogger(__name__)

FACET_CACHE_SIZE = 512
# Readers map the file: a row looked up by number is a memory read, not a
# read() call (about a third faster for match sets of 10,000 rows).
READ_MMAP_BYTES = 1 << 30
_MATCH_SET = ("CREATE TEMP TABLE IF NOT EXISTS _m (n INTEGER PRIMARY KEY, id TEXT, cluster_id TEXT, "
              "first_seen INTEGER, deadline TEXT, rank REAL, dist REAL)")
T = TypeVar("T")


def _functions(conn: sqlite3.Connection) -> None:
    conn.create_function("dist_km", 4, haversine_km, deterministic=True)
    conn.create_function("speaks_met", 2, sql.speaks_met, deterministic=True)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=30000")
    _functions(conn)
    return conn


def _has_sql_math(conn: sqlite3.Connection) -> bool:
    """Is SQLite built with its math functions (SQLITE_ENABLE_MATH_FUNCTIONS)?"""
    try:
        return conn.execute("SELECT asin(sin(radians(1.0)))").fetchone()[0] is not None
    except sqlite3.OperationalError:
        return False


class SqliteBackend:
    name = "sqlite"
    capabilities = Capabilities(
        typo_tolerance=False, rollback=False, cursor_past_window=False,
        stemmed_languages=frozenset(STEMMED_LANGUAGES),
    )

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self._conn = open_wal(self.path, _functions, autocommit=True, threads=True)
            self._sql_math = _has_sql_math(self._conn)
        except sqlite3.Error as exc:
            raise SearchUnavailable(f"cannot open search index {self.path}: {exc}") from exc
        self._local = threading.local()
        self._facet_cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._rows: FacetRows | None = None
        self._rows_lock = threading.Lock()
        self._unanalyzed = 0  # documents written since the planner's statistics were taken
        self._analysed_at: int | None = None  # documents when they were taken (None: not known yet)

    @property
    def _read(self) -> sqlite3.Connection:
        """This thread's reading connection (searches run in parallel; the
        temp table for facet counts is per connection)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path)
            conn.execute(f"PRAGMA mmap_size={READ_MMAP_BYTES}")
            self._local.conn = conn
        return conn

    def setup(self) -> None:
        with self._lock:
            try:
                schema.create(self._conn)
            except sqlite3.OperationalError as exc:
                if "no such column" in str(exc) or "has no column" in str(exc):
                    raise SearchUnavailable(
                        f"{self.path} has an older layout; run `tilts reindex` to rebuild it"
                    ) from exc
                raise

    # ------------------------------------------------------------ writing

    def _write(self, write: Callable[[sqlite3.Connection], None], *, unavailable: bool = False) -> None:
        """Run ``write`` in one write transaction (the caller holds the writer
        lock); with ``unavailable`` a failed write is a SearchUnavailable."""
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            write(c)
            c.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            c.execute("ROLLBACK")
            if unavailable:
                raise SearchUnavailable(f"search index write failed: {exc}") from exc
            raise
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def upsert_many(self, docs: list[Opportunity]) -> list[DocumentRejected]:
        with self._lock:
            self._write(lambda c: writes.insert_all(c, docs, replace=True), unavailable=True)
            self._unanalyzed += len(docs)
            self._maybe_analyze()
        return []

    def _maybe_analyze(self) -> None:
        """Keep the query planner's statistics fresh as the live indexer fills
        the index (``rebuild`` analyses in its own transaction): without them
        SQLite ran the full-text match once per listing, about 2 s for one
        text search over 4,000 listings. Sampled (``analysis_limit``), so a
        large index pays milliseconds, and only after the index grew by a fifth."""
        if self._unanalyzed < 500:
            return
        if self._analysed_at is None:  # once per process: were statistics ever taken?
            analysed = self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone() is not None
            self._analysed_at = self._conn.execute("SELECT count(*) FROM docs").fetchone()[0] if analysed else 0
        if self._unanalyzed * 5 < self._analysed_at:
            return
        try:
            self._conn.execute("PRAGMA analysis_limit=1000")
            self._conn.execute("ANALYZE")
        except sqlite3.OperationalError as exc:  # busy: the next batch tries again
            log.warning("search index statistics not refreshed: %s", exc)
            return
        self._analysed_at = self._conn.execute("SELECT count(*) FROM docs").fetchone()[0]
        self._unanalyzed = 0

    def rebuild(self, docs: Iterable[Opportunity], keep: int = 1,
                amend: Callable[[], Amendments] | None = None) -> RebuildResult:
        """Rebuild the whole index from ``docs`` (an id given twice: its later
        version) and ``amend()`` in one transaction: readers see the old index
        until the commit, then the new one. An index file of an older layout
        is dropped and recreated first. Nothing is kept for rollback (``keep``
        does not apply)."""

        def write(c: sqlite3.Connection) -> None:
            schema.recreate(c)
            writes.insert_all(c, docs, replace=True)
            if amend is not None:
                amendments = amend()
                writes.delete_all(c, amendments.deleted)
                writes.set_also_listed_on(c, amendments.links)
            c.execute("ANALYZE")

        with self._lock:
            self._write(write)
        return str(self.path), None, []

    def delete_many(self, ids: list[str]) -> None:
        with self._lock:
            self._write(lambda c: writes.delete_all(c, ids))

    def get(self, doc_id: str) -> dict[str, Any] | None:
        row = self._read.execute("SELECT doc FROM docs WHERE id = ?", (doc_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def cluster_members(self, cluster_ids: list[str]) -> list[ClusterMember]:
        found: list[ClusterMember] = []
        for start in range(0, len(cluster_ids), 500):
            ids = cluster_ids[start:start + 500]
            rows = self._read.execute(
                "SELECT id, json_extract(doc, '$.url'), cluster_id, json_extract(doc, '$.provenance.first_seen'),"
                " json_extract(doc, '$.provenance.also_listed_on') FROM docs"
                f" WHERE cluster_id IN ({','.join('?' * len(ids))})", ids)
            found += [ClusterMember(i, u, c, f, json.loads(a or "[]")) for i, u, c, f, a in rows]
        return found

    def set_also_listed_on(self, updates: dict[str, list[str]]) -> None:
        with self._lock:
            self._write(lambda c: writes.set_also_listed_on(c, updates.items()), unavailable=True)

    # ------------------------------------------------------------ reading

    def _liked(self, doc_id: str) -> sql.Liked | None:
        """The liked listing with its most distinctive words (tf × idf) as a match."""
        row = self._read.execute("SELECT f.title, f.description FROM fts f JOIN docs d ON d.n = f.rowid "
                                 "WHERE d.id = ?", (doc_id,)).fetchone()
        if not row:
            return None
        words = sql.like_words(row[0], row[1])
        if not words:
            return None
        marks = ",".join("?" * len(words))
        df = dict(self._read.execute(f"SELECT term, doc FROM fts_vocab WHERE term IN ({marks})",
                                     list(words)).fetchall())
        match = sql.like_query(words, df, max(1, self.count()))
        doc = self.get(doc_id) or {}
        return sql.Liked(doc_id, doc.get("cluster_id", doc_id), match)

    def search(self, request: SearchRequest) -> SearchResult:
        """One read transaction: the match set, the page and the facet rows
        that count it all see the same committed state."""
        c = self._read
        c.execute("BEGIN")
        try:
            return self._search(request)
        finally:
            c.execute("COMMIT")

    def _search(self, request: SearchRequest) -> SearchResult:
        liked = self._liked(request.like) if request.like else None
        state = self._index_state()
        rows = self._facet_rows(state)
        built = sql.build_search(request, liked=liked, share=rows.share, sql_math=self._sql_math)
        if built is None:
            return SearchResult(total=0, clusters=0, hits=[], facets={f: {} for f in FACETS},
                                page=request.page, size=request.size)
        c = self._read
        c.execute(_MATCH_SET)
        c.execute("DELETE FROM _m")
        c.execute(f"INSERT INTO _m {built.matches[0]}", built.matches[1])
        total, clusters = c.execute("SELECT count(*), count(DISTINCT cluster_id) FROM _m").fetchone()
        offset = request.offset()
        if request.collapse and clusters < total:
            page = self._collapsed_page(built.order, offset, request.size)
        else:
            page = c.execute(f"SELECT n, rank, dist FROM _m ORDER BY {built.order} LIMIT ? OFFSET ?",
                             [request.size, offset]).fetchall()
        reachable = clusters if request.collapse else total
        nxt = offset + len(page)
        next_cursor = (encode_cursor({"o": nxt}) if page and len(page) == request.size
                       and nxt < min(reachable, MAX_WINDOW) else None)
        return SearchResult(
            total=total, clusters=clusters, hits=self._hits(request, built, page),
            facets=self._facets(request, built, (state, rows)),
            page=request.page, size=request.size, next_cursor=next_cursor,
        )

    def _hits(self, request: SearchRequest, built: sql.SearchSql,
              page: list[tuple[int, Any, Any]]) -> list[SearchHit]:
        c = self._read
        docs = {}
        if page:
            marks = ",".join("?" * len(page))
            docs = dict(c.execute(f"SELECT n, doc FROM docs WHERE n IN ({marks})", [r[0] for r in page]).fetchall())
        ns = [r[0] for r in page]
        marks_by_n = self._highlights(ns, built.match) if built.highlight and built.match else {}
        hits = []
        for n, rank, dist in page:
            doc = json.loads(docs[n])
            hits.append(SearchHit(
                id=doc["id"], score=(-rank if built.match else None), opportunity=doc,
                distance_km=(round(dist, 3) if dist is not None and request.effective_sort == Sort.distance
                             else None),
                highlight=marks_by_n.get(n, {}),
            ))
        return hits

    def _collapsed_page(self, order: str, offset: int, size: int) -> list[tuple[int, Any, Any]]:
        """The page of the best listing of each cluster: walk the match set
        in ``order`` and keep each cluster's first row (a sorted prefix, grown
        until it holds enough clusters, instead of ranking every row)."""
        want = offset + size
        limit = 2 * want + 20
        while size:
            rows = self._read.execute(f"SELECT n, rank, dist, cluster_id FROM _m ORDER BY {order} LIMIT ?",
                                      [limit]).fetchall()
            seen: set[str] = set()
            best = []
            for n, rank, dist, cluster in rows:
                if cluster not in seen:
                    seen.add(cluster)
                    best.append((n, rank, dist))
                    if len(best) == want:
                        break
            if len(best) == want or len(rows) < limit:
                return best[offset:]
            limit *= 4
        return []

    def _cached(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """Facet counts by (query, parameters, index generation): a repeated
        browse costs one lookup; any write makes every entry stale."""
        with self._cache_lock:
            if key in self._facet_cache:
                self._facet_cache.move_to_end(key)
                cached: T = self._facet_cache[key]
                return cached
        value = compute()
        with self._cache_lock:
            self._facet_cache[key] = value
            while len(self._facet_cache) > FACET_CACHE_SIZE:
                self._facet_cache.popitem(last=False)
        return value

    def _index_state(self) -> IndexState:
        """Where the index stands in this read transaction."""
        epoch, generation, next_n = self._read.execute(
            "SELECT (SELECT v FROM meta WHERE k = 'epoch'), (SELECT v FROM meta WHERE k = 'generation'), "
            f"{schema.NEXT_N}").fetchone()
        return IndexState(epoch or 0, generation, next_n - 1)

    def _facet_rows(self, state: IndexState) -> FacetRows:
        """Facet rows that cover this transaction's snapshot (``facet_rows``)."""
        with self._rows_lock:
            rows = refreshed(self._rows, self._read, state)
            if rows.newer_than(self._rows):
                self._rows = rows
            return rows

    def _facets(self, request: SearchRequest, built: sql.SearchSql,
                index: tuple[IndexState, FacetRows]) -> dict[str, dict[str, int]]:
        """Counts over the matching set (``_m``) in one pass for the facets
        without a selection; a selected facet counts the documents matching
        every filter but its own. Counted in memory (``facet_rows``), of
        clusters when the search collapses duplicates."""
        c = self._read
        state, rows = index
        counts: dict[str, list[tuple[str, int]]] = {f: [] for f in FACETS}
        free = [f for f in FACETS if f not in built.own_counts]
        if free:
            def free_counts() -> dict[str, list[tuple[str, int]]]:
                return rows.count(numbers(c, "SELECT n FROM _m"), free, request.collapse)

            matches, params = built.matches  # the statement that filled _m
            key = ("free", matches, tuple(map(str, params)), tuple(free), request.collapse, state)
            counts.update(self._cached(key, free_counts))
        for facet, (members, args) in built.own_counts.items():
            def own_counts(members: str = members, args: list[Any] = args,
                           facet: str = facet) -> list[tuple[str, int]]:
                return rows.count(numbers(c, members, args), [facet], request.collapse)[facet]

            own_key = ("own", members, tuple(map(str, args)), facet, request.collapse, state)
            counts[facet] = self._cached(own_key, own_counts)
        return {facet: dict(sorted(found, key=lambda r: (-r[1], r[0]))[:FACET_SIZE])
                for facet, found in counts.items()}

    def _highlights(self, ns: list[int], match: str) -> dict[int, dict[str, str]]:
        if not ns:
            return {}
        out: dict[int, dict[str, str]] = {}
        for n, title, snippet in self._read.execute(*sql.highlights(ns, match)):
            found = {}
            if sql.MARK_OPEN in title:
                found["title"] = sql.marked_html(title)
            if sql.MARK_OPEN in (snippet or ""):
                found["description"] = sql.marked_html(snippet)
            out[n] = found
        return out

    def suggest(self, prefix: str, size: int = 8) -> list[str]:
        query = sql.suggestions(prefix, size)
        if query is None:
            return []
        rows = self._read.execute(*query).fetchall()
        return list(dict.fromkeys(r[0] for r in rows))[:size]

    def count(self) -> int:
        n: int = self._read.execute("SELECT count(*) FROM docs").fetchone()[0]
        return n

    def refresh(self) -> None:
        """Writes are visible on commit."""

    def health(self) -> dict[str, Any]:
        try:
            return {"status": "ok", "backend": self.name, "documents": self.count()}
        except sqlite3.Error as exc:
            return {"status": "degraded", "backend": self.name, "error": str(exc)}

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._conn.close()
