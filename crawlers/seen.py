"""Per-source seen-set: what each listing looked like at the last crawl.

One SQLite file per source under ``<TILTS_DATA_DIR>/crawl-state/``. For every
listing a crawl finds, ``observe`` says whether it is ``new``, ``changed`` or
``unchanged`` (by a hash of what the source published, ignoring when we
fetched it), so an unchanged listing is not published again. After a
*complete* crawl, ``finish`` counts a miss for every known listing the crawl
did not find and returns those missing for ``close_after`` consecutive
complete crawls: the crawl reports them (``CrawlStats.missing``) and the
normalizer closes them. A listing that comes back is new again.

Waiting several crawls is for sources whose listing pages or feeds may not
show everything at once; a listing's own page says more. The seen-set keeps
each listing's URL, so the crawl can ask the missing ones' pages
(:meth:`SeenSet.unconfirmed`, crawlers/pipelines.py): one that answers 404 or
410 is gone now, and ``missing(..., gone=...)`` reports it after this crawl.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from pipeline.events import stable_hash
from pipeline.sqlite_files import open_wal

VOLATILE = {"crawl_id", "fetched_at"}
CLOSE_AFTER_MISSED_CRAWLS = 3


def content_hash(item: dict[str, Any]) -> str:
    return stable_hash({k: v for k, v in item.items() if k not in VOLATILE})


def _create(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE IF NOT EXISTS listings (external_id TEXT PRIMARY KEY, hash TEXT NOT NULL,"
        " last_crawl TEXT NOT NULL, misses INTEGER NOT NULL DEFAULT 0, closed INTEGER NOT NULL"
        " DEFAULT 0, url TEXT)")
    if "url" not in {r[1] for r in db.execute("PRAGMA table_info(listings)")}:
        try:  # a seen-set of an earlier version
            db.execute("ALTER TABLE listings ADD COLUMN url TEXT")
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc):  # another crawl added it just now
                raise
    db.commit()


class SeenSet:
    def __init__(self, path: Path, crawl_id: str) -> None:
        self.crawl_id = crawl_id
        self.db = open_wal(path, _create)

    def observe(self, external_id: str, item: dict[str, Any], digest: str | None = None) -> str:
        """``new``, ``changed`` or ``unchanged``; records the listing as seen in this crawl.

        ``digest`` replaces the item's own hash when a spider knows better what
        "changed" means (the European Youth Portal spider hashes the API record,
        so an unchanged one costs no detail page)."""
        digest = digest or content_hash(item)
        row = self.db.execute("SELECT hash, closed FROM listings WHERE external_id = ?",
                              (external_id,)).fetchone()
        url = item.get("url")
        self.db.execute(
            "INSERT INTO listings (external_id, hash, last_crawl, misses, closed, url) VALUES (?, ?, ?, 0, 0, ?)"
            " ON CONFLICT(external_id) DO UPDATE SET hash = excluded.hash,"
            " last_crawl = excluded.last_crawl, misses = 0, closed = 0, url = excluded.url",
            (external_id, digest, self.crawl_id, url if isinstance(url, str) else None))
        if row is None or row[1]:
            return "new"
        return "unchanged" if row[0] == digest else "changed"

    def unconfirmed(self, close_after: int = CLOSE_AFTER_MISSED_CRAWLS, limit: int = 100
                    ) -> list[tuple[str, str]]:
        """(external id, URL) of open listings this crawl has not found so far and
        that this crawl's miss would not yet close: those whose page is worth
        asking. Those missed longest first, at most ``limit``."""
        return [(r[0], r[1]) for r in self.db.execute(
            "SELECT external_id, url FROM listings WHERE closed = 0 AND last_crawl != ? AND url IS NOT NULL"
            " AND misses + 1 < ? ORDER BY misses DESC, external_id LIMIT ?", (self.crawl_id, close_after, limit))]

    def missing(self, complete: bool, close_after: int = CLOSE_AFTER_MISSED_CRAWLS,
                gone: frozenset[str] | set[str] = frozenset()) -> list[str]:
        """After a crawl: listings now missing ``close_after`` complete crawls in a
        row, and those missing now whose own page said they are ``gone``.

        Nothing is committed yet: see :meth:`commit`.
        """
        if not complete:
            return []
        self.db.execute("UPDATE listings SET misses = misses + 1 WHERE last_crawl != ? AND closed = 0",
                        (self.crawl_id,))
        return sorted(ext for ext, misses in self.db.execute(
            "SELECT external_id, misses FROM listings WHERE closed = 0 AND misses > 0")
            if misses >= close_after or ext in gone)

    def commit(self, closed: list[str]) -> None:
        """Make this crawl's observations durable, once the bus has what was published."""
        self.db.executemany("UPDATE listings SET closed = 1 WHERE external_id = ?",
                            [(m,) for m in closed])
        self.db.commit()

    def close(self) -> None:
        self.db.close()


def known_hashes(path: Path) -> dict[str, str]:
    """external_id → hash of every open listing a source's seen-set holds (read-only)."""
    if not path.exists():
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return dict(db.execute("SELECT external_id, hash FROM listings WHERE closed = 0"))
    except sqlite3.DatabaseError:  # no table yet, or not readable: every listing counts as new
        return {}
    finally:
        db.close()
