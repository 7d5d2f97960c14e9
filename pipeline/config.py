"""Defaults shared by every process that opens the bus without `tilts.settings`.

Scrapy child processes (``scrapy crawl ...``) build their bus from the
``TILTS_BUS_URL`` Scrapy setting; when it is absent they fall back to the same
rule as ``tilts.settings.Settings.bus_url``, read from the environment:
``KAFKA_BOOTSTRAP_SERVERS`` selects Kafka, otherwise the SQLite log under
``TILTS_DATA_DIR``.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def default_data_dir() -> Path:
    env = os.environ.get("TILTS_DATA_DIR")
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("tilts", appauthor=False))


def bus_url_for(kafka_bootstrap_servers: str | None, data_dir: Path) -> str:
    if kafka_bootstrap_servers:
        return f"kafka://{kafka_bootstrap_servers}"
    return f"sqlite:///{data_dir / 'bus.sqlite3'}"


def bus_url_from_env() -> str:
    return os.environ.get("TILTS_BUS_URL") or bus_url_for(
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), default_data_dir()
    )
