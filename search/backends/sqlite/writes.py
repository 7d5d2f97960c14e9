"""Writing documents into the embedded index, inside the caller's transaction.

Every document gets a number (``docs.n``) no document had before
(``meta.next_n``): the in-memory facet rows of a replaced or deleted document
(``facet_rows``) then match nothing. Every write bumps ``meta.generation``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from pipeline.events import Opportunity
from search.backends.base import facet_values, geo_points, place_text, required_language_groups
from search.backends.sqlite.schema import BUMP, NEXT_N
from search.backends.sqlite.sql import ms
from search.names import listing_names
from search.stemming import stem_text


def insert_all(conn: sqlite3.Connection, docs: Iterable[Opportunity], replace: bool) -> None:
    """Insert ``docs`` (replacing each one's earlier version with ``replace``)
    under new numbers."""
    n = conn.execute(f"SELECT {NEXT_N}").fetchone()[0]
    for doc in docs:
        if replace:
            delete_one(conn, doc.id)
        insert(conn, doc, n)
        n += 1
    conn.execute("INSERT OR REPLACE INTO meta(k, v) VALUES ('next_n', ?)", (n,))
    conn.execute(BUMP)


def insert(conn: sqlite3.Connection, doc: Opportunity, n: int) -> None:
    values = facet_values(doc)
    elig = doc.eligibility
    conn.execute(
        "INSERT INTO docs(n, id, doc, cluster_id, status, title, deadline, start_date, first_seen,"
        " updated_date, age_min, age_max, has_residence, required_languages)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            n, doc.id, doc.model_dump_json(), doc.cluster_id, doc.status.value, doc.title,
            doc.deadline.isoformat() if doc.deadline else None,
            doc.start_date.isoformat() if doc.start_date else None,
            ms(doc.provenance.first_seen),
            doc.updated_date.isoformat() if doc.updated_date else None, elig.age_min, elig.age_max,
            1 if elig.residence_countries else 0,
            required_column(doc),
        ),
    )
    rows = [(n, f, v) for f, vals in values.items() for v in vals]
    rows += [(n, "residence", c_) for c_ in elig.residence_countries]
    conn.executemany("INSERT OR IGNORE INTO facets(n, facet, value) VALUES (?, ?, ?)", rows)
    conn.executemany("INSERT INTO geo(n, lat, lon) VALUES (?, ?, ?)",
                     [(n, lat, lon) for lat, lon in geo_points(doc)])
    lang = (doc.language or "").lower()
    conn.execute(
        "INSERT INTO fts(rowid, title, organisation, place, description, stems) VALUES (?, ?, ?, ?, ?, ?)",
        (n, doc.title, doc.organisation.name or "", place_text(doc), doc.description_text,
         " ".join([stem_text(f"{doc.title} {doc.summary} {doc.description_text}", lang),
                   *(f"{names} {stem_text(names, name_lang)}" for name_lang, names in listing_names(doc).items())])),
    )


def required_column(doc: Opportunity) -> str:
    """``docs.required_languages``: each requirement between commas, its
    alternatives joined by ``|`` (``,de,en|ru,``: German, and English or
    Russian); ``,`` for a listing that requires no language."""
    return ",".join(["", *("|".join(group) for group in required_language_groups(doc)), ""])


def delete_one(conn: sqlite3.Connection, doc_id: str) -> None:
    row = conn.execute("SELECT n FROM docs WHERE id = ?", (doc_id,)).fetchone()
    if row is None:
        return
    for table in ("facets", "geo"):
        conn.execute(f"DELETE FROM {table} WHERE n = ?", row)
    conn.execute("DELETE FROM fts WHERE rowid = ?", row)
    conn.execute("DELETE FROM docs WHERE n = ?", row)


def delete_all(conn: sqlite3.Connection, ids: Iterable[str]) -> None:
    for doc_id in ids:
        delete_one(conn, doc_id)
    conn.execute(BUMP)


def set_also_listed_on(conn: sqlite3.Connection, updates: Iterable[tuple[str, list[str]]]) -> None:
    """Replace the ``also_listed_on`` of indexed documents (id, URLs; nothing it indexes)."""
    conn.executemany("UPDATE docs SET doc = json_set(doc, '$.provenance.also_listed_on', json(?)) WHERE id = ?",
                     ((json.dumps(urls), doc_id) for doc_id, urls in updates))
    conn.execute(BUMP)
