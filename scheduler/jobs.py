"""The scheduler's jobs: module-level functions, so the persistent job store
can refer to them by name ("scheduler.jobs:crawl"). Each takes the running
scheduler's :class:`Context` as the keyword ``ctx``: the store keeps only the
job's own arguments (a source id) and the scheduler's executor
(:class:`scheduler.service.ContextExecutor`) passes the context in."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import desc, insert, select
from sqlalchemy.engine import Engine

from coverage import crawl_reports as report
from coverage.crawl_stats import StatsReader
from coverage.numbers import take_snapshot
from crawlers.runner import CrawlResult, crawl_source
from crawlers.sources import Source
from pipeline.config import Settings
from scheduler import interval_seconds
from search.expiry import expire_past_deadlines
from storage.db import crawl_runs, utcnow
from subscriptions.digest import send_due_digests

log = logging.getLogger(__name__)

# A failing source waits interval × 2^(failures-1) more, up to this long.
MAX_BACKOFF = timedelta(days=7)


@dataclass
class Context:
    """What the jobs of one running scheduler share."""

    settings: Settings
    engine: Engine
    sources: dict[str, Source]
    holder: str = ""
    crawl: Callable[[Settings, Source], CrawlResult] | None = None  # crawl_source by default
    stop: threading.Event | None = None  # set when the scheduler stops
    scheduler: BaseScheduler | None = None  # next run times for the crawl lines
    reports: StatsReader | None = None  # opened on first use
    extra: dict[str, Any] = field(default_factory=dict)


def _given(ctx: Context | None) -> Context:
    if ctx is None:
        raise RuntimeError("scheduler jobs run with a Context (ctx=...), passed by the scheduler's executor")
    return ctx



def consecutive_failures(engine: Engine, source_id: str) -> tuple[int, datetime | None]:
    """How many of the source's latest runs failed in a row, and when the last ended."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(crawl_runs.c.ok, crawl_runs.c.finished_at).where(crawl_runs.c.source_id == source_id)
            .order_by(desc(crawl_runs.c.id)).limit(20)
        ).all()
    failures = 0
    for ok, _ in rows:
        if ok:
            break
        failures += 1
    return failures, (rows[0][1] if rows else None)


def backoff_until(engine: Engine, source_id: str, interval: timedelta) -> datetime | None:
    failures, last = consecutive_failures(engine, source_id)
    if not failures or last is None:
        return None
    if last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    wait = min(MAX_BACKOFF, interval * (2 ** (failures - 1))) - interval
    return last + wait if wait > timedelta(0) else None


def crawl(source_id: str, *, ctx: Context | None = None) -> report.CrawlReport | None:
    """One scheduled crawl: a child process with a time limit; the run is
    recorded, said in one line (:mod:`coverage.crawl_reports`), and a failing source
    backs off (never blocking the others). Returns the report (None when the
    crawl did not run)."""
    ctx = _given(ctx)
    source = ctx.sources.get(source_id)
    if source is None or source.disabled_reason:
        log.warning("crawl %s skipped: not registered or disabled", source_id)
        return None
    interval = source_interval(source)
    until = backoff_until(ctx.engine, source_id, interval)
    if until and until > utcnow():
        failures, _ = consecutive_failures(ctx.engine, source_id)
        report.log.info(report.skipped_line(source_id, until, failures))
        return None
    started = utcnow()
    t0 = time.monotonic()
    code, tail, raised = None, "", None
    try:
        if ctx.crawl is not None:
            result = ctx.crawl(ctx.settings, source)
        else:
            result = crawl_source(ctx.settings, source, timeout=ctx.settings.crawl_timeout)
        code = getattr(result, "returncode", 0)
        tail = getattr(result, "log_tail", "") or ""
    except Exception as exc:
        raised = f"{type(exc).__name__}: {exc}"[:2000]
        log.exception("crawl %s raised", source_id)
    stats = None
    if raised is None and code == 0:
        stats = _reports(ctx).report_for(source_id, since=started - timedelta(seconds=2))
    outcome = report.judge(source, code, tail, stats, timeout=ctx.settings.crawl_timeout, raised=raised)
    message = None if outcome.ok else (raised or f"{outcome.reason}\n{tail[-1800:]}")[:2000]
    with ctx.engine.begin() as conn:
        run = conn.execute(insert(crawl_runs).values(
            source_id=source_id, started_at=started, finished_at=utcnow(), ok=outcome.ok, exit_code=code,
            items=outcome.items, errors=outcome.errors,
            duration_seconds=round(time.monotonic() - t0, 3), message=message, runner=ctx.holder,
        ))
        key = run.inserted_primary_key
        assert key is not None  # an INSERT of one row
        run_id = key[0]
    outcome.next_run, outcome.backoff = next_run(ctx, source_id, interval)
    report.record(ctx.engine, run_id, outcome)
    report.emit(outcome)
    return outcome


def source_interval(source: Source) -> timedelta:
    return timedelta(seconds=interval_seconds(source.schedule)) if source.schedule.startswith("every") \
        else timedelta(days=1)


def next_run(ctx: Context, source_id: str, interval: timedelta) -> tuple[datetime | None, bool]:
    """When the source's crawl runs next, after its back-off if it is backing
    off; ``(None, False)`` outside a running scheduler."""
    job = ctx.scheduler.get_job(f"crawl:{source_id}") if ctx.scheduler is not None else None
    if job is None:
        return None, False
    first, trigger = job.next_run_time, job.trigger
    now = utcnow()
    if first is not None and first <= now:  # not yet moved on by the scheduler
        first = trigger.get_next_fire_time(first, now)
    return report.next_after(trigger, first, backoff_until(ctx.engine, source_id, interval))


_READER_LOCK = threading.Lock()


def _reports(ctx: Context) -> StatsReader:
    with _READER_LOCK:
        if ctx.reports is None:
            ctx.reports = StatsReader(ctx.settings)
        return ctx.reports


def digests(*, ctx: Context | None = None) -> None:
    """Send every digest that is due (idempotent: each period once)."""
    ctx = _given(ctx)
    send_due_digests(ctx.settings, ctx.engine, stop=ctx.stop)


def expiry_sweep(*, ctx: Context | None = None) -> None:
    """Close listings whose deadline has passed (republished as expired)."""
    expire_past_deadlines(_given(ctx).settings)


def coverage_snapshot(*, ctx: Context | None = None) -> None:
    """Today's counts of open listings per country, theme, programme and source."""
    ctx = _given(ctx)
    take_snapshot(ctx.settings, ctx.engine)
