"""The normalizer worker: ``opportunities.raw.v1`` → ``opportunities.normalized.v1``.

Consumer group ``tilts-normalizer``. Each raw event is validated and
normalized; the Opportunity is published keyed by its id. A raw event that is
not valid JSON, breaks the contract or cannot be normalized goes to
``opportunities.dlq.v1`` with stage ``normalize`` and the reason; so does an
event the normalizer fails on unexpectedly (a bug), to be replayed after the
fix: one bad record never stops the stream.

Near-duplicates are clustered across sources (``pipeline.normalize.dedupe``).
The clustering state is rebuilt at start-up by reading the compacted
normalized topic, so a restarted normalizer keeps cluster ids and each
listing's first-seen time. A new listing joins the cluster of the earliest
listing it duplicates, so earlier members keep their ``cluster_id``; their
``also_listed_on`` catches up when they are next crawled. The clustering
needs one view of all listings: run one normalizer per deployment (Kafka
partitions let the indexer scale out; see docs/normalization.md).

The normalizer also reads ``crawl.stats.v1``. A listing its source no longer
publishes (``CrawlStats.missing``: absent from the source's last three
*complete* crawls, as the crawler's seen-set counts them) is closed with a
tombstone on the normalized topic, which removes it from search.
"""

from __future__ import annotations

import logging
import uuid

from pipeline.bus import Bus, Message, read_to_end
from pipeline.events import (
    CRAWL_STATS_TOPIC,
    NORMALIZED_TOPIC,
    RAW_TOPIC,
    CrawlStats,
    InvalidEvent,
    Opportunity,
    RawOpportunity,
    opportunity_id,
    parse_event,
)
from pipeline.normalize import normalize
from pipeline.normalize.dedupe import Deduplicator
from pipeline.worker import Retryable, Worker

GROUP = "tilts-normalizer"
log = logging.getLogger(__name__)


class MissingListings:
    """Closes the listings a crawl reports missing (``CrawlStats.missing``)."""

    def __init__(self) -> None:
        self.pending: list[str] = []

    def report(self, stats: CrawlStats) -> None:
        self.pending += [opportunity_id(stats.source_id, ext) for ext in stats.missing]

    def due(self) -> list[str]:
        due, self.pending = self.pending, []
        return due


def normalize_bytes(value: bytes | None) -> bytes:
    """One raw event's bytes → the normalized event's bytes (raises InvalidEvent)."""
    raw = parse_event(RawOpportunity, value)
    return normalize(raw).to_bytes()


def warm_start(bus: Bus, dedupe: Deduplicator, *, quiet_seconds: float = 5.0) -> int:
    """Rebuild the clustering index from the bus; returns listings loaded."""
    loaded = 0

    def listing(msg: Message) -> None:
        nonlocal loaded
        if msg.value is None:
            dedupe.remove(msg.key.decode() if msg.key else "")
            return
        try:
            dedupe.add(parse_event(Opportunity, msg.value))
            loaded += 1
        except InvalidEvent:
            pass  # the indexer dead-letters it; it cannot be a cluster member

    read_to_end(bus, f"{GROUP}-warm-{uuid.uuid4().hex[:12]}", NORMALIZED_TOPIC, listing,
                quiet_seconds=quiet_seconds)
    return loaded


def make_normalizer(bus: Bus, group: str = GROUP, *, dedupe: Deduplicator | None = None,
                    warm: bool = True) -> Worker:
    worker: Worker
    missing = MissingListings()
    if dedupe is None:
        dedupe = Deduplicator()
        if warm:
            loaded = warm_start(bus, dedupe)
            log.info("normalizer: %d listings loaded for clustering", loaded)

    def process(batch: list[Message]) -> None:
        for msg in batch:
            if msg.topic == CRAWL_STATS_TOPIC:
                try:
                    missing.report(parse_event(CrawlStats, msg.value))
                except InvalidEvent as exc:
                    worker.dead_letter(msg, exc)
                continue
            try:
                raw = parse_event(RawOpportunity, msg.value)
                opp = dedupe.place(normalize(raw))
            except Retryable:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is dead-lettered, never dropped
                worker.dead_letter(msg, exc)
                continue
            bus.publish(NORMALIZED_TOPIC, opp.id, opp.to_bytes(), opp.headers())
        for opp_id in missing.due():
            log.info("closing %s: its source no longer publishes it", opp_id)
            dedupe.remove(opp_id)
            bus.publish(NORMALIZED_TOPIC, opp_id, None)

    worker = Worker(bus, group, [RAW_TOPIC, CRAWL_STATS_TOPIC], "normalize", process)
    return worker
