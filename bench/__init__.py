"""Benchmarks: every figure is a ratio against a baseline measured in the same run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def start_workers(kafka: str, es_url: str, prefix: str, logs: Path,
                  normalize_processes: int = 1, env: dict[str, str] | None = None) -> dict[str, subprocess.Popen]:
    """One ``tilts normalize`` (with ``normalize_processes`` children) and one
    ``tilts index`` process in distributed mode, on topics and an index alias of
    their own (``prefix``), logging to ``logs``; ``env``: more settings."""
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka, "ELASTICSEARCH_URL": es_url,
           "TILTS_TOPIC_PREFIX": f"{prefix}.", "TILTS_INDEX_ALIAS": prefix, "TILTS_DATA_DIR": str(logs),
           "TILTS_NORMALIZE_PROCESSES": str(normalize_processes), **(env or {})}
    return {stage: subprocess.Popen([sys.executable, "-m", "tilts.cli", stage], env=env,
                                    stdout=(logs / f"{stage}.log").open("ab"), stderr=subprocess.STDOUT)
            for stage in ("normalize", "index")}


def put_section(path: Path, titles: tuple[str, ...], text: str, before: str = "## Freshness and completeness") -> None:
    """Put ``text`` (sections of docs/benchmarks.md) into ``path`` in place of
    the sections titled ``titles``, or before the section ``before``, or at the end."""
    doc = path.read_text(encoding="utf-8") if path.exists() else ""
    for title in titles:  # out with the old ones
        if title in doc:
            head, rest = doc.split(title, 1)
            nxt = rest.find("\n## ")
            doc = head.rstrip() + "\n\n" + (rest[nxt + 1:] if nxt >= 0 else "")
    if before in doc:
        head, rest = doc.split(before, 1)
        doc = head.rstrip() + "\n\n" + text + before + rest
    else:
        doc = doc.rstrip() + "\n\n" + text
    path.write_text(doc, encoding="utf-8")
