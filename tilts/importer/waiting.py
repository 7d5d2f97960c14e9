"""``tilts import --wait``: processing what was published (embedded bus) or
waiting for the running workers (Kafka), then which listings are searchable."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.bus import Bus
from pipeline.config import Settings
from pipeline.events import (
    NORMALIZED_TOPIC,
    RAW_TOPIC,
)
from tilts.importer.progress import Bars
from tilts.importer.publish import ImportReport

if TYPE_CHECKING:
    from search.backends import SearchBackend


class WaitTimeout(RuntimeError):
    """The running workers did not catch up in time."""


def _behind(bus: Bus, group: str, topic: str, targets: dict[int, int]) -> int:
    """Messages below ``targets`` that ``group`` has not committed yet."""
    done = bus.committed(group, topic)
    return sum(max(0, end - done.get(p, 0)) for p, end in targets.items())


Progress = Callable[[str, int, int], None]  # (stage, done, total)


def drive_embedded(bus: Bus, backend: SearchBackend, *, processes: int = 1, progress: Progress | None = None,
                   stall_seconds: float = 300.0) -> dict[str, int]:
    """Run the normalizer, then the indexer (``tilts run``'s workers, in this
    process) until each group has committed everything written to its topic
    so far. Returns messages processed per stage."""
    from pipeline.indexer import GROUP as INDEX_GROUP
    from pipeline.indexer import make_indexer
    from pipeline.normalizer import GROUP as NORMALIZE_GROUP
    from pipeline.normalizer import make_normalizer

    counts: dict[str, int] = {}
    stages = (
        ("normalize", NORMALIZE_GROUP, RAW_TOPIC, lambda: make_normalizer(bus, processes=processes)),
        ("index", INDEX_GROUP, NORMALIZED_TOPIC, lambda: make_indexer(bus, backend)),
    )
    for stage, group, topic, make in stages:
        targets = bus.end_offsets(topic)
        total = _behind(bus, group, topic, targets)
        if progress is not None:
            progress(stage, 0, total)
        if total == 0:
            counts[stage] = 0
            continue
        worker = make()
        try:
            last_change = time.monotonic()
            left = total
            while left:
                if worker.run_once(timeout=0.5):
                    last_change = time.monotonic()
                now_left = _behind(bus, group, topic, targets)
                if now_left != left:
                    last_change = time.monotonic()
                left = now_left
                if progress is not None:
                    progress(stage, total - left, total)
                if left and time.monotonic() - last_change > stall_seconds:
                    raise WaitTimeout(f"the {stage} stage made no progress for {stall_seconds:.0f}s "
                                      f"({left} messages left)")
            counts[stage] = worker.processed
        finally:
            worker.close()
    backend.refresh()
    return counts


def wait_for_workers(bus: Bus, raw_targets: dict[int, int], *, timeout: float,
                     progress: Progress | None = None, poll: float = 1.0,
                     clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait until the running normalizer has committed the raw topic up to
    ``raw_targets`` and then the running indexer everything the normalizer
    wrote by then (their consumer groups' committed offsets); WaitTimeout after
    ``timeout`` seconds in all."""
    from pipeline.indexer import GROUP as INDEX_GROUP
    from pipeline.normalizer import GROUP as NORMALIZE_GROUP

    deadline = clock() + timeout
    plan = [("normalize", NORMALIZE_GROUP, RAW_TOPIC, raw_targets), ("index", INDEX_GROUP, NORMALIZED_TOPIC, None)]
    for stage, group, topic, targets in plan:
        targets = targets if targets is not None else bus.end_offsets(topic)
        total = _behind(bus, group, topic, targets)
        left = total
        while True:
            if progress is not None:
                progress(stage, total - left, total)
            if not left:
                break
            if clock() >= deadline:
                worker = "tilts normalize" if stage == "normalize" else "tilts index"
                raise WaitTimeout(f"timed out after {timeout:.0f}s: {left} messages on {topic} not yet "
                                  f"processed by group {group} (is `{worker}` running?)")
            sleep(poll)
            left = _behind(bus, group, topic, targets)


def missing_from_index(backend: SearchBackend, report: ImportReport) -> list[str]:
    """Ids of the imported listings the search backend does not hold."""
    return [doc_id for doc_id in report.listings if backend.get(doc_id) is None]


def explain_missing(bus: Bus, report: ImportReport, missing: Iterable[str]) -> list[str]:
    """``NAME:LINE: reason`` for each listing not searchable: the reason its dead
    letter gives (the normalizer's or the indexer's), when there is one."""
    from pipeline.dlq import list_letters

    missing = list(missing)
    by_key = {report.listings[doc_id][0]: doc_id for doc_id in missing}  # raw key (normalize letters)
    reasons: dict[str, str] = {}
    for letter in list_letters(bus, limit=sys.maxsize):  # oldest first: the latest reason wins
        doc_id = by_key.get(letter.key or "") or (letter.key if letter.key in report.listings else None)
        if doc_id is not None and letter.stage in ("normalize", "index"):
            reasons[doc_id] = f"dead-lettered by the {letter.stage} stage: {letter.error_message}"
    lines = sorted((report.listings[doc_id][1], doc_id) for doc_id in missing)
    return [f"{report.name}:{line}: {reasons.get(doc_id, 'not in the search index')}" for line, doc_id in lines]


@dataclass
class Waited:
    missing: list[str]  # ``NAME:LINE: reason`` per imported listing not searchable
    seconds: float


def wait_until_searchable(settings: Settings, bus: Bus, report: ImportReport, *, timeout: float,
                          bars: Bars | None = None) -> Waited:
    """``tilts import --wait``: on the embedded bus run the normalizer and the
    indexer here until they caught up; on Kafka wait (up to ``timeout``) for
    the running ones. Then check which imported listings the index holds."""
    from search.backends import make_backend

    started = time.monotonic()
    names = {"normalize": "normalizing", "index": "indexing"}

    def progress(stage: str, done: int, total: int) -> None:
        if bars is not None:
            bars.update(names[stage], done, total, f"{done}/{total} messages")

    backend = make_backend(settings)
    backend.setup()
    try:
        if settings.kafka_bootstrap_servers:
            wait_for_workers(bus, bus.end_offsets(RAW_TOPIC), timeout=timeout, progress=progress)
            backend.refresh()
        else:
            n = settings.normalize_processes
            drive_embedded(bus, backend, processes=n if n > 0 else (os.cpu_count() or 1), progress=progress)
        missing = missing_from_index(backend, report)
    finally:
        backend.close()
    return Waited(explain_missing(bus, report, missing) if missing else [], time.monotonic() - started)
