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
publishes (not seen in the last ``close_after`` *complete* crawls of that
source, see ``CrawlStats.complete``) is closed with a tombstone on the
normalized topic, which removes it from search. A crawl's report is acted on
only once all the raw events it announced have been read, so a report that
overtakes its own listings closes nothing early.
"""

from __future__ import annotations

import logging
import time
import uuid

from pipeline.bus import Bus, Message
from collections import Counter
from datetime import datetime

from pipeline.events import (
    CRAWL_STATS_TOPIC,
    NORMALIZED_TOPIC,
    RAW_TOPIC,
    CrawlStats,
    InvalidEvent,
    Opportunity,
    RawOpportunity,
    parse_event,
)
from pipeline.normalize import normalize
from pipeline.normalize.dedupe import Deduplicator
from pipeline.worker import Retryable, Worker

GROUP = "tilts-normalizer"
CLOSE_AFTER_MISSED_CRAWLS = 3
log = logging.getLogger(__name__)


class MissingListings:
    """Finds listings a source stopped publishing, from its complete crawls."""

    def __init__(self, dedupe: Deduplicator, close_after: int = CLOSE_AFTER_MISSED_CRAWLS) -> None:
        self.dedupe = dedupe
        self.close_after = close_after
        self.history: dict[str, dict[str, datetime]] = {}  # source -> crawl id -> start
        self.seen: Counter[str] = Counter()  # raw events read per crawl id
        self.pending: list[CrawlStats] = []

    def saw(self, raw: RawOpportunity) -> None:
        self.seen[raw.crawl_id] += 1

    def remember(self, stats: CrawlStats) -> None:
        """Record a past complete crawl (start-up replay): history only."""
        if stats.complete:
            self.history.setdefault(stats.source_id, {})[stats.crawl_id] = stats.started_at

    def report(self, stats: CrawlStats) -> None:
        if stats.complete:
            self.pending.append(stats)

    def due(self) -> list[str]:
        """Ids to close now (listings missing from the last N complete crawls)."""
        ready = [s for s in self.pending if self.seen[s.crawl_id] >= s.items]
        touched = set()
        for stats in ready:
            self.pending.remove(stats)
            self.seen.pop(stats.crawl_id, None)
            self.remember(stats)
            touched.add(stats.source_id)
        closing: list[str] = []
        for source in touched:
            starts = sorted(self.history[source].values())
            if len(starts) < self.close_after:
                continue
            cutoff = starts[-self.close_after]
            closing += [opp_id for opp_id, last in self.dedupe.last_seen_by_source(source).items()
                        if last is not None and last < cutoff]
        return closing


def normalize_bytes(value: bytes | None) -> bytes:
    """One raw event's bytes → the normalized event's bytes (raises InvalidEvent)."""
    raw = parse_event(RawOpportunity, value)
    return normalize(raw).to_bytes()


def _replay(bus: Bus, topic: str, handle, quiet_seconds: float) -> None:  # noqa: ANN001
    """Read ``topic`` from the beginning to its current end with a throwaway group."""
    targets = {p: o for p, o in bus.end_offsets(topic).items() if o > 0}
    if not targets:
        return
    consumer = bus.consumer(f"{GROUP}-warm-{uuid.uuid4().hex[:12]}", [topic])
    reached: dict[int, int] = {}
    last_message = time.monotonic()
    try:
        while any(reached.get(p, -1) < o - 1 for p, o in targets.items()):
            batch = consumer.poll(max_records=1000, timeout=1.0)
            if not batch:
                if time.monotonic() - last_message > quiet_seconds:
                    break  # compaction removed the tail offsets
                continue
            last_message = time.monotonic()
            for msg in batch:
                reached[msg.partition] = max(reached.get(msg.partition, -1), msg.offset)
                handle(msg)
    finally:
        consumer.close()


def warm_start(bus: Bus, dedupe: Deduplicator, missing: MissingListings | None = None, *,
               quiet_seconds: float = 5.0) -> int:
    """Rebuild the clustering index (and crawl history) from the bus; returns listings loaded."""
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

    def crawl(msg: Message) -> None:
        try:
            missing.remember(parse_event(CrawlStats, msg.value))  # type: ignore[union-attr]
        except InvalidEvent:
            pass  # dead-lettered by the live normalizer when it reads it

    _replay(bus, NORMALIZED_TOPIC, listing, quiet_seconds)
    if missing is not None:
        _replay(bus, CRAWL_STATS_TOPIC, crawl, quiet_seconds)
    return loaded


def make_normalizer(bus: Bus, group: str = GROUP, *, dedupe: Deduplicator | None = None,
                    warm: bool = True, close_after: int = CLOSE_AFTER_MISSED_CRAWLS) -> Worker:
    worker: Worker
    if dedupe is None:
        dedupe = Deduplicator()
        missing = MissingListings(dedupe, close_after)
        if warm:
            loaded = warm_start(bus, dedupe, missing)
            log.info("normalizer: %d listings loaded for clustering", loaded)
    else:
        missing = MissingListings(dedupe, close_after)

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
                missing.saw(raw)
                opp = normalize(raw)
                known = dedupe.first_seen(opp.id)
                if known is not None and known < opp.provenance.first_seen:
                    opp.provenance.first_seen = known
                dedupe.add(opp)
                dedupe.apply(opp)
            except Retryable:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is dead-lettered, never dropped
                worker.dead_letter(msg, exc)
                continue
            bus.publish(NORMALIZED_TOPIC, opp.id, opp.to_bytes(), opp.headers())
        for opp_id in missing.due():
            log.info("closing %s: missing from its source's last %d complete crawls",
                     opp_id, close_after)
            dedupe.remove(opp_id)
            bus.publish(NORMALIZED_TOPIC, opp_id, None)

    worker = Worker(bus, group, [RAW_TOPIC, CRAWL_STATS_TOPIC], "normalize", process)
    return worker
