"""The embedded search backend: SQLite with an FTS5 full-text index.

One file (``sqlite:///<data_dir>/search.sqlite3``), the same request model and
semantics as Elasticsearch (see ``base``):

- ``docs`` holds each opportunity as JSON plus the columns filters and sorts
  need (status, dates, first seen in ms, age limits); ``facets`` holds every
  facet value (and residence countries) per document; ``geo`` the points,
  measured with the same great-circle formula Elasticsearch uses.
- ``fts`` (unicode61, diacritics removed, so "Riga" finds "Rīga") indexes
  title, organisation, description and the description's *stems* in the
  listing's language (``search.stemming``); a query word matches as a prefix
  or by any of its stems, ranked by BM25 with the title weighted highest.
- Writers use one connection under a lock; WAL lets readers see the last
  committed state while a rebuild is in flight (zero downtime reindex).
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.events import Opportunity
from search.backends.base import (
    ALL_OF_FACETS,
    FACETS,
    DocumentRejected,
    SearchHit,
    SearchRequest,
    SearchResult,
    SearchUnavailable,
    Sort,
    encode_cursor,
    facet_values,
    geo_points,
    haversine_km,
    place_text,
)
from search.backends.facet_rows import FacetRows, IndexState, numbers, refreshed
from search.stemming import query_variants, stem_text

log = logging.getLogger(__name__)

# The number the next document gets: meta.next_n, or, in a file written
# before it existed, one above the highest number.
_NEXT_N = ("coalesce((SELECT v FROM meta WHERE k = 'next_n'), "
           "(SELECT coalesce(max(n), 0) + 1 FROM docs))")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS docs (
    n INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    cluster_id TEXT NOT NULL,
    status TEXT NOT NULL,
    title TEXT NOT NULL,
    deadline TEXT,
    start_date TEXT,
    first_seen INTEGER NOT NULL,
    updated_date TEXT,
    age_min INTEGER,
    age_max INTEGER,
    has_residence INTEGER NOT NULL DEFAULT 0,
    required_languages TEXT NOT NULL DEFAULT ',',  -- ',de,en,': the speaks filter reads it from docs_filter
    doc TEXT NOT NULL  -- last: the columns filters read stay on the row's own page
);
DROP INDEX IF EXISTS docs_status;  -- docs_filter starts with the same columns and covers more
CREATE INDEX IF NOT EXISTS docs_filter ON docs(status, first_seen, deadline, start_date, updated_date,
    age_min, age_max, has_residence, required_languages, cluster_id, id);
DROP INDEX IF EXISTS docs_deadline;  -- docs_by_deadline: the same order, and it covers what filters read
CREATE INDEX IF NOT EXISTS docs_by_deadline ON docs(deadline, status, first_seen, start_date, updated_date,
    age_min, age_max, has_residence, required_languages, cluster_id, id);
CREATE TABLE IF NOT EXISTS facets (
    n INTEGER NOT NULL,
    facet TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (facet, value, n)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS facets_by_n ON facets(n, facet, value);
CREATE TABLE IF NOT EXISTS geo (n INTEGER NOT NULL, lat REAL NOT NULL, lon REAL NOT NULL);
CREATE INDEX IF NOT EXISTS geo_by_n ON geo(n);
CREATE INDEX IF NOT EXISTS geo_by_lat ON geo(lat, lon, n);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    title, organisation, place, description, stems,
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS fts_vocab USING fts5vocab(fts, row);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
INSERT OR IGNORE INTO meta(k, v) VALUES ('generation', 0);
INSERT OR IGNORE INTO meta(k, v) VALUES ('epoch', 0);
INSERT OR IGNORE INTO meta(k, v) VALUES ('next_n', {_NEXT_N});
"""
_BUMP = "UPDATE meta SET v = v + 1 WHERE k = 'generation'"
FACET_CACHE_SIZE = 512
# Readers map the file: a row looked up by number is a memory read, not a
# read() call (about a third faster for match sets of 10,000 rows).
READ_MMAP_BYTES = 1 << 30
# A facet filter matching more than this share of documents is tested per
# document rather than used to look documents up (see ``_where``).
BROAD_FACET_SHARE = 0.3

# BM25 column weights: title, organisation, place, description, stems (rowid = docs.n).
_BM25 = "bm25(fts, 5.0, 2.0, 2.0, 1.0, 1.0)"
_TOKEN = re.compile(r"\w+", re.UNICODE)
_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"


