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

import re
from dataclasses import dataclass, field
from datetime import datetime

from datasketch import MinHash, MinHashLSH

from pipeline.events import Opportunity
from pipeline.normalize.text import fold

NUM_PERM = 64
THRESHOLD = 0.5
_WORD = re.compile(r"\w+")
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


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


@dataclass
class _Member:
    id: str
    url: str
    first_seen: datetime
    start: str | None
    country: str | None
    words: frozenset[str]
    links: set[str] = field(default_factory=set)


class Deduplicator:
    """Incremental clustering: ``place`` each listing as it is normalized."""

    def __init__(self, threshold: float = THRESHOLD, num_perm: int = NUM_PERM) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._members: dict[str, _Member] = {}
        # The seed's permutations, made once: identical signatures to a fresh
        # MinHash(num_perm) each time, without regenerating them per listing.
        template = MinHash(num_perm=num_perm)
        self._permutations, self._scheme = template.permutations, template.scheme

    def __len__(self) -> int:
        return len(self._members)

    def _minhash(self, words: frozenset[str]) -> MinHash:
        mh = MinHash(num_perm=self.num_perm, permutations=self._permutations, scheme=self._scheme)
        mh.update_batch([w.encode() for w in words])
        return mh

    def _compatible(self, a: _Member, b: _Member) -> bool:
        if a.start and b.start and a.start != b.start:
            return False
        if a.country and b.country and a.country != b.country:
            return False
        return jaccard(a.words, b.words) >= self.threshold

    def cluster(self, opp_id: str) -> list[str]:
        """Ids in ``opp_id``'s cluster, the cluster id first."""
        seen, todo = {opp_id}, [opp_id]
        while todo:
            for other in self._members[todo.pop()].links:
                if other not in seen:
                    seen.add(other)
                    todo.append(other)
        return sorted(seen, key=lambda i: (self._members[i].first_seen, i))

    def place(self, opp: Opportunity) -> Opportunity:
        """Add (or update) ``opp`` and set its cluster fields; a listing seen before
        keeps its earliest ``first_seen``."""
        known = self._members.get(opp.id)
        if known is not None and known.first_seen < opp.provenance.first_seen:
            opp.provenance.first_seen = known.first_seen
        self.add(opp)
        return self.apply(opp)

    def add(self, opp: Opportunity) -> None:
        self.remove(opp.id)
        words = signature(opp)
        place = opp.locations[0] if opp.locations else None
        member = _Member(
            opp.id, opp.url, opp.provenance.first_seen,
            opp.start_date.isoformat() if opp.start_date else None,
            place.country if place else None, words,
        )
        mh = self._minhash(words)
        for other_id in self._lsh.query(mh):
            other = self._members[other_id]
            if self._compatible(member, other):
                member.links.add(other_id)
                other.links.add(opp.id)
        self._members[opp.id] = member
        self._lsh.insert(opp.id, mh)

    def remove(self, opp_id: str) -> None:
        """Forget a listing (closed, or about to be re-added)."""
        member = self._members.pop(opp_id, None)
        if member is None:
            return
        self._lsh.remove(opp_id)
        for other in member.links:
            self._members[other].links.discard(opp_id)

    def apply(self, opp: Opportunity) -> Opportunity:
        """``opp`` with its current ``cluster_id`` and ``also_listed_on`` set."""
        ids = self.cluster(opp.id) if opp.id in self._members else [opp.id]
        opp.cluster_id = ids[0]
        opp.provenance.also_listed_on = sorted(self._members[i].url for i in ids if i != opp.id)
        return opp
