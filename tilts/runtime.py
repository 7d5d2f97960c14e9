"""Wiring: the normalizer and the indexer of this process, in background threads.

The bus and the backend come from the settings (:func:`pipeline.bus.make_bus`,
:func:`search.backends.make_backend`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from pipeline.bus import Bus, make_bus
from pipeline.clusterer import make_clusterer
from pipeline.config import Settings
from pipeline.indexer import make_indexer
from pipeline.normalizer import make_normalizer
from pipeline.worker import Worker
from search.backends import SearchBackend, make_backend

log = logging.getLogger(__name__)


@dataclass
class BackgroundWorkers:
    """Normalizer and indexer running in background threads of this process."""

    bus: Bus
    backend: SearchBackend
    workers: list[Worker] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings) -> BackgroundWorkers:
        bus = make_bus(settings)
        bus.ensure_topics()
        backend = make_backend(settings)
        backend.setup()
        pipeline = cls(bus, backend)
        if settings.clustering == "stage":  # as the deployment's other processes do
            pipeline.workers = [make_normalizer(bus, clustering="stage"),
                                make_clusterer(bus, state_dir=settings.cluster_state_path,
                                               name=f"{settings.topic_prefix}clusters"),
                                make_indexer(bus, backend)]
        else:
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
