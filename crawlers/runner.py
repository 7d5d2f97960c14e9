"""Run one crawl as a child process (``python -m scrapy crawl …``).

Scrapy's Twisted reactor cannot be restarted inside a long-lived process, so
the scheduler, the CLI and tests start every crawl as a child with a time
limit. The child publishes to the bus given as ``bus_url``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config import Settings

if TYPE_CHECKING:
    from crawlers.sources import Source


@dataclass
class CrawlResult:
    returncode: int
    log_tail: str


EX_TEMPFAIL = 75  # the crawl could not publish: try again later


def crawl(
    spider: str,
    args: dict[str, str],
    *,
    bus_url: str,
    topic_prefix: str = "",
    settings: dict[str, str] | None = None,
    timeout: float = 3600,
) -> CrawlResult:
    cmd = [sys.executable, "-m", "scrapy", "crawl", spider]
    for name, value in args.items():
        if value is not None:
            cmd += ["-a", f"{name}={value}"]
    overrides = {
        "TILTS_BUS_URL": bus_url,
        "TILTS_TOPIC_PREFIX": topic_prefix,
        # Close gracefully (publishing CrawlStats) well before the hard kill.
        "CLOSESPIDER_TIMEOUT": str(max(1, int(timeout * 0.9))),
        **(settings or {}),
    }
    for name, value in overrides.items():
        cmd += ["-s", f"{name}={value}"]
    env = dict(os.environ, SCRAPY_SETTINGS_MODULE="crawlers.settings")
    with tempfile.TemporaryDirectory(prefix="tilts-crawl-") as tmp:
        result_file = Path(tmp) / "result.json"
        cmd += ["-s", f"TILTS_RESULT_FILE={result_file}"]
        try:
            proc = subprocess.run(
                cmd, check=False, env=env, capture_output=True, text=True, timeout=timeout,
                stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired as exc:
            # Even with text=True, the output a timeout caught is bytes on POSIX (str on Windows).
            partial = (exc.stderr or b"")[-4000:]
            return CrawlResult(-9, partial.decode("utf-8", "replace") if isinstance(partial, bytes) else partial)
        code, tail = proc.returncode, proc.stderr[-4000:]
        try:
            outcome = json.loads(result_file.read_text())
        except (OSError, ValueError):
            outcome = {}
        if code == 0 and outcome.get("ok") is False:
            # Scrapy exits 0 whatever the close reason; the publisher said it failed.
            code, tail = EX_TEMPFAIL, f"{tail}\ntilts: {outcome.get('error')}"
    return CrawlResult(code, tail)


def crawl_source(settings: Settings, source: Source, timeout: float = 3600, *,
                 full: bool = True) -> CrawlResult:
    """Crawl one registered source in a child process; ``full=False`` for ad-hoc URLs."""
    from crawlers.sources import SourceError

    reason = source.disabled_reason
    if reason:
        raise SourceError(f"source {source.id} is disabled: {reason}")
    args = source.spider_args()
    if not full:
        args.pop("full_crawl", None)
    state = Path(settings.data_dir)
    return crawl(
        source.spider,
        args,
        bus_url=settings.bus_url,
        topic_prefix=settings.topic_prefix,
        settings={
            "DOWNLOAD_DELAY": str(settings.download_delay),
            # AutoThrottle starts from the same delay (crawlers/settings.py reads it from
            # TILTS_DOWNLOAD_DELAY only, which a caller's Settings may not have set)
            "AUTOTHROTTLE_START_DELAY": str(max(settings.download_delay, 0.1)),
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
