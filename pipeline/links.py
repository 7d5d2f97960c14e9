"""Cross-listing links: a listing's ``also_listed_on``, the other listings of
its duplicate cluster (``pipeline.normalize.dedupe`` forms the clusters).

The normalizer sets each listing's list from what it knows when the listing
is published; a listing published before its duplicate was found is told of
it by the indexer (:func:`cluster_links` over the cluster's indexed members),
so "also listed on" shows as soon as the duplicate is indexed, not at the
earlier listing's next crawl.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from pipeline.events import Opportunity

MAX_ALSO_LISTED = 50


class ClusterMember(NamedTuple):
    """What linking a cluster needs of one indexed listing."""
    id: str
    url: str
    cluster_id: str
    first_seen: str  # ISO 8601: orders the members, earliest first
    also_listed_on: list[str]


def cluster_links(members: list[ClusterMember]) -> dict[str, list[str]]:
    """The ``also_listed_on`` each listing of one cluster should show, for those
    whose list misses another member. A listing published before its duplicate
    was found learns of it here, without waiting for its next crawl. A list
    keeps what it has (the normalizer's view) and stays bounded; the earliest
    members come first."""
    members = sorted(members, key=lambda m: (m.first_seen, m.id))
    out: dict[str, list[str]] = {}
    for m in members:
        others = [o.url for o in members if o.id != m.id and o.url != m.url]
        want = list(dict.fromkeys([*m.also_listed_on, *others]))[:MAX_ALSO_LISTED]
        if set(want) != set(m.also_listed_on):
            out[m.id] = sorted(want)
    return out


def member(doc: Opportunity) -> ClusterMember:
    return ClusterMember(doc.id, doc.url, doc.cluster_id, doc.provenance.first_seen.isoformat(),
                         list(doc.provenance.also_listed_on))


def link_all(docs: Iterable[Opportunity]) -> int:
    """Link every cluster of a whole set of listings in place (an index rebuilt
    from the normalized topic); returns how many listings changed."""
    by_cluster: dict[str, list[Opportunity]] = defaultdict(list)
    for doc in docs:
        by_cluster[doc.cluster_id].append(doc)
    changed = 0
    for docs_of_one in by_cluster.values():
        if len(docs_of_one) < 2:
            continue
        urls = cluster_links([member(d) for d in docs_of_one])
        for doc in docs_of_one:
            if doc.id in urls:
                doc.provenance.also_listed_on = urls[doc.id]
                changed += 1
    return changed
