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
