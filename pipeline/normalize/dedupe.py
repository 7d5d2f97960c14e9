"""Near-duplicate clustering: one card per real opportunity.

The same opportunity is often listed by its host, a national portal and the
European Youth Portal. Each listing's *signature* is the set of words of its
title, organisation and place plus its start/end dates (folded, stop words
dropped). MinHash LSH (datasketch) finds candidate listings whose signatures
look alike; a candidate becomes a duplicate when the exact Jaccard similarity
of the two signatures reaches ``threshold`` and nothing contradicts it
(different start dates, different countries). Clusters are the connected
components of that relation; ``cluster_id`` is the id of the member seen
first (ties by id), so it stays stable as listings join, and
``also_listed_on`` holds the other members' URLs.

Listings in different languages share too few words to be found this way.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import tempfile
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from datasketch import MinHash, MinHashLSH

from pipeline.events import Opportunity
from pipeline.normalize.text import fold

NUM_PERM = 64
THRESHOLD = 0.5
MAX_CANDIDATES = 256
_WORD = re.compile(r"\w+")
_SEP = "\x1f"
_STOP = set(
    "the and for with from into our your des der die das und les une pour dans avec del los las "
    "per con della nel una uno par sur aux een het van voor met ir su uz un ar par для при под "
    "над или без это".split()
)


def signature(opp: Opportunity) -> frozenset[str]:
    place = opp.locations[0] if opp.locations else None
    text = " ".join(filter(None, [
        opp.title, opp.organisation.name, place.city if place else None,
        place.country if place else None,
    ]))
    words = {w for w in _WORD.findall(fold(text)) if len(w) > 2 and w not in _STOP}
    if place and place.country:
        words.add(place.country.lower())
    for label, day in (("start", opp.start_date), ("end", opp.end_date)):
        if day:
            words.add(f"{label}:{day.isoformat()}")
    return frozenset(words)


Fingerprint = tuple[frozenset[str], tuple[int, ...]]  # (signature, LSH band keys)


@lru_cache(maxsize=4)
def _lsh_layout(threshold: float, num_perm: int) -> tuple[list[tuple[int, int]], object, object]:
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)  # only for its band layout
    # The seed's permutations, made once: identical signatures to a fresh
    # MinHash(num_perm) each time, without regenerating them per listing.
    template = MinHash(num_perm=num_perm)
    return list(lsh.hashranges), template.permutations, template.scheme


def fingerprint(opp: Opportunity, threshold: float = THRESHOLD, num_perm: int = NUM_PERM) -> Fingerprint:
    """``opp``'s signature and its MinHash LSH band keys: a pure function of the
    listing, so it can be computed where the listing is normalized."""
    words = signature(opp)
    ranges, permutations, scheme = _lsh_layout(threshold, num_perm)
    mh = MinHash(num_perm=num_perm, permutations=permutations, scheme=scheme)
    mh.update_batch([w.encode() for w in words])
    values = mh.hashvalues
    keys = []
    for band, (lo, hi) in enumerate(ranges):
        digest = hashlib.blake2b(values[lo:hi].tobytes(), digest_size=8,
                                 person=band.to_bytes(2, "big")).digest()
        keys.append(int.from_bytes(digest, "big", signed=True))
    return words, tuple(keys)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


class Deduplicator:
    """Incremental clustering: ``place`` each listing as it is normalized.

    The state (each listing's signature, its LSH band keys and the duplicate
    links) lives in a private SQLite file, not in Python objects, so the
    normalizer's memory stays flat however many listings there are: SQLite
    keeps at most ``cache_mb`` of it in memory. The file is disposable (no
    journal, no fsync): the normalizer rebuilds it from the compacted
    normalized topic at start-up. ``path=None`` makes a temporary file that
    ``close`` removes.
    """

    def __init__(self, threshold: float = THRESHOLD, num_perm: int = NUM_PERM, *,
                 path: str | Path | None = None, cache_mb: int = 32) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self._tmp = None
        if path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tilts-dedupe-")
            path = Path(self._tmp.name) / "clusters.sqlite"
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.executescript(f"""
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            PRAGMA cache_size = -{cache_mb * 1024};
            CREATE TABLE IF NOT EXISTS members (
                id TEXT PRIMARY KEY, url TEXT NOT NULL, first_seen TEXT NOT NULL,
                start TEXT, country TEXT, words TEXT NOT NULL, bands BLOB NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS bands (key INTEGER NOT NULL, id TEXT NOT NULL,
                                              PRIMARY KEY (key, id)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS links (a TEXT NOT NULL, b TEXT NOT NULL,
                                              PRIMARY KEY (a, b)) WITHOUT ROWID;
        """)
        self._pending = 0

    def __len__(self) -> int:
        return self._db.execute("SELECT count(*) FROM members").fetchone()[0]

    def close(self) -> None:
        self._db.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def flush(self) -> None:
        """End the current write transaction (call once per batch)."""
        self._db.commit()
        self._pending = 0

    def _compatible(self, start: str | None, country: str | None, words: frozenset[str],
                    row: tuple[str, str | None, str | None, str]) -> bool:
        _, other_start, other_country, other_words = row
        if start and other_start and start != other_start:
            return False
        if country and other_country and country != other_country:
            return False
        return jaccard(words, frozenset(other_words.split(_SEP))) >= self.threshold

    def cluster(self, opp_id: str) -> list[str]:
        """Ids in ``opp_id``'s cluster, the cluster id first."""
        return [i for i, _ in self._cluster_rows(opp_id)]

    def _cluster_rows(self, opp_id: str) -> list[tuple[str, str]]:
        """(id, url) of ``opp_id``'s cluster, in cluster order (one recursive
        query: a large cluster is walked inside SQLite, not row by row in Python)."""
        return self._db.execute(
            "WITH RECURSIVE c(id) AS (SELECT ? UNION SELECT l.b FROM links l JOIN c ON l.a = c.id) "
            "SELECT m.id, m.url FROM c JOIN members m ON m.id = c.id ORDER BY m.first_seen, m.id",
            (opp_id,)).fetchall()

    def place(self, opp: Opportunity, prints: Fingerprint | None = None) -> Opportunity:
        """Add (or update) ``opp`` and set its cluster fields; a listing seen before
        keeps its earliest ``first_seen``. ``prints``: its ``fingerprint``, if known."""
        row = self._db.execute("SELECT first_seen FROM members WHERE id = ?", (opp.id,)).fetchone()
        if row is not None and row[0] < _instant(opp.provenance.first_seen):
            opp.provenance.first_seen = datetime.fromisoformat(row[0])
        self.add(opp, prints)
        return self.apply(opp)

    def add(self, opp: Opportunity, prints: Fingerprint | None = None) -> None:
        self.remove(opp.id)
        words, keys = prints or fingerprint(opp, self.threshold, self.num_perm)
        place = opp.locations[0] if opp.locations else None
        start = opp.start_date.isoformat() if opp.start_date else None
        country = place.country if place else None
        marks = ",".join("?" * len(keys))
        # The MAX_CANDIDATES sharing the most bands (the likeliest duplicates):
        # a source publishing thousands of near-identical listings must not make
        # every new one cost thousands of comparisons in Python.
        # Listings in another country or starting another day never match, so
        # they are left out before the limit.
        candidates = self._db.execute(
            f"SELECT m.id, m.start, m.country, m.words FROM "
            f"(SELECT id, count(*) AS shared FROM bands WHERE key IN ({marks}) GROUP BY id) AS c "
            f"JOIN members m ON m.id = c.id "
            f"WHERE (? IS NULL OR m.country IS NULL OR m.country = ?) "
            f"AND (? IS NULL OR m.start IS NULL OR m.start = ?) "
            f"ORDER BY c.shared DESC, m.id LIMIT {MAX_CANDIDATES}",
            [*keys, country, country, start, start]).fetchall()
        links = [(opp.id, row[0]) for row in candidates if self._compatible(start, country, words, row)]
        db = self._db
        db.execute("INSERT INTO members VALUES (?, ?, ?, ?, ?, ?, ?)", (
            opp.id, opp.url, _instant(opp.provenance.first_seen), start, country,
            _SEP.join(sorted(words)), b"".join(k.to_bytes(8, "big", signed=True) for k in keys)))
        db.executemany("INSERT OR IGNORE INTO bands VALUES (?, ?)", [(k, opp.id) for k in keys])
        db.executemany("INSERT OR IGNORE INTO links VALUES (?, ?)",
                       links + [(b, a) for a, b in links])
        self._pending += 1
        if self._pending >= 5000:
            self.flush()

    def remove(self, opp_id: str) -> None:
        """Forget a listing (closed, or about to be re-added)."""
        row = self._db.execute("SELECT bands FROM members WHERE id = ?", (opp_id,)).fetchone()
        if row is None:
            return
        keys = [int.from_bytes(row[0][i:i + 8], "big", signed=True) for i in range(0, len(row[0]), 8)]
        db = self._db
        db.execute("DELETE FROM members WHERE id = ?", (opp_id,))
        db.executemany("DELETE FROM bands WHERE key = ? AND id = ?", [(k, opp_id) for k in keys])
        db.execute("DELETE FROM links WHERE b = ? AND a IN (SELECT b FROM links WHERE a = ?)",
                   (opp_id, opp_id))
        db.execute("DELETE FROM links WHERE a = ?", (opp_id,))

    def apply(self, opp: Opportunity) -> Opportunity:
        """``opp`` with its current ``cluster_id`` and ``also_listed_on`` set."""
        rows = self._cluster_rows(opp.id)
        if not rows:
            rows = [(opp.id, opp.url)]
        opp.cluster_id = rows[0][0]
        opp.provenance.also_listed_on = sorted(url for i, url in rows if i != opp.id)
        return opp


def _instant(moment: datetime) -> str:
    """A sortable UTC text form (fixed width, microseconds always present)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
