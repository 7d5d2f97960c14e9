"""The coverage dashboard's test credentials and a minimal registry entry."""

from __future__ import annotations

from typing import Any

AUTH = ("officer", "s3cret-officer")


class Src:
    def __init__(self, sid: str) -> None:
        self.id, self.disabled_reason, self.schedule = sid, None, "every 1h"


def seed_history(settings: Any, engine: Any, backend: Any) -> None:
    """A successful crawl of ``corpus`` now and two daily snapshots a week apart."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from coverage.numbers import take_snapshot
    from storage.db import crawl_runs

    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(crawl_runs).values(source_id="corpus", started_at=now, finished_at=now, ok=True,
                                               exit_code=0, duration_seconds=2.0))
    take_snapshot(settings, engine, backend=backend, day=(now - timedelta(days=7)).date())
    take_snapshot(settings, engine, backend=backend)
