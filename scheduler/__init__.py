"""Scheduling: APScheduler jobs for crawls, digests, expiry sweeps and coverage
snapshots (``service.py``); subscriptions and digests (``digest.py``). See
docs/scheduling.md."""

from __future__ import annotations

import re

_EVERY = re.compile(r"^every\s+(\d+)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def interval_seconds(schedule: str) -> int:
    """``"every 6h"`` → 21600. Raises ValueError naming the bad schedule."""
    m = _EVERY.match(schedule.strip().lower())
    if not m:
        raise ValueError(f"schedule {schedule!r}: expected 'every <n><s|m|h|d>'")
    return int(m.group(1)) * _UNITS[m.group(2)]
