"""Wiring: build the bus, the search backend and the workers from Settings.

The one place that turns configuration into components; everything below it
receives its dependencies.
"""

from __future__ import annotations

from pathlib import Path

import logging
import threading
from dataclasses import dataclass, field

from crawlers import runner
from crawlers.sources import Source, SourceError
from pipeline.bus import Bus, open_bus
from pipeline.indexer import make_indexer
from pipeline.normalizer import make_normalizer
from pipeline.worker import Worker
from search.backends import SearchBackend, open_backend
from tilts.settings import Settings

log = logging.getLogger(__name__)


def make_bus(settings: Settings) -> Bus:
    if not settings.kafka_bootstrap_servers:
        settings.ensure_data_dir()
    return open_bus(settings.bus_url, prefix=settings.topic_prefix, partitions=settings.kafka_partitions)


def make_backend(settings: Settings) -> SearchBackend:
    if not settings.elasticsearch_url:
        settings.ensure_data_dir()
    return open_backend(settings.search_url, alias=settings.index_alias)


@dataclass
class Pipeline:
    """Normalizer and indexer running in background threads of this process."""

    bus: Bus
    backend: SearchBackend
    workers: list[Worker] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings) -> Pipeline:
        bus = make_bus(settings)
        bus.ensure_topics()
        backend = make_backend(settings)
        backend.setup()
        pipeline = cls(bus, backend)
        pipeline.workers = [make_normalizer(bus), make_indexer(bus, backend)]
        return pipeline

    def drain(self, idle: float = 2.0) -> dict[str, int]:
        """Run each stage until idle, in order; returns messages per stage."""
        counts = {w.stage: w.drain(idle) for w in self.workers}
        self.backend.refresh()
        return counts

    def start(self) -> None:
        for worker in self.workers:
            t = threading.Thread(target=worker.run, args=(self.stop,), name=f"tilts-{worker.stage}", daemon=True)
            t.start()
            self.threads.append(t)

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=10)
        for w in self.workers:
            w.close()
        self.bus.close()
        self.backend.close()


def crawl_source(settings: Settings, source: Source, timeout: float = 3600, *,
                 full: bool = True) -> runner.CrawlResult:
    """Crawl one registered source in a child process; ``full=False`` for ad-hoc URLs."""
    reason = source.disabled_reason
    if reason:
        raise SourceError(f"source {source.id} is disabled: {reason}")
    args = source.spider_args()
    if not full:
        args.pop("full_crawl", None)
    state = Path(settings.data_dir)
    return runner.crawl(
        source.spider,
        args,
        bus_url=settings.bus_url,
        topic_prefix=settings.topic_prefix,
        settings={
            "DOWNLOAD_DELAY": str(settings.download_delay),
            # Incremental: conditional GETs (ETag / Last-Modified) from an HTTP
            # cache per source, and the seen-set of listings (crawlers.seen).
            "HTTPCACHE_ENABLED": "True",
            "HTTPCACHE_POLICY": "scrapy.extensions.httpcache.RFC2616Policy",
            "HTTPCACHE_DIR": str(state / "httpcache" / f"{settings.topic_prefix}{source.id}"),
            "TILTS_CRAWL_STATE_DIR": str(state / "crawl-state" / settings.topic_prefix.rstrip(".")),
            **source.scrapy_settings(),
        },
        timeout=timeout,
    )
