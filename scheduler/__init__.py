"""Scheduling: crawls per source on their intervals (APScheduler jobs, digests
and coverage snapshots arrive with the scheduling work, issue 6)."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

_EVERY = re.compile(r"^every\s+(\d+)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def interval_seconds(schedule: str) -> int:
    """``"every 6h"`` → 21600. Raises ValueError naming the bad schedule."""
    m = _EVERY.match(schedule.strip().lower())
    if not m:
        raise ValueError(f"schedule {schedule!r}: expected 'every <n><s|m|h|d>'")
    return int(m.group(1)) * _UNITS[m.group(2)]


class CrawlLoop:
    """Runs each source's crawl on its interval, one at a time, in a thread.

    A failing crawl is logged and retried at its next interval; it never
    blocks other sources.
    """

    def __init__(self, sources: Iterable[Any], crawl: Callable[[Any], Any]) -> None:
        self.sources = []
        for source in sources:
            reason = getattr(source, "disabled_reason", None)
            if reason:
                log.warning("source %s is not scheduled: %s", source.id, reason)
            else:
                self.sources.append(source)
        self._crawl = crawl
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tilts-crawls", daemon=True)
        self._due = {s.id: 0.0 for s in self.sources}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for source in self.sources:
                if self._stop.is_set() or self._due[source.id] > now:
                    continue
                try:
                    result = self._crawl(source)
                    if getattr(result, "returncode", 0) != 0:
                        log.warning("crawl of %s failed: exit %s", source.id, result.returncode)
                except Exception:  # noqa: BLE001 - one source never stops the others
                    log.exception("crawl of %s raised", source.id)
                self._due[source.id] = time.monotonic() + interval_seconds(source.schedule)
            self._stop.wait(5.0)