def _quote(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def fts_query(text: str) -> str | None:
    """User text → a safe FTS5 query: every word must match, as a prefix or
    by one of its stems. Words are quoted, so FTS5 syntax in user input
    (``NEAR``, ``*``, ``"``, column filters) is matched literally and never raises."""
    words = [w.lower() for w in _TOKEN.findall(text)]
    if not words:
        return None
    parts = []
    for word in words:
        stems = " OR ".join(_quote(s) for s in query_variants(word))
        parts.append(f"({_quote(word)}* OR stems : ({stems}))")
    return " AND ".join(parts)


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _marked_html(text: str | None) -> str:
    """FTS5 highlight output → escaped HTML with <mark> (source text stays inert)."""
    escaped = html.escape(text or "", quote=False)
    return escaped.replace(_MARK_OPEN, "<mark>").replace(_MARK_CLOSE, "</mark>")


def _bounding_box(lat: float, lon: float, km: float) -> tuple[str, list[float]]:
    """A latitude (and, away from the poles and the antimeridian, longitude)
    range holding every point within ``km`` of (lat, lon), so the exact
    distance is computed only for points inside it (Matuschek's bounds)."""
    r = km / 6371.0088
    center = math.radians(lat)
    low, high = center - r, center + r
    eps = 1e-6  # degrees, against rounding at the edge
    clause, params = "lat BETWEEN ? AND ?", [math.degrees(low) - eps, math.degrees(high) + eps]
    if low > -math.pi / 2 and high < math.pi / 2:
        ratio = math.sin(r) / math.cos(center)
        if ratio < 1:
            spread = math.degrees(math.asin(ratio)) + eps
            if lon - spread >= -180 and lon + spread <= 180:
                clause += " AND lon BETWEEN ? AND ?"
                params += [lon - spread, lon + spread]
    return clause, params


class SqliteBackend:
    name = "sqlite"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA busy_timeout=30000")
            self._conn.create_function("dist_km", 4, haversine_km, deterministic=True)
            try:  # SQLite built with its math functions (SQLITE_ENABLE_MATH_FUNCTIONS)?
                self._sql_math = self._conn.execute("SELECT asin(sin(radians(1.0)))").fetchone()[0] is not None
            except sqlite3.OperationalError:
                self._sql_math = False
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
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute(f"PRAGMA mmap_size={READ_MMAP_BYTES}")
            conn.create_function("dist_km", 4, haversine_km, deterministic=True)
            self._local.conn = conn
        return conn

    def setup(self) -> None:
        with self._lock:
            try:
                self._migrate()
                self._conn.executescript(_SCHEMA)
            except sqlite3.OperationalError as exc:
                if "no such column" in str(exc) or "has no column" in str(exc):
                    raise SearchUnavailable(
                        f"{self.path} has an older layout; run `tilts reindex` to rebuild it"
                    ) from exc
                raise

    def _migrate(self) -> None:
        """Bring an index file of an earlier layout up to this one in place
        (columns added since, filled from what the file already holds)."""
        c = self._conn
        columns = {row[1] for row in c.execute("PRAGMA table_info(docs)")}
        if not columns or "required_languages" in columns:
            return
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute("ALTER TABLE docs ADD COLUMN required_languages TEXT NOT NULL DEFAULT ','")
            c.execute("DROP INDEX IF EXISTS docs_filter")  # made before it covered required_languages
            c.execute("UPDATE docs SET required_languages = coalesce((SELECT ',' || group_concat(value, ',') || ',' "
                      "FROM (SELECT value FROM facets f WHERE f.n = docs.n AND f.facet = 'required_language' "
                      "ORDER BY value)), ',')")
            c.execute(_BUMP)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------ writing

    def _insert_all(self, docs: Iterable[Opportunity], replace: bool) -> None:
        """Insert ``docs`` (replacing each one's earlier version with
        ``replace``) under numbers no document had before (``meta.next_n``):
        in-memory facet rows of a replaced document then match nothing."""
        c = self._conn
        n = c.execute(f"SELECT {_NEXT_N}").fetchone()[0]
        for doc in docs:
            if replace:
                self._delete_one(doc.id)
            self._insert(doc, n)
            n += 1
        c.execute("INSERT OR REPLACE INTO meta(k, v) VALUES ('next_n', ?)", (n,))
        c.execute(_BUMP)

    def _insert(self, doc: Opportunity, n: int) -> None:
        c = self._conn
        values = facet_values(doc)
        elig = doc.eligibility
        c.execute(
            "INSERT INTO docs(n, id, doc, cluster_id, status, title, deadline, start_date, first_seen,"
            " updated_date, age_min, age_max, has_residence, required_languages)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                n, doc.id, doc.model_dump_json(), doc.cluster_id, doc.status.value, doc.title,
                doc.deadline.isoformat() if doc.deadline else None,
                doc.start_date.isoformat() if doc.start_date else None,
                _ms(doc.provenance.first_seen),
                doc.updated_date.isoformat() if doc.updated_date else None, elig.age_min, elig.age_max,
                1 if elig.residence_countries else 0,
                ",".join(["", *sorted(values.get("required_language", ())), ""]),
            ),
        )
        rows = [(n, f, v) for f, vals in values.items() for v in vals]
        rows += [(n, "residence", c_) for c_ in elig.residence_countries]
        c.executemany("INSERT OR IGNORE INTO facets(n, facet, value) VALUES (?, ?, ?)", rows)
        c.executemany("INSERT INTO geo(n, lat, lon) VALUES (?, ?, ?)",
                      [(n, lat, lon) for lat, lon in geo_points(doc)])
        lang = (doc.language or "").lower()
        c.execute(
            "INSERT INTO fts(rowid, title, organisation, place, description, stems) VALUES (?, ?, ?, ?, ?, ?)",
            (n, doc.title, doc.organisation.name or "", place_text(doc), doc.description_text,
             stem_text(f"{doc.title} {doc.summary} {doc.description_text}", lang)),
        )

    def upsert_many(self, docs: list[Opportunity]) -> list[DocumentRejected]:
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                self._insert_all(docs, replace=True)
                c.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                c.execute("ROLLBACK")
                raise SearchUnavailable(f"search index write failed: {exc}") from exc
            except BaseException:
                c.execute("ROLLBACK")
                raise
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

    def rebuild(self, docs: list[Opportunity], keep: int = 1) -> tuple[str, str | None, list[str]]:
        """Rebuild the whole index from ``docs`` in one transaction: readers
        see the old index until the commit, then the new one. An index file
        of an older layout is dropped and recreated first."""
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                epoch = 0
                if c.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
                    epoch = (c.execute("SELECT max(v) FROM meta WHERE k = 'epoch'").fetchone()[0] or 0) + 1
                for table in ("docs", "facets", "geo", "fts_vocab", "fts", "meta"):
                    c.execute(f"DROP TABLE IF EXISTS {table}")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        c.execute(statement)
                c.execute("UPDATE meta SET v = ? WHERE k = 'epoch'", (epoch,))
                self._insert_all(docs, replace=False)
                c.execute("ANALYZE")
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        return str(self.path), None, []

    def _delete_one(self, doc_id: str) -> None:
        row = self._conn.execute("SELECT n FROM docs WHERE id = ?", (doc_id,)).fetchone()
        if row is None:
            return
        for table in ("facets", "geo"):
            self._conn.execute(f"DELETE FROM {table} WHERE n = ?", row)
        self._conn.execute("DELETE FROM fts WHERE rowid = ?", row)
        self._conn.execute("DELETE FROM docs WHERE n = ?", row)

    def delete_many(self, ids: list[str]) -> None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for doc_id in ids:
                    self._delete_one(doc_id)
                self._conn.execute(_BUMP)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def get(self, doc_id: str) -> dict[str, Any] | None:
        row = self._read.execute("SELECT doc FROM docs WHERE id = ?", (doc_id,)).fetchone()
        return json.loads(row[0]) if row else None

    # ------------------------------------------------------------ reading

    def _like_query(self, doc_id: str) -> str | None:
        """The liked document's most distinctive words (tf × idf), OR-ed."""
        row = self._read.execute("SELECT f.title, f.description FROM fts f JOIN docs d ON d.n = f.rowid "
                                 "WHERE d.id = ?", (doc_id,)).fetchone()
        if not row:
            return None
        words: dict[str, int] = {}
        for w in _TOKEN.findall(f"{row[0]} {row[0]} {row[1]}".lower()):
            if len(w) > 2 and not w.isdigit():
                words[w] = words.get(w, 0) + 1
        if not words:
            return None
        n_docs = max(1, self.count())
        marks = ",".join("?" * len(words))
        df = dict(self._read.execute(f"SELECT term, doc FROM fts_vocab WHERE term IN ({marks})",
                                     list(words)).fetchall())
        scored = sorted(words, key=lambda w: (-words[w] * math.log(1 + n_docs / (1 + df.get(w, 0))), w))
        return "{title organisation description} : (" + " OR ".join(_quote(w) for w in scored[:25]) + ")"

    def _where(self, request: SearchRequest, skip_facet: str | None,
               like: tuple[str, str] | None, rows: FacetRows) -> tuple[str, list[Any]]:
        """The filters as SQL over ``docs d`` and the joins of ``_joins``
        (the distance filter reads ``g.dist``)."""
        clauses: list[str] = []
        params: list[Any] = []
        if request.status:
            clauses.append(f"d.status IN ({','.join('?' * len(request.status))})")
            params += request.status

        def member(facet: str, values: list[str]) -> str:
            # SQLite cannot tell a broad facet value from a narrow one, and
            # would look every member up by number; a unary + on a broad one
            # makes it scan docs_filter and test membership instead.
            broad = rows.share(facet, values) > BROAD_FACET_SHARE
            marks = ",".join("?" * len(values))
            return f"{'+' if broad else ''}d.n IN (SELECT n FROM facets WHERE facet = ? AND value IN ({marks}))"

        for facet, values in request.filters().items():
            if facet == skip_facet:
                continue
            if facet in ALL_OF_FACETS:
                for v in values:
                    clauses.append(member(facet, [v]))
                    params += [facet, v]
            else:
                clauses.append(member(facet, values))
                params += [facet, *values]
        if request.speaks:
            # strike every spoken language from ',de,en,': nothing may be left
            spoken = [code for code in request.speaks if "," not in code]
            struck = "d.required_languages"
            for code in spoken:
                struck = f"replace({struck}, ?, ',')"
                params.append(f",{code},")
            # most listings require no language: the comparison spares them the replaces
            clauses.append(f"(d.required_languages = ',' OR {struck} = ',')")
        if request.age is not None:
            clauses.append("(d.age_min IS NULL OR d.age_min <= ?) AND (d.age_max IS NULL OR d.age_max >= ?)")
            params += [request.age, request.age]
        if request.resident:
            clauses.append("(d.has_residence = 0 OR d.n IN "
                           "(SELECT n FROM facets WHERE facet = 'residence' AND value = ?))")
            params.append(request.resident)
        for column, low, high in (("deadline", request.deadline_from, request.deadline_to),
                                  ("start_date", request.start_from, request.start_to)):
            if low:
                clauses.append(f"d.{column} >= ?")
                params.append(low.isoformat())
            if high:
                clauses.append(f"d.{column} <= ?")
                params.append(high.isoformat())
        if request.changed_since is not None:
            clauses.append("(d.first_seen >= ? OR d.updated_date >= ?)")
            params += [_ms(request.changed_since), request.changed_since.date().isoformat()]
        if request.within_km is not None:
            clauses.append("g.dist <= ?")
            params.append(request.within_km)
        if like:
            clauses.append("d.id != ? AND d.cluster_id != ?")
            params += list(like)
        return (" AND ".join(clauses) or "1"), params

    def _match(self, request: SearchRequest) -> tuple[str | None, bool]:
        """The FTS expression for the text or the liked document, and whether
        nothing can match (text of punctuation only, an unknown liked id)."""
        if request.like:
            q = self._like_query(request.like)
            return q, q is None
        if request.text:
            q = fts_query(request.text)
            return q, q is None
        return None, False

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
        match, impossible = self._match(request)
        like = None
        if request.like and not impossible:
            liked = self.get(request.like) or {}
            like = (request.like, liked.get("cluster_id", request.like))
        if impossible:
            return SearchResult(total=0, clusters=0, hits=[], facets={f: {} for f in FACETS},
                                page=request.page, size=request.size)
        c = self._read
        sort = request.effective_sort
        state = self._index_state()
        rows = self._facet_rows(state)
        where, params = self._where(request, None, like, rows)
        joins, join_params = self._joins(request, match)
        dist_col, dist_params = "NULL", []
        if request.within_km is not None:
            dist_col = "g.dist"
        elif request.lat is not None:
            dist, dist_params = self._distance("g.lat", "g.lon", request.lat, request.lon)
            dist_col = f"(SELECT min({dist}) FROM geo g WHERE g.n = d.n)"
        # The matching set, once, with what sorting needs.
        c.execute("CREATE TEMP TABLE IF NOT EXISTS _m (n INTEGER PRIMARY KEY, id TEXT, cluster_id TEXT, "
                  "first_seen INTEGER, deadline TEXT, rank REAL, dist REAL)")
        c.execute("DELETE FROM _m")
        c.execute(
            f"INSERT INTO _m SELECT d.n, d.id, d.cluster_id, d.first_seen, d.deadline, "
            f"{'r.rank' if match else '0'}, {dist_col} FROM docs d {joins} WHERE {where}",
            [*dist_params, *join_params, *params],
        )
        total, clusters = c.execute("SELECT count(*), count(DISTINCT cluster_id) FROM _m").fetchone()
        order = {
            Sort.relevance: "rank ASC, id ASC",
            Sort.deadline: "deadline IS NULL, deadline ASC, id ASC",
            Sort.distance: "dist IS NULL, dist ASC, id ASC",
            Sort.newest: "first_seen DESC, id ASC",
        }[sort]
        offset = request.offset()
        if request.collapse and clusters < total:
            page = self._collapsed_page(order, offset, request.size)
        else:
            page = c.execute(f"SELECT n, rank, dist FROM _m ORDER BY {order} LIMIT ? OFFSET ?",
                             [request.size, offset]).fetchall()
        docs = {}
        if page:
            marks = ",".join("?" * len(page))
            docs = dict(c.execute(f"SELECT n, doc FROM docs WHERE n IN ({marks})", [r[0] for r in page]).fetchall())
        marks_by_n = self._highlights([r[0] for r in page], match) if match and request.text else {}
        hits = []
        for n, rank, dist in page:
            doc = json.loads(docs[n])
            hits.append(SearchHit(
                id=doc["id"], score=(-rank if match else None), opportunity=doc,
                distance_km=round(dist, 3) if dist is not None and sort == Sort.distance else None,
                highlight=marks_by_n.get(n, {}),
            ))
        reachable = clusters if request.collapse else total
        nxt = offset + len(page)
        next_cursor = (encode_cursor({"o": nxt}) if page and len(page) == request.size
                       and nxt < min(reachable, 10_000) else None)
        return SearchResult(
            total=total, clusters=clusters, hits=hits,
            facets=self._facets(request, like, (joins, join_params), (where, params), (state, rows)),
            page=request.page, size=request.size, next_cursor=next_cursor,
        )

    def _distance(self, lat: str, lon: str, to_lat: float, to_lon: float) -> tuple[str, list[float]]:
        """SQL for the great-circle distance in km from the point in columns
        ``lat``/``lon`` to (to_lat, to_lon): ``haversine_km``'s formula in
        SQLite's own math functions (no Python call per point; the same
        doubles), or the ``dist_km`` function where SQLite lacks them."""
        if not self._sql_math:
            return f"dist_km({lat}, {lon}, ?, ?)", [to_lat, to_lon]
        center = math.radians(to_lat)
        sql = (f"2 * 6371.0088 * asin(min(1.0, sqrt(power(sin((radians({lat}) - ?) / 2), 2) "
               f"+ ? * cos(radians({lat})) * power(sin(radians({lon} - ?) / 2), 2))))")
        return sql, [center, math.cos(center), to_lon]

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

    def _joins(self, request: SearchRequest, match: str | None) -> tuple[str, list[Any]]:
        """The text match with its rank (``r``) and the points within the
        distance with the nearest one's (``g``): each point in the box is
        measured once, for the filter and the sort (a listing within the
        distance has its nearest point in the box)."""
        joins, params = [], []
        if match:
            joins.append(f"JOIN (SELECT rowid AS rn, {_BM25} AS rank FROM fts WHERE fts MATCH ?) r ON r.rn = d.n")
            params.append(match)
        if request.within_km is not None:
            box, box_params = _bounding_box(request.lat, request.lon, request.within_km)
            dist, point = self._distance("lat", "lon", request.lat, request.lon)
            joins.append(f"JOIN (SELECT n AS gn, min({dist}) AS dist FROM geo WHERE {box} GROUP BY n) g "
                         "ON g.gn = d.n")
            params += [*point, *box_params]
        return " ".join(joins), params

    def _cached(self, key: tuple[Any, ...], compute: Any) -> Any:
        """Facet counts by (query, parameters, index generation): a repeated
        browse costs one lookup; any write makes every entry stale."""
        with self._cache_lock:
            if key in self._facet_cache:
                self._facet_cache.move_to_end(key)
                return self._facet_cache[key]
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
            f"{_NEXT_N}").fetchone()
        return IndexState(epoch or 0, generation, next_n - 1)

    def _facet_rows(self, state: IndexState) -> FacetRows:
        """Facet rows that cover this transaction's snapshot (``facet_rows``)."""
        with self._rows_lock:
            rows = refreshed(self._rows, self._read, state)
            if rows.newer_than(self._rows):
                self._rows = rows
            return rows

    def _facets(self, request: SearchRequest, like: tuple[str, str] | None,
                joined: tuple[str, list[Any]], matched: tuple[str, list[Any]],
                index: tuple[IndexState, FacetRows]) -> dict[str, dict[str, int]]:
        """Counts over the matching set (``_m``) in one pass for the facets
        without a selection; a selected facet counts the documents matching
        every filter but its own. Counted in memory (``facet_rows``)."""
        c = self._read
        state, rows = index
        selected = request.filters()
        counts: dict[str, list[tuple[str, int]]] = {f: [] for f in FACETS}
        free = [f for f in FACETS if f not in selected]
        where, params = matched  # the clause that filled _m
        joins, join_params = joined  # its joins (``_joins``)
        if free:
            def free_counts() -> dict[str, list[tuple[str, int]]]:
                return rows.count(numbers(c, "SELECT n FROM _m"), free)

            key = ("free", where, tuple(map(str, params)), tuple(map(str, join_params)), tuple(free), state)
            counts.update(self._cached(key, free_counts))
        for facet in selected:
            fwhere, fparams = self._where(request, facet, like, rows)
            sql = f"SELECT d.n FROM docs d {joins} WHERE {fwhere}"
            args = [*join_params, *fparams]

            def own_counts(sql: str = sql, args: list[Any] = args, facet: str = facet) -> list[tuple[str, int]]:
                return rows.count(numbers(c, sql, args), [facet])[facet]

            counts[facet] = self._cached(("own", sql, tuple(map(str, args)), facet, state), own_counts)
        return {facet: dict(sorted(found, key=lambda r: (-r[1], r[0]))[:250]) for facet, found in counts.items()}

    def _highlights(self, ns: list[int], match: str) -> dict[int, dict[str, str]]:
        if not ns:
            return {}
        # One pass over the match that marks only the page's rows: with a
        # rowid constraint FTS5 expands a prefix query again for every row
        # (30 ms for 20 rows of "hamburg*" at 100k documents, over a second
        # for "a*"), a pass costs about half a microsecond per matching row.
        # The other rows are dropped in SQLite, not handed to Python.
        marks = ",".join("?" * len(ns))
        rows = self._read.execute(
            f"SELECT n, title, snippet FROM (SELECT rowid AS n, "
            f"CASE WHEN rowid IN ({marks}) THEN highlight(fts, 0, ?, ?) END AS title, "
            f"CASE WHEN rowid IN ({marks}) THEN snippet(fts, 3, ?, ?, '…', 30) END AS snippet "
            f"FROM fts WHERE fts MATCH ?) WHERE title IS NOT NULL",
            [*ns, _MARK_OPEN, _MARK_CLOSE, *ns, _MARK_OPEN, _MARK_CLOSE, match],
        )
        out: dict[int, dict[str, str]] = {}
        for n, title, snippet in rows:
            found = {}
            if _MARK_OPEN in title:
                found["title"] = _marked_html(title)
            if _MARK_OPEN in (snippet or ""):
                found["description"] = _marked_html(snippet)
            out[n] = found
        return out

    def suggest(self, prefix: str, size: int = 8) -> list[str]:
        words = [w.lower() for w in _TOKEN.findall(prefix)]
        if not words:
            return []
        match = "title : (" + " AND ".join(f"{_quote(w)}*" for w in words) + ")"
        rows = self._read.execute(
            f"SELECT d.title FROM docs d JOIN (SELECT rowid AS rn, {_BM25} AS rank FROM fts WHERE fts MATCH ?) r "
            "ON r.rn = d.n WHERE d.status = 'open' ORDER BY r.rank, d.id LIMIT ?",
            [match, size * 5],
        ).fetchall()
        return list(dict.fromkeys(r[0] for r in rows))[:size]

    def count(self) -> int:
        return self._read.execute("SELECT count(*) FROM docs").fetchone()[0]

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
