"""`tilts reindex`: rebuild the search index from the source of truth, with no downtime.

The source of truth is the compacted ``opportunities.normalized.v1`` topic
(Kafka in distributed mode, the local bus file in embedded mode). A reindex

1. replays the topic from the start with a fresh consumer group, keeping the
   latest version of every listing (a tombstone removes it);
2. builds a new index from that snapshot: on Elasticsearch a new versioned
   index ``<alias>-vN+1`` made by the current template (so a mapping change
   lands here), on SQLite a rebuild inside one transaction;
3. switches readers over atomically: one ``_aliases`` call moves the alias
   (and the write flag) on Elasticsearch, the commit on SQLite. Searches never
   see an empty or half-built index;
4. catches up: events that arrived while building are read by the same group
   from where the snapshot ended and written through the alias, so nothing
   the indexer wrote to the old index is missing from the new one.

The previous Elasticsearch index is kept for rollback (``--keep`` versions);
older ones are deleted.

The snapshot keeps every listing in memory until the new index is built.
Python's cycle collector would walk all of them again and again while the
snapshot grows and while the documents are built from it, so it is off until
the new index is in place (reference counting frees what a reindex allocates;
one of 100,000 listings left a few hundred objects in cycles, collected after).
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pipeline.bus import Bus, Message, read_to_end
from pipeline.events import NORMALIZED_TOPIC, InvalidEvent, Opportunity, parse_event
from pipeline.indexer import link_clusters
from pipeline.links import link_all
from search.backends import SearchBackend


@dataclass
class ReindexReport:
    documents: int = 0
    tombstones: int = 0
    invalid: int = 0
    caught_up: int = 0
    index: str = ""
    previous: str | None = None
    deleted: list[str] = field(default_factory=list)


def _reader(report: ReindexReport, latest: dict[str, Opportunity | None]) -> Callable[[Message], None]:
    def handle(msg: Message) -> None:
        if msg.value is None:
            if msg.key is not None:
                latest[msg.key.decode("utf-8", "replace")] = None
                report.tombstones += 1
            return
        try:
            opp = parse_event(Opportunity, msg.value)
        except InvalidEvent:
            report.invalid += 1  # the indexer dead-lettered it already
            return
        latest[opp.id] = opp

    return handle


@contextmanager
def _collector_off() -> Iterator[None]:
    """Python's cycle collector off, as it was on the way out."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _behind(bus: Bus, group: str) -> bool:
    """Whether the topic has messages after ``group``'s committed position. When it
    has none, the catch-up has nothing to read and need not wait for quiet: the
    indexer writes anything newer through the alias, which names the new index."""
    done = bus.committed(group, NORMALIZED_TOPIC)
    return any(end > done.get(p, 0) for p, end in bus.end_offsets(NORMALIZED_TOPIC).items())


def reindex(bus: Bus, backend: SearchBackend, *, keep: int = 1, quiet_seconds: float = 5.0) -> ReindexReport:
    report = ReindexReport()
    group = f"tilts-reindex-{uuid.uuid4().hex[:12]}"
    latest: dict[str, Opportunity | None] = {}
    with _collector_off():
        read_to_end(bus, group, NORMALIZED_TOPIC, _reader(report, latest), commit=True,
                    quiet_seconds=quiet_seconds)
        docs = [d for d in latest.values() if d is not None]
        link_all(docs)  # listings published before their duplicates learn of them
        report.documents = len(docs)
        report.index, report.previous, report.deleted = backend.rebuild(docs, keep=keep)
        del docs
        latest.clear()
    # Catch up through the alias with what arrived meanwhile.
    later: dict[str, Opportunity | None] = {}
    if _behind(bus, group):
        read_to_end(bus, group, NORMALIZED_TOPIC, _reader(ReindexReport(), later), commit=True,
                    quiet_seconds=quiet_seconds)
    if later:
        upserts = [d for d in later.values() if d is not None]
        if upserts:
            backend.upsert_many(upserts)
        gone = [k for k, d in later.items() if d is None]
        if gone:
            backend.delete_many(gone)
        link_clusters(backend, upserts, gone)
        report.caught_up = len(later)
    backend.refresh()
    return report
