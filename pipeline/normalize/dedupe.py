"""Near-duplicate clustering: one card per real opportunity.

The same opportunity is often listed by its host, a national portal and the
European Youth Portal. Each listing's *signature* is the set of words of its
title, organisation and place plus its start/end dates (folded, stop words
dropped). MinHash LSH (datasketch) finds candidate listings whose signatures
look alike; a candidate is a duplicate when the exact Jaccard similarity of
the two signatures reaches ``threshold``, nothing contradicts it (different
start dates, different countries) and it comes from another source: one
source's two listings are two opportunities, however alike their titles.

A cluster is led by its first listing (its *founder*; ``cluster_id`` is the
founder's id). A new listing joins the cluster of the earliest founder it
duplicates, and only if that cluster has no listing of its source yet. So
look-alikes do not chain into one giant cluster (on the real Hamburg data,
connected components of the duplicate relation merged 399 different
listings of one agency into one card), a cluster holds at most one listing
per source, and ``cluster_id`` never changes once given, even after the
founder closes. ``also_listed_on`` holds the other members' URLs, the
earliest ``MAX_ALSO_LISTED`` of them.

Listings in different languages share too few words to be found this way.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from datasketch import MinHash, MinHashLSH

from pipeline.events import Opportunity
from pipeline.links import MAX_ALSO_LISTED
from pipeline.normalize.text import fold

NUM_PERM = 64
THRESHOLD = 0.5
MAX_CANDIDATES = 256
_SCHEMA = 5  # the file layout's version; another one is dropped and rebuilt
_WORD = re.compile(r"\w+")
_SEP = "\x1f"
_STOP = set(
    [
        "the", "and", "for", "with", "from", "into", "our", "your", "des", "der", "die", "das", "und", "les", "une",
        "pour", "dans", "avec", "del", "los", "las", "per", "con", "della", "nel", "una", "uno", "par", "sur", "aux",
        "een", "het", "van", "voor", "met", "ir", "su", "uz", "un", "ar", "par", "для", "при", "под", "над", "или",
        "без", "это"
    ]
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
    return words, _band_keys(words, threshold, num_perm)


def _band_keys(words: frozenset[str], threshold: float, num_perm: int) -> tuple[int, ...]:
    ranges, permutations, scheme = _lsh_layout(threshold, num_perm)
    mh = MinHash(num_perm=num_perm, permutations=permutations, scheme=scheme)
    mh.update_batch([w.encode() for w in words])
    values = mh.hashvalues
    keys = []
    for band, (lo, hi) in enumerate(ranges):
        digest = hashlib.blake2b(values[lo:hi].tobytes(), digest_size=8,
                                 person=band.to_bytes(2, "big")).digest()
        keys.append(int.from_bytes(digest, "big", signed=True))
    return tuple(keys)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


class Deduplicator:
    """Incremental clustering: ``place`` each listing as it is normalized.

    The state (each listing's signature, LSH band keys, source and cluster)
    lives in a private SQLite file, not in Python objects, so the
    normalizer's memory stays flat however many listings there are: SQLite
    keeps at most ``cache_mb`` of it in memory. The file is disposable (no
    journal, no fsync): the normalizer rebuilds it from the compacted
    normalized topic at start-up (``restore``). ``path=None`` makes a
    temporary file that no one else can see and that goes with the process.

    ``durable``: the file outlives the process (the clustering stage's
    per-partition state, ``pipeline.clusterer``): written through a journal,
    so a killed process leaves it whole at its last ``flush``, which also
    records ``checkpoint``, the position in the input it reflects.
    """

    def __init__(self, threshold: float = THRESHOLD, num_perm: int = NUM_PERM, *,
                 path: str | Path | None = None, cache_mb: int = 32, durable: bool = False) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        # "" is SQLite's private temporary database: its file is unlinked as
        # soon as it is opened, so nothing is left behind however the process
        # ends (a killed normalizer used to leave its clusters.sqlite in /tmp).
        self._db = sqlite3.connect("" if path is None else str(path), check_same_thread=False)
        journal = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;" if durable else \
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
        self._db.executescript(f"{journal} PRAGMA cache_size = -{cache_mb * 1024};")
        if self._db.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA:
            self._db.executescript(f"""
                DROP TABLE IF EXISTS members; DROP TABLE IF EXISTS bands; DROP TABLE IF EXISTS links;
                DROP TABLE IF EXISTS meta;
                CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                CREATE TABLE members (
                    id TEXT PRIMARY KEY, url TEXT NOT NULL, first_seen TEXT NOT NULL,
                    source TEXT NOT NULL, cluster TEXT NOT NULL,
                    start TEXT, country TEXT, words TEXT NOT NULL, bands BLOB NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX members_cluster ON members (cluster, first_seen, id);
                CREATE INDEX members_cluster_source ON members (cluster, source);
                CREATE TABLE bands (key INTEGER NOT NULL, country TEXT NOT NULL, id TEXT NOT NULL,
                                    PRIMARY KEY (key, country, id)) WITHOUT ROWID;
                PRAGMA user_version = {_SCHEMA};
            """)
        self._pending = 0

    def __len__(self) -> int:
        return self._db.execute("SELECT count(*) FROM members").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def flush(self, checkpoint: int | None = None) -> None:
        """End the current write transaction (call once per batch); with
        ``checkpoint``, record it in the same transaction."""
        if checkpoint is not None:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('checkpoint', ?)", (checkpoint,))
        self._db.commit()
        self._pending = 0

    @property
    def checkpoint(self) -> int | None:
        """The position last recorded by ``flush`` (None: never)."""
        row = self._db.execute("SELECT value FROM meta WHERE name = 'checkpoint'").fetchone()
        return row[0] if row else None

    def clear(self) -> None:
        """Forget every listing and the checkpoint (before a restore)."""
        self._db.executescript("DELETE FROM members; DELETE FROM bands; DELETE FROM meta;")
        self._pending = 0

    def _duplicates(self, source: str, start: str | None, country: str | None,
                    words: frozenset[str], row: tuple) -> bool:
        """Whether ``row`` (source, start, country, words) duplicates the listing described."""
        other_source, other_start, other_country, other_words = row[-4:]
        if source == other_source:
            return False
        if start and other_start and start != other_start:
            return False
        if country and other_country and country != other_country:
            return False
        return jaccard(words, frozenset(other_words.split(_SEP))) >= self.threshold

    def cluster(self, opp_id: str) -> list[str]:
        """Ids in ``opp_id``'s cluster, the earliest first."""
        return [i for i, _ in self._members(self._cluster_of(opp_id) or opp_id)]

    def _cluster_of(self, opp_id: str) -> str | None:
        row = self._db.execute("SELECT cluster FROM members WHERE id = ?", (opp_id,)).fetchone()
        return row[0] if row else None

    def _members(self, cluster: str, limit: int = -1) -> list[tuple[str, str]]:
        return self._db.execute("SELECT id, url FROM members WHERE cluster = ? "
                                "ORDER BY first_seen, id LIMIT ?", (cluster, limit)).fetchall()

    def place(self, opp: Opportunity, prints: Fingerprint | None = None) -> Opportunity:
        """Add (or update) ``opp`` and set its cluster fields; a listing seen before
        keeps its earliest ``first_seen``. ``prints``: its ``fingerprint``, if known."""
        known = self._known(opp.id)
        if known is not None and known[0] < _instant(opp.provenance.first_seen):
            opp.provenance.first_seen = datetime.fromisoformat(known[0])
        return self.apply(opp, self.add(opp, prints, known=known))

    def _known(self, opp_id: str) -> tuple[str, str, bytes, str | None] | None:
        """(first_seen, cluster, bands, country) of a listing already added."""
        return self._db.execute("SELECT first_seen, cluster, bands, country FROM members WHERE id = ?",
                                (opp_id,)).fetchone()

    def add(self, opp: Opportunity, prints: Fingerprint | None = None, *,
            known: tuple[str, str, bytes, str | None] | None = None) -> str:
        """Add (or update) ``opp``, choosing its cluster, which it returns
        (``known``: its ``_known`` row, when the caller has read it)."""
        words, keys = prints or fingerprint(opp, self.threshold, self.num_perm)
        start, country = _when_where(opp)
        known = known or self._known(opp.id)
        was = known[1] if known else None
        self._forget(opp.id, known)
        # A founder stays with its cluster: members' cluster_id is its id.
        cluster = was if was is not None and was == opp.id else self._choose(opp, was, start, country, words, keys)
        self._insert(opp, cluster, start, country, words, keys)
        return cluster

    def restore(self, opp: Opportunity) -> None:
        """Add ``opp`` in the cluster it was published with (a warm start: the
        normalized topic already holds every listing's ``cluster_id``)."""
        words, keys = fingerprint(opp, self.threshold, self.num_perm)
        self.remove(opp.id)
        self._insert(opp, opp.cluster_id or opp.id, *_when_where(opp), words, keys)

    def membership(self, opp_id: str) -> dict[str, object] | None:
        """What the clustering keeps of a listing, as a JSON-ready record: what
        ``restore_membership`` needs to put it back (the clustering stage's
        changelog, ``pipeline.clusterer``)."""
        row = self._db.execute("SELECT id, url, first_seen, source, cluster, start, country, words "
                               "FROM members WHERE id = ?", (opp_id,)).fetchone()
        if row is None:
            return None
        names = ("id", "url", "first_seen", "source", "cluster", "start", "country")
        return {**dict(zip(names, row[:7], strict=True)), "words": row[7].split(_SEP) if row[7] else []}

    def restore_membership(self, record: dict) -> None:
        """Put back a listing as ``membership`` gave it (its band keys are a
        function of its words, so they are computed again)."""
        words = frozenset(record["words"])
        keys = _band_keys(words, self.threshold, self.num_perm)
        self.remove(record["id"])
        self._insert_row(record["id"], record["url"], record["first_seen"], record["source"],
                         record["cluster"], record["start"], record["country"], words, keys)

    def _choose(self, opp: Opportunity, was: str | None, start: str | None, country: str | None,
                words: frozenset[str], keys: tuple[int, ...]) -> str:
        """The cluster ``opp`` joins: its current one or the one of the earliest
        founder it duplicates, if it holds no listing of ``opp``'s source yet."""
        marks = ",".join("?" * len(keys))
        # The MAX_CANDIDATES sharing the most bands (the likeliest duplicates):
        # a source publishing thousands of near-identical listings must not make
        # every new one cost thousands of comparisons in Python. Listings of the
        # same source, in another country or starting another day never match,
        # so they are left out before the limit; the country is part of the
        # band index, so one role posted in 30 countries is not 30 candidates.
        countries = "" if country is None else "AND country IN (?, '')"
        candidates = self._db.execute(
            f"SELECT m.cluster, m.source, m.start, m.country, m.words FROM "
            f"(SELECT id, count(*) AS shared FROM bands WHERE key IN ({marks}) {countries} "
            f"GROUP BY id) AS c "
            f"JOIN members m ON m.id = c.id WHERE m.source != ? "
            f"AND (? IS NULL OR m.start IS NULL OR m.start = ?) "
            f"ORDER BY c.shared DESC, m.id LIMIT {MAX_CANDIDATES}",
            [*keys, *([country] if country else []), opp.source_id, start, start]).fetchall()
        clusters = [row[0] for row in candidates
                    if self._duplicates(opp.source_id, start, country, words, row)]
        heads = []
        db = self._db
        for cluster in dict.fromkeys([was, *clusters] if was else clusters):
            founder = db.execute(
                "SELECT first_seen, id, source, start, country, words FROM members "
                "WHERE cluster = ? ORDER BY first_seen, id LIMIT 1", (cluster,)).fetchone()
            if founder is None:  # ``opp`` was its cluster's only listing left
                return cluster
            if db.execute("SELECT 1 FROM members WHERE cluster = ? AND source = ? LIMIT 1",
                          (cluster, opp.source_id)).fetchone():
                continue
            if self._duplicates(opp.source_id, start, country, words, founder):
                if cluster == was:
                    return cluster  # still a duplicate of its founder: it stays
                heads.append((founder[:2], cluster))
        if heads:
            return min(heads)[1]
        # A new cluster. A listing that founded one before, closed and came back
        # finds its old id still in use by its former members, and rejoins them.
        return opp.id

    def _insert(self, opp: Opportunity, cluster: str, start: str | None, country: str | None,
                words: frozenset[str], keys: tuple[int, ...]) -> None:
        self._insert_row(opp.id, opp.url, _instant(opp.provenance.first_seen), opp.source_id, cluster,
                         start, country, words, keys)

    def _insert_row(self, opp_id: str, url: str, first_seen: str, source: str, cluster: str,
                    start: str | None, country: str | None, words: frozenset[str],
                    keys: tuple[int, ...]) -> None:
        db = self._db
        db.execute("INSERT INTO members VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (
            opp_id, url, first_seen, source, cluster, start, country, _SEP.join(sorted(words)),
            b"".join(k.to_bytes(8, "big", signed=True) for k in keys)))
        db.executemany("INSERT OR IGNORE INTO bands VALUES (?, ?, ?)",
                       [(k, country or "", opp_id) for k in keys])
        self._pending += 1
        if self._pending >= 5000:
            self.flush()

    def remove(self, opp_id: str) -> None:
        """Forget a listing (closed, or about to be re-added). Its cluster keeps
        its id for the other members."""
        self._forget(opp_id, self._known(opp_id))

    def _forget(self, opp_id: str, known: tuple[str, str, bytes, str | None] | None) -> None:
        if known is None:
            return
        _, _, bands, country = known
        keys = [int.from_bytes(bands[i:i + 8], "big", signed=True) for i in range(0, len(bands), 8)]
        self._db.execute("DELETE FROM members WHERE id = ?", (opp_id,))
        self._db.executemany("DELETE FROM bands WHERE key = ? AND country = ? AND id = ?",
                             [(k, country or "", opp_id) for k in keys])

    def apply(self, opp: Opportunity, cluster: str | None = None) -> Opportunity:
        """``opp`` with its current ``cluster_id`` and ``also_listed_on`` set
        (``cluster``: its cluster, when the caller knows it)."""
        cluster = cluster or self._cluster_of(opp.id)
        opp.cluster_id = cluster or opp.id
        rows = self._members(cluster, MAX_ALSO_LISTED + 1) if cluster else []
        others = [url for i, url in rows if i != opp.id][:MAX_ALSO_LISTED]  # the earliest
        opp.provenance.also_listed_on = sorted(others)
        return opp


def _when_where(opp: Opportunity) -> tuple[str | None, str | None]:
    """(start date, country): a duplicate must not contradict either."""
    place = opp.locations[0] if opp.locations else None
    return (opp.start_date.isoformat() if opp.start_date else None), (place.country if place else None)


def _instant(moment: datetime) -> str:
    """A sortable UTC text form (fixed width, microseconds always present)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
