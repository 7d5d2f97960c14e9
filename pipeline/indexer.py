"""The indexer worker: ``opportunities.normalized.v1`` → the search backend.

Consumer group ``tilts-indexer``. A batch becomes one bulk write (the last
version of each id wins; a tombstone deletes); offsets are committed only after
the write succeeded. The document id is the opportunity id, so a replay
overwrites instead of duplicating. When the backend is unreachable the batch
is retried with backoff and nothing is committed; a document the backend
rejects for good, or an event that breaks the contract, is dead-lettered with
stage ``index``.

After each write, listings published before their duplicate was found are
told of it (``also_listed_on``, see ``pipeline.links``), so "also listed on"
shows as soon as the duplicate is indexed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Protocol

from pipeline.bus import Bus, Message
from pipeline.events import NORMALIZED_TOPIC, InvalidEvent, Opportunity, parse_event
from pipeline.links import ClusterMember, cluster_links, member
from pipeline.worker import Worker

GROUP = "tilts-indexer"


class Rejected(Protocol):
    @property
    def doc_id(self) -> str: ...


class IndexSink(Protocol):
    """What the indexer needs of a search backend (see search.backends.base).

    Its methods raise ``pipeline.worker.Retryable`` (the backends'
    ``SearchUnavailable`` is one) when the backend cannot be reached.
    """

    def upsert_many(self, docs: list[Opportunity]) -> Sequence[Rejected]: ...

    def delete_many(self, ids: list[str]) -> None: ...

    def cluster_members(self, cluster_ids: list[str]) -> list[ClusterMember]: ...

    def set_also_listed_on(self, updates: dict[str, list[str]]) -> None: ...


def link_clusters(backend: IndexSink, docs: list[Opportunity], deleted: Iterable[str] = ()) -> int:
    """Give every indexed member of the clusters of ``docs`` the others' URLs;
    returns how many listings changed. ``docs`` were just written, so their
    version counts whatever a search of the index still shows."""
    clusters = sorted({d.cluster_id for d in docs if d.cluster_id != d.id or d.provenance.also_listed_on})
    if not clusters:
        return 0
    gone = set(deleted)
    members = {m.id: m for m in backend.cluster_members(clusters) if m.id not in gone}
    members.update({d.id: member(d) for d in docs})
    by_cluster: dict[str, list[ClusterMember]] = defaultdict(list)
    for m in members.values():
        by_cluster[m.cluster_id].append(m)
    updates: dict[str, list[str]] = {}
    for cluster in clusters:
        updates.update(cluster_links(by_cluster[cluster]))
    if updates:
        backend.set_also_listed_on(updates)
    return len(updates)


def make_indexer(bus: Bus, backend: IndexSink, group: str = GROUP) -> Worker:
    worker: Worker

    def process(batch: list[Message]) -> None:
        latest: dict[str, tuple[Message, Opportunity | None]] = {}
        for msg in batch:
            if msg.value is None:
                if msg.key is None:
                    worker.dead_letter(msg, InvalidEvent("tombstone without a key"))
                    continue
                latest[msg.key.decode("utf-8", "replace")] = (msg, None)
                continue
            try:
                opp = parse_event(Opportunity, msg.value)
            except InvalidEvent as exc:
                worker.dead_letter(msg, exc)
                continue
            latest.pop(opp.id, None)  # keep batch order: re-insert at the end
            latest[opp.id] = (msg, opp)
        upserts = [opp for _, opp in latest.values() if opp is not None]
        deletes = [doc_id for doc_id, (_, opp) in latest.items() if opp is None]
        rejected = backend.upsert_many(upserts) if upserts else []
        rejected_ids = {r.doc_id for r in rejected}
        if deletes:
            backend.delete_many(deletes)
        link_clusters(backend, [o for o in upserts if o.id not in rejected_ids], deletes)
        for rej in rejected:
            worker.dead_letter(latest[rej.doc_id][0], rej)  # type: ignore[arg-type]

    worker = Worker(bus, group, [NORMALIZED_TOPIC], "index", process)
    return worker
