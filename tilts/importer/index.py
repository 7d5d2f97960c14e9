"""``tilts index --stdin``: Opportunity JSON lines straight into the search
backend."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pipeline.events import (
    InvalidEvent,
    Opportunity,
    parse_event,
)
from tilts.importer.mapping import Say


@dataclass
class IndexReport:
    indexed: int = 0
    bad: int = 0
    lines: int = 0
    seconds: float = 0.0


def index_lines(stream: Iterable[bytes], backend: Any, *, name: str = "<stdin>", say: Say = print,
                batch_size: int = 500) -> IndexReport:
    """Opportunity JSON lines → the search backend, in batches (the last line
    of an id in a batch wins); bad lines and rejected documents reported as
    ``NAME:LINE: reason``."""
    started = time.monotonic()
    report = IndexReport()
    batch: dict[str, tuple[int, Opportunity]] = {}

    def write() -> None:
        if not batch:
            return
        docs = [opp for _, opp in batch.values()]
        for rejected in backend.upsert_many(docs):
            line = batch[rejected.doc_id][0] if rejected.doc_id in batch else 0
            report.bad += 1
            report.indexed -= 1
            say(f"{name}:{line}: rejected by the search backend: {getattr(rejected, 'reason', rejected)}")
        batch.clear()

    for n, line in enumerate(stream, 1):
        if not line.strip():
            continue
        report.lines += 1
        try:
            opp = parse_event(Opportunity, line.strip())
        except InvalidEvent as exc:
            report.bad += 1
            say(f"{name}:{n}: {str(exc).removeprefix('Opportunity: ')}")
            continue
        if opp.id not in batch:
            report.indexed += 1
        batch.pop(opp.id, None)
        batch[opp.id] = (n, opp)
        if len(batch) >= batch_size:
            write()
    write()
    backend.refresh()
    report.seconds = time.monotonic() - started
    return report
