"""The normalizer worker: ``opportunities.raw.v1`` → ``opportunities.normalized.v1``.

Consumer group ``tilts-normalizer``. Each raw event is validated and
normalized; the Opportunity is published keyed by its id. A raw event that is
not valid JSON, breaks the contract or cannot be normalized goes to
``opportunities.dlq.v1`` with stage ``normalize`` and the reason; so does an
event the normalizer fails on unexpectedly (a bug), to be replayed after the
fix: one bad record never stops the stream.

Near-duplicates are clustered across sources (``pipeline.normalize.dedupe``).
The clustering state is rebuilt at start-up by reading the compacted
normalized topic (each listing back in the cluster it was published with),
so a restarted normalizer keeps cluster ids and each listing's first-seen
time. A ``cluster_id`` never changes once given; earlier members learn of
later ones from the indexer (``pipeline.links``). The clustering
needs one view of all listings: run one normalizer per deployment (Kafka
partitions let the indexer scale out; see docs/normalization.md). Its state
lives in a SQLite file, so memory stays flat as listings accumulate.

The normalization itself (parsing, language detection, dates, places,
themes) needs no shared state, and is what costs: with ``processes`` > 1 it
runs in a pool of that many child processes, a batch at a time, while this
process keeps the consumer, the clustering (in batch order, so the result is
the same as with one process) and the producer. A child that dies takes its
batch back to the start: the pool is rebuilt and the batch retried, nothing
committed meanwhile.

The normalizer also reads ``crawl.stats.v1``. A listing its source no longer
publishes (``CrawlStats.missing``: absent from the source's last three
*complete* crawls, as the crawler's seen-set counts them) is closed with a
tombstone on the normalized topic, which removes it from search.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from pipeline.bus import Bus, Message, read_to_end
from pipeline.clusterer import publish_close, publish_for_clustering
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
from pipeline.normalize.dedupe import Deduplicator, Fingerprint, fingerprint
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


Normalized = tuple[Opportunity | None, Fingerprint | None, BaseException | None]


def _normalize_one(value: bytes | None) -> Normalized:
    """One raw event → (listing, its clustering fingerprint, None) or (None, None, error)."""
    try:
        opp = normalize(parse_event(RawOpportunity, value))
        return opp, fingerprint(opp), None
    except Exception as exc:
        return None, None, exc


def _normalize_in_child(value: bytes | None) -> tuple[bytes | None, Fingerprint | None, BaseException | None]:
    """Pool side of ``_normalize_one``: the listing as bytes, the failure as a value."""
    opp, prints, exc = _normalize_one(value)
    if opp is not None:
        return opp.to_bytes(), prints, None
    try:
        pickle.dumps(exc)
    except Exception:
        exc = RuntimeError(f"{type(exc).__name__}: {exc}")
    return None, None, exc


def _warm_child(parent: int) -> None:
    """Child start-up: die with the parent (even on its kill -9), load the models."""
    _follow_parent(parent)
    from pipeline.normalize.language import detect_language

    detect_language("A volunteer project for young people in the city.", "en")


def _follow_parent(parent: int) -> None:
    try:  # Linux: the kernel sends SIGKILL when the parent goes
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it went before prctl took effect
        os._exit(1)

    def watch() -> None:  # elsewhere, and as a second line: poll the parent
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


class NormalizePool:
    """``processes`` children that normalize raw events, results in input order."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn: never fork a process that runs Kafka client threads
            self._executor = ProcessPoolExecutor(
                self.processes, mp_context=multiprocessing.get_context("spawn"),
                initializer=_warm_child, initargs=(os.getpid(),))
        return self._executor

    def map(self, values: list[bytes | None]) -> list[Normalized]:
        if not values:
            return []
        chunk = max(1, len(values) // (self.processes * 4))
        try:
            results = list(self._pool().map(_normalize_in_child, values, chunksize=chunk))
        except BrokenProcessPool as exc:
            self.close()
            raise Retryable(f"a normalizer child process died: {exc}") from exc
        return [(Opportunity.model_validate_json(data) if data is not None else None, prints, exc)
                for data, prints, exc in results]

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


def warm_start(bus: Bus, dedupe: Deduplicator, *, quiet_seconds: float = 5.0) -> int:
    """Rebuild the clustering index from the bus; returns listings loaded."""
    loaded = 0

    def listing(msg: Message) -> None:
        nonlocal loaded
        if msg.value is None:
            dedupe.remove(msg.key.decode() if msg.key else "")
            return
        try:
            dedupe.restore(parse_event(Opportunity, msg.value))
            loaded += 1
        except InvalidEvent:
            pass  # the indexer dead-letters it; it cannot be a cluster member

    read_to_end(bus, f"{GROUP}-warm-{uuid.uuid4().hex[:12]}", NORMALIZED_TOPIC, listing,
                quiet_seconds=quiet_seconds)
    return loaded


def make_normalizer(bus: Bus, group: str = GROUP, *, dedupe: Deduplicator | None = None,
                    warm: bool = True, processes: int = 1, clustering: str = "inline") -> Worker:
    """``clustering="inline"`` clusters here (one normalizer per deployment);
    ``"stage"`` keeps no state and hands each listing to the clustering stage
    (``pipeline.clusterer``), so any number of normalizers can share the work."""
    if clustering not in ("inline", "stage"):
        raise ValueError(f"clustering is 'inline' or 'stage', not {clustering!r}")
    if clustering == "stage":
        return _stateless_normalizer(bus, group, processes)
    worker: Worker
    missing = MissingListings()
    own_dedupe = dedupe is None
    if dedupe is None:
        dedupe = Deduplicator()
        if warm:
            loaded = warm_start(bus, dedupe)
            log.info("normalizer: %d listings loaded for clustering", loaded)

    def listing(msg: Message, result: Normalized) -> None:
        opp, prints, error = result
        if opp is not None:
            try:
                opp = dedupe.place(opp, prints)
            except Exception as exc:
                opp, error = None, exc
        if opp is None:
            worker.dead_letter(msg, error or RuntimeError("normalization failed"))
            return
        _report_dropped(opp)
        bus.publish(NORMALIZED_TOPIC, opp.id, opp.to_bytes(), opp.headers())

    def process(batch: list[Message]) -> None:
        _each(batch, normalizing, worker, missing.report, listing)
        for opp_id in missing.due():
            log.info("closing %s: its source no longer publishes it", opp_id)
            dedupe.remove(opp_id)
            bus.publish(NORMALIZED_TOPIC, opp_id, None)
        dedupe.flush()

    worker, normalizing = _worker(bus, group, processes, process)
    if own_dedupe:
        worker.on_close(dedupe.close)
    return worker


def _normalizing(pool: NormalizePool | None) -> Callable[[list[Message]], list[Normalized]]:
    def normalized(listings: list[Message]) -> list[Normalized]:
        if pool is None:
            return [_normalize_one(m.value) for m in listings]
        return pool.map([m.value for m in listings])
    return normalized


def _report_dropped(opp: Opportunity) -> None:
    if opp.provenance.dropped:  # kept in the listing too, so `tilts search` and the API show it
        log.warning("%s: fields left out: %s", opp.id, "; ".join(opp.provenance.dropped))


def _worker(bus: Bus, group: str, processes: int, process: Callable[[list[Message]], None]
            ) -> tuple[Worker, Callable[[list[Message]], list[Normalized]]]:
    """The normalize stage's worker, and how it normalizes (a pool of
    ``processes`` children, or in this process)."""
    pool = NormalizePool(processes) if processes > 1 else None
    worker = Worker(bus, group, [RAW_TOPIC, CRAWL_STATS_TOPIC], "normalize", process)
    if pool is not None:
        worker.on_close(pool.close)
    return worker, _normalizing(pool)


def _each(batch: list[Message], normalizing: Callable[[list[Message]], list[Normalized]],
          worker: Worker, stats: Callable[[CrawlStats], None],
          listing: Callable[[Message, Normalized], None]) -> None:
    """Hand each message of a batch, in order, to ``stats`` (a crawl's report) or
    ``listing`` (a raw listing with its normalized result); a broken report is
    dead-lettered."""
    results = iter(normalizing([m for m in batch if m.topic != CRAWL_STATS_TOPIC]))
    for msg in batch:
        if msg.topic != CRAWL_STATS_TOPIC:
            listing(msg, next(results))
            continue
        try:
            report = parse_event(CrawlStats, msg.value)
        except InvalidEvent as exc:
            worker.dead_letter(msg, exc)
            continue
        stats(report)


def _stateless_normalizer(bus: Bus, group: str, processes: int) -> Worker:
    """Normalize, and publish to the clustering stage keyed by clustering block;
    close what crawls report missing by a notice to every clustering partition."""

    def closed(stats: CrawlStats) -> None:
        for ext in stats.missing:
            publish_close(bus, opportunity_id(stats.source_id, ext))

    def listing(msg: Message, result: Normalized) -> None:
        opp, _, error = result
        if opp is None:
            worker.dead_letter(msg, error or RuntimeError("normalization failed"))
            return
        _report_dropped(opp)
        publish_for_clustering(bus, opp)

    def process(batch: list[Message]) -> None:
        _each(batch, normalizing, worker, closed, listing)

    worker, normalizing = _worker(bus, group, processes, process)
    return worker
