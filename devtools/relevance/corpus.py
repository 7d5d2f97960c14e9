"""The search side's corpus: the same records mapped by ``devtools.corpus`` and
normalized at ``EVAL_NOW``, cached on disk."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from devtools import corpus
from devtools.relevance.records import DATA_FILES, EVAL_NOW, ROOT, SOURCE_IDS

CACHE_FORMAT = 1  # bump when what the cache holds changes


def _file_hashes(paths: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def _code_files() -> list[Path]:
    """What the cached corpus depends on besides the data: the mapping and the normalizer."""
    return sorted([ROOT / "devtools" / "corpus.py", ROOT / "pipeline" / "events.py",
                   *(ROOT / "pipeline" / "normalize").rglob("*.py")])


def select(ids: Iterable[str], per_source: int | None) -> set[str]:
    """A deterministic sample: the first ``per_source`` ids of each source by hash
    (None: everything). ESC is always kept whole."""
    chosen: dict[str, list[str]] = defaultdict(list)
    for i in ids:
        chosen[i.rsplit("-", 1)[0]].append(i)
    keep: set[str] = set()
    for source, group in chosen.items():
        if per_source is None or source == SOURCE_IDS["esc"]:
            keep.update(group)
        else:
            keep.update(sorted(group, key=lambda x: hashlib.sha256(x.encode()).hexdigest())[:per_source])
    return keep


def normalized_corpus(data: Path, *, per_source: int | None = None, cache: Path | None = None,
                      log: Callable[[str], None] = lambda _: None) -> list[Any]:
    """The three corpora mapped by ``devtools.corpus`` (as their spiders would) and
    normalized at ``EVAL_NOW``, clustered like the normalizer does; cached on
    disk under a key of the data files', the mapping's and the normalizer's
    hashes."""
    from pipeline.events import InvalidEvent, Opportunity
    from pipeline.normalize import normalize
    from pipeline.normalize.dedupe import Deduplicator
    from pipeline.normalize.places.geonames import cache_dir

    key = hashlib.sha256(json.dumps([
        CACHE_FORMAT, _file_hashes(data / f for f in DATA_FILES), _file_hashes(_code_files()),
        EVAL_NOW.isoformat(), per_source]).encode()).hexdigest()[:24]
    path = (cache or cache_dir() / "relevance") / f"corpus-{key}.jsonl"
    if path.exists():
        log(f"normalized corpus from cache {path}")
        # split on "\n" only: descriptions may hold U+2028 and other separators that splitlines() breaks on
        return [Opportunity.model_validate_json(line) for line in path.read_text(encoding="utf-8").split("\n")
                if line]
    started = time.perf_counter()
    saved, corpus.DATA = corpus.DATA, data
    try:
        events = [*corpus._esc(), *corpus._hamburg(), *corpus._nyc()]
    finally:
        corpus.DATA = saved
    from pipeline.events import opportunity_id

    keep = select((opportunity_id(e.source_id, e.external_id) for e in events), per_source)
    opps = []
    for e in events:
        if opportunity_id(e.source_id, e.external_id) in keep:
            with contextlib.suppress(InvalidEvent):  # no title: never a listing
                opps.append(normalize(e, now=EVAL_NOW))
    dedupe = Deduplicator()
    placed = [dedupe.place(o) for o in opps]
    dedupe.flush()
    opps = [dedupe.apply(o) for o in placed]
    dedupe.close()
    log(f"normalized {len(opps)} listings in {time.perf_counter() - started:.1f}s")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
    tmp.write_text("".join(o.model_dump_json() + "\n" for o in opps), encoding="utf-8")
    tmp.replace(path)
    return opps
