"""The crawls' own reports (``CrawlStats``), read back from ``crawl.stats.v1``
for the crawl lines of :mod:`coverage.crawl_reports`."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any

from coverage.crawl_reports import aware
from pipeline.bus import Bus, make_bus
from pipeline.config import Settings
from pipeline.events import CRAWL_STATS_TOPIC, CrawlStats, InvalidEvent, parse_event

log = logging.getLogger("tilts.crawls")

READER_GROUP = "tilts-scheduler-reports"  # reads crawl.stats.v1 back for the crawl lines


class StatsReader:
    """Reads the crawls' own reports back from ``crawl.stats.v1`` (consumer group
    ``tilts-scheduler-reports``), for the crawl lines. Shared by the crawl jobs of
    one scheduler; reads are serialized."""

    def __init__(self, settings: Settings, bus: Bus | None = None) -> None:
        self.settings = settings
        self._bus = bus
        self._own_bus = bus is None
        self._consumer: Any = None
        self._positions: dict[int, int] = {}
        self._latest: dict[str, list[CrawlStats]] = {}
        self._lock = threading.Lock()

    def _open(self) -> Bus:
        if self._bus is None:
            self._bus = make_bus(self.settings)
        if self._consumer is None:
            self._consumer = self._bus.consumer(READER_GROUP, [CRAWL_STATS_TOPIC])
            self._positions = dict(self._bus.committed(READER_GROUP, CRAWL_STATS_TOPIC))
        return self._bus

    def _reset(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close()
            except Exception as exc:
                log.debug("closing the crawl report reader: %r", exc)
        self._consumer = None

    def report_for(self, source_id: str, since: datetime, timeout: float = 30.0) -> CrawlStats | None:
        """The newest CrawlStats of ``source_id`` that finished at or after
        ``since``, once everything published so far has been read; ``None``
        when there is none (the crawl was killed, or the bus is down)."""
        with self._lock:
            deadline = time.monotonic() + timeout
            try:
                bus = self._open()
                target = bus.end_offsets(CRAWL_STATS_TOPIC)
                while True:
                    if all(self._positions.get(p, 0) >= end for p, end in target.items()):
                        break
                    if time.monotonic() >= deadline:
                        log.debug("crawl reports not read up to %s within %.0f s", target, timeout)
                        break
                    batch = self._consumer.poll(max_records=500, timeout=0.5)
                    for msg in batch:
                        self._positions[msg.partition] = max(self._positions.get(msg.partition, 0),
                                                             msg.offset + 1)
                        if msg.value is None:
                            continue
                        try:
                            stats = parse_event(CrawlStats, msg.value)
                        except InvalidEvent:
                            continue
                        kept = self._latest.setdefault(stats.source_id, [])
                        kept.append(stats)
                        del kept[:-5]
                    if batch:
                        self._consumer.commit()
            except Exception as exc:
                log.debug("reading crawl reports failed: %r", exc)
                self._reset()
            since = aware(since)
            found = [s for s in self._latest.get(source_id, []) if aware(s.finished_at) >= since]
            return max(found, key=lambda s: aware(s.finished_at)) if found else None

    def close(self) -> None:
        with self._lock:
            self._reset()
            if self._own_bus and self._bus is not None:
                self._bus.close()
            self._bus = None
