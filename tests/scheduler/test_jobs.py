"""The scheduler's jobs, run for real: crawl back-off after failures (a real
crawl child killed by its time limit), the expiry sweep through the bus and
the indexer, the job table made from the registry."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from crawlers.sources import Source
from pipeline.bus import make_bus
from pipeline.config import Settings
from pipeline.events import Status
from pipeline.indexer import make_indexer
from scheduler import jobs
from scheduler.service import SchedulerService, desired_jobs
from search.backends import SearchRequest, open_backend
from search.expiry import expire_past_deadlines
from storage.db import connect, crawl_runs
from tests.support.corpus import corpus


def local(tmp_path: Path, **kw: object) -> Settings:
    """Embedded settings, whatever services the environment names."""
    return Settings(data_dir=tmp_path, elasticsearch_url=None, kafka_bootstrap_servers=None, **kw)


def source(schedule: str = "every 1h", sid: str = "slow-site") -> Source:
    return Source.model_validate({
        "id": sid, "name": "Slow", "home_url": "http://127.0.0.1:9/", "spider": "schemaorg",
        "start_urls": ["http://127.0.0.1:9/"], "allowed_domains": ["127.0.0.1"], "schedule": schedule,
        "politeness": {"download_delay": 0.25, "concurrency": 1},
    })


def test_a_failing_source_backs_off_and_is_recorded(tmp_path: Path, database_url: str) -> None:
    settings = local(tmp_path, database_url=database_url, crawl_timeout=0.5)
    engine = connect(database_url)
    src = source()
    context = jobs.Context(settings=settings, engine=engine, sources={src.id: src}, holder="test")
    try:
        jobs.crawl(src.id, ctx=context)  # the child process cannot finish in 0.5 s: killed, recorded as failed
        with engine.connect() as conn:
            rows = conn.execute(select(crawl_runs.c.ok, crawl_runs.c.exit_code, crawl_runs.c.runner)).all()
        assert rows == [(False, -9, "test")]
        jobs.crawl(src.id, ctx=context)  # one failure: the next run goes ahead
        jobs.crawl(src.id, ctx=context)  # two in a row: backs off (interval × 2), nothing runs
        with engine.connect() as conn:
            assert len(conn.execute(select(crawl_runs.c.id)).all()) == 2
        until = jobs.backoff_until(engine, src.id, timedelta(hours=1))
        assert until is not None and until > datetime.now(UTC) + timedelta(minutes=50)
    finally:
        engine.dispose()


def test_expiry_sweep_closes_listings_past_their_deadline_or_end(tmp_path: Path) -> None:
    settings = local(tmp_path)
    bus = make_bus(settings)
    bus.ensure_topics()
    backend = open_backend(settings.search_url)
    backend.setup()
    docs = corpus()
    ended = docs[0].model_copy(update={  # a weekend's work that is over, with no deadline
        "id": "ended", "cluster_id": "ended", "deadline": None,
        "start_date": date(2026, 11, 28), "end_date": date(2026, 11, 29)})
    running = ended.model_copy(update={"id": "running", "cluster_id": "running", "end_date": date(2027, 3, 1)})
    backend.upsert_many([*docs, ended, running])
    expired = expire_past_deadlines(settings, today=date(2026, 12, 6), bus=bus, backend=backend)
    assert expired == 3  # lv-4 (deadline 1 December), lv-2 (5 December), and the one that ended
    indexer = make_indexer(bus, backend)
    indexer.drain(1.0)
    indexer.close()
    assert backend.get("lv-4")["status"] == Status.expired  # type: ignore[index]
    assert {h.id for h in backend.search(SearchRequest(status=["expired"], size=50)).hits} == {"lv-4", "lv-2", "ended"}
    assert backend.get("running")["status"] == Status.open  # type: ignore[index]
    assert expire_past_deadlines(settings, today=date(2026, 12, 6), bus=bus, backend=backend) == 0
    bus.close()
    backend.close()


def test_jobs_follow_the_registry_and_keep_their_next_run(tmp_path: Path) -> None:
    settings = local(tmp_path)
    wanted = desired_jobs({"aa": source("every 6h", "aa"), "bb": source("cron 0 */6 * * *", "bb")})
    assert set(wanted) == {"crawl:aa", "crawl:bb", "digests", "expiry-sweep", "coverage-snapshot"}
    svc = SchedulerService(settings, {"slow-site": source("every 6h")})
    svc.scheduler.start(paused=True)
    svc.sync_jobs()
    first = {j.id: j.next_run_time for j in svc.scheduler.get_jobs()}
    svc.scheduler.shutdown(wait=False)
    svc.engine.dispose()
    again = SchedulerService(settings, {"slow-site": source("every 6h")})  # a restart
    again.scheduler.start(paused=True)
    again.sync_jobs()
    assert {j.id: j.next_run_time for j in again.scheduler.get_jobs()} == first
    changed = SchedulerService(settings, {"slow-site": source("every 12h")})  # a changed schedule
    changed.scheduler.start(paused=True)
    changed.sync_jobs()
    assert "every 12h" in changed.scheduler.get_job("crawl:slow-site").name
    changed.scheduler.shutdown(wait=False)
    again.scheduler.shutdown(wait=False)
    with pytest.raises(ValueError):
        source("every sometimes")
