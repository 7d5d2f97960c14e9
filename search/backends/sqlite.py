"""The embedded search backend: SQLite with an FTS5 full-text index.

One file (``sqlite:///<data_dir>/search.sqlite3``). Documents are stored as
JSON; an FTS5 table (unicode61 tokenizer with diacritics removed, so "Rīga"
matches "riga") indexes title, organisation and description, ranked by BM25
with the title weighted highest; facet values live in a side table so filters
and facet counts are plain SQL.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from pathlib import Path
from typing import Any

from pipeline.events import Opportunity
from search.backends.base import (
    FACETS,
    DocumentRejected,
    SearchHit,
    SearchRequest,
    SearchResult,
    SearchUnavailable,
    facet_values,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    status TEXT NOT NULL,
    deadline TEXT,
    updated TEXT
);
CREATE TABLE IF NOT EXISTS facets (
    id TEXT NOT NULL,
    facet TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (facet, value, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS facets_by_id ON facets(id);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    id UNINDEXED, title, organisation, description,
    tokenize = 'unicode61 remove_diacritics 2'
);
"""

# BM25 column weights: id (unindexed), title, organisation, description.
_BM25 = "bm25(fts, 0.0, 5.0, 2.0, 1.0)"
_TOKEN = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str | None:
    """User text → a safe FTS5 query: every word must match (prefix on the last).

    Words are quoted, so FTS5 syntax in user input (``NEAR``, ``*``, ``"``,
    column filters) is matched literally and never raises.
    """
    words = _TOKEN.findall(text)
    if not words:
        return None
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " AND ".join(quoted)


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
        except sqlite3.Error as exc:
            raise SearchUnavailable(f"cannot open search index {self.path}: {exc}") from exc

    def setup(self) -> None:
        with self._lock:
            self._conn.executescript(_SCHEMA)

    def upsert_many(self, docs: list[Opportunity]) -> list[DocumentRejected]:
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                for doc in docs:
                    self._delete_one(doc.id)
                    c.execute(
                        "INSERT INTO docs(id, doc, status, deadline, updated) VALUES (?, ?, ?, ?, ?)",
                        (
                            doc.id,
                            doc.model_dump_json(),
                            doc.status.value,
                            doc.deadline.isoformat() if doc.deadline else None,
                            doc.provenance.last_seen.isoformat(),
                        ),
                    )
                    c.executemany(
                        "INSERT OR IGNORE INTO facets(id, facet, value) VALUES (?, ?, ?)",
                        [(doc.id, f, v) for f, vals in facet_values(doc).items() for v in vals],
                    )
                    c.execute(
                        "INSERT INTO fts(id, title, organisation, description) VALUES (?, ?, ?, ?)",
                        (doc.id, doc.title, doc.organisation.name or "", doc.description_text),
                    )
                c.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                c.execute("ROLLBACK")
                raise SearchUnavailable(f"search index write failed: {exc}") from exc
            except BaseException:
                c.execute("ROLLBACK")
                raise
        return []

    def _delete_one(self, doc_id: str) -> None:
        self._conn.execute("DELETE FROM docs WHERE id = ?", (doc_id,))
        self._conn.execute("DELETE FROM facets WHERE id = ?", (doc_id,))
        self._conn.execute("DELETE FROM fts WHERE id = ?", (doc_id,))

    def delete_many(self, ids: list[str]) -> None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for doc_id in ids:
                    self._delete_one(doc_id)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def get(self, doc_id: str) -> dict[str, Any] | None:
        row = self._conn.execute("SELECT doc FROM docs WHERE id = ?", (doc_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def _where(self, request: SearchRequest, skip_facet: str | None) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if not request.include_closed:
            clauses.append("d.status = 'open'")
        for facet, values in request.filters().items():
            if facet == skip_facet:
                continue
            marks = ",".join("?" * len(values))
            clauses.append(
                f"d.id IN (SELECT id FROM facets WHERE facet = ? AND value IN ({marks}))"
            )
            params += [facet, *values]
        match = fts_query(request.q) if request.q else None
        if request.q and match is None:
            clauses.append("0")  # only punctuation: nothing can match
        if match:
            clauses.append("d.id IN (SELECT id FROM fts WHERE fts MATCH ?)")
            params.append(match)
        return (" AND ".join(clauses) or "1"), params

    def search(self, request: SearchRequest) -> SearchResult:
        where, params = self._where(request, None)
        total = self._conn.execute(f"SELECT count(*) FROM docs d WHERE {where}", params).fetchone()[0]
        offset = (request.page - 1) * request.size
        match = fts_query(request.q) if request.q else None
        if match:
            rows = self._conn.execute(
                f"SELECT d.id, d.doc, {_BM25} AS rank FROM fts JOIN docs d ON d.id = fts.id "
                f"WHERE fts MATCH ? AND {where} ORDER BY rank, d.id LIMIT ? OFFSET ?",
                [match, *params, request.size, offset],
            ).fetchall()
            hits = [SearchHit(id=r[0], score=-r[2], opportunity=json.loads(r[1])) for r in rows]
        else:
            rows = self._conn.execute(
                f"SELECT d.id, d.doc FROM docs d WHERE {where} "
                "ORDER BY d.updated DESC, d.id LIMIT ? OFFSET ?",
                [*params, request.size, offset],
            ).fetchall()
            hits = [SearchHit(id=r[0], score=None, opportunity=json.loads(r[1])) for r in rows]
        facets: dict[str, dict[str, int]] = {}
        for facet in FACETS:
            fwhere, fparams = self._where(request, facet)
            counts = self._conn.execute(
                "SELECT f.value, count(*) FROM facets f JOIN docs d ON d.id = f.id "
                f"WHERE f.facet = ? AND {fwhere} GROUP BY f.value ORDER BY count(*) DESC, f.value",
                [facet, *fparams],
            ).fetchall()
            facets[facet] = {v: n for v, n in counts}
        return SearchResult(total=total, hits=hits, facets=facets, page=request.page, size=request.size)

    def count(self) -> int:
        return self._conn.execute("SELECT count(*) FROM docs").fetchone()[0]

    def refresh(self) -> None:
        """Writes are visible on commit."""

    def health(self) -> dict[str, Any]:
        try:
            return {"status": "ok", "backend": self.name, "documents": self.count()}
        except sqlite3.Error as exc:
            return {"status": "degraded", "backend": self.name, "error": str(exc)}

    def close(self) -> None:
        self._conn.close()
