"""The embedded index's tables, and bringing files of earlier layouts up to them.

- ``docs`` holds each opportunity as JSON plus the columns filters and sorts
  need (status, dates, first seen in ms, age limits, required languages:
  ``,de,en|ru,`` for German, and English or Russian; a file written before
  alternatives existed holds no ``|`` and is read alike);
- ``facets`` every facet value (and residence countries) per document;
- ``geo`` the points; ``fts`` the full-text index (``rowid`` = ``docs.n``);
- ``meta`` the ``generation`` (bumped by every write), the ``epoch`` (bumped
  by every rebuild) and ``next_n``, the number the next document gets.
"""

from __future__ import annotations

import sqlite3

# The number the next document gets: meta.next_n, or, in a file written
# before it existed, one above the highest number.
NEXT_N = ("coalesce((SELECT v FROM meta WHERE k = 'next_n'), "
          "(SELECT coalesce(max(n), 0) + 1 FROM docs))")

SCHEMA = f"""
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
    required_languages TEXT NOT NULL DEFAULT ',',  -- ',de,en|ru,' (writes.required_column): read from docs_filter
    doc TEXT NOT NULL  -- last: the columns filters read stay on the row's own page
);
DROP INDEX IF EXISTS docs_status;  -- docs_filter starts with the same columns and covers more
CREATE INDEX IF NOT EXISTS docs_filter ON docs(status, first_seen, deadline, start_date, updated_date,
    age_min, age_max, has_residence, required_languages, cluster_id, id);
DROP INDEX IF EXISTS docs_deadline;  -- docs_by_deadline: the same order, and it covers what filters read
CREATE INDEX IF NOT EXISTS docs_by_deadline ON docs(deadline, status, first_seen, start_date, updated_date,
    age_min, age_max, has_residence, required_languages, cluster_id, id);
CREATE INDEX IF NOT EXISTS docs_by_cluster ON docs(cluster_id);  -- a cluster's members (link_clusters)
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
INSERT OR IGNORE INTO meta(k, v) VALUES ('next_n', {NEXT_N});
"""
BUMP = "UPDATE meta SET v = v + 1 WHERE k = 'generation'"
_TABLES = ("docs", "facets", "geo", "fts_vocab", "fts", "meta")


def create(conn: sqlite3.Connection) -> None:
    """Bring the file up to this layout (idempotent): migrate, then create what is missing."""
    migrate(conn)
    conn.executescript(SCHEMA)


def migrate(conn: sqlite3.Connection) -> None:
    """Bring an index file of an earlier layout up to this one in place
    (columns added since, filled from what the file already holds)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(docs)")}
    if not columns or "required_languages" in columns:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("ALTER TABLE docs ADD COLUMN required_languages TEXT NOT NULL DEFAULT ','")
        conn.execute("DROP INDEX IF EXISTS docs_filter")  # made before it covered required_languages
        conn.execute("UPDATE docs SET required_languages = coalesce((SELECT ',' || group_concat(value, ',') || ',' "
                     "FROM (SELECT value FROM facets f WHERE f.n = docs.n AND f.facet = 'required_language' "
                     "ORDER BY value)), ',')")
        conn.execute(BUMP)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def recreate(conn: sqlite3.Connection) -> None:
    """Drop every table and create them empty under the next ``epoch``
    (inside the caller's transaction: ``executescript`` would commit it)."""
    epoch = 0
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
        epoch = (conn.execute("SELECT max(v) FROM meta WHERE k = 'epoch'").fetchone()[0] or 0) + 1
    for table in _TABLES:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("UPDATE meta SET v = ? WHERE k = 'epoch'", (epoch,))
