"""`tilts schedule`: APScheduler 3 with a persistent job store and a leader lock.

Jobs (ids in brackets):

- ``crawl:<source>``: each enabled source on its own schedule (``every 6h``
  → an interval with 10% jitter; ``cron 0 */6 * * *`` → a cron trigger);
- ``digests``: every 15 minutes, sends the digests that are due (each
  subscriber's own weekly or daily slot in their time zone);
- ``expiry-sweep``: hourly, closes listings whose deadline has passed;
- ``coverage-snapshot``: daily at 02:15 UTC.

Guarantees, set on purpose:

- The job store is SQL (``TILTS_DATABASE_URL``: SQLite embedded, PostgreSQL
  distributed). Next run times survive restarts; jobs are only (re)written
  when their trigger changed, so a restart never postpones a due run.
- ``coalesce=True`` and no misfire limit: runs missed while the scheduler was
  down happen once at start-up, not once per missed slot (no repeats).
- ``max_instances=1``: a slow crawl of one source never overlaps itself;
  crawls run in a pool of threads, each a child process with a time limit,
  so one source never blocks the others.
- Several schedulers may run; only the holder of the database lease acts (the
  others keep their scheduler paused and take over within one lease once the
  holder is gone).
"""

from __future__ import annotations

import copy
import logging
import random
import threading
from datetime import timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crawlers.sources import Source
from pipeline.config import Settings
from scheduler import interval_seconds, jobs
from scheduler.lease import LeaderLock
from storage.db import connect, utcnow

log = logging.getLogger(__name__)

JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}


def source_trigger(schedule: str) -> IntervalTrigger | CronTrigger:
    schedule = schedule.strip()
    if schedule.startswith("cron "):
        return CronTrigger.from_crontab(schedule[5:], timezone="UTC")
    seconds = interval_seconds(schedule)
    return IntervalTrigger(seconds=seconds, jitter=max(1, seconds // 10), timezone="UTC")


def desired_jobs(sources: dict[str, Source], digest_every: int = 900) -> dict[str, dict[str, Any]]:
    """Job id → add_job arguments, from the source registry and the fixed jobs."""
    wanted: dict[str, dict[str, Any]] = {}
    for source in sources.values():
        if source.disabled_reason:
            continue
        wanted[f"crawl:{source.id}"] = {"func": "scheduler.jobs:crawl", "args": [source.id],
                                        "trigger": source_trigger(source.schedule),
                                        "name": f"crawl {source.id} ({source.schedule})"}
    wanted["digests"] = {"func": "scheduler.jobs:digests",
                         "trigger": IntervalTrigger(seconds=digest_every, timezone="UTC"),
                         "name": "send due digests"}
    wanted["expiry-sweep"] = {"func": "scheduler.jobs:expiry_sweep",
                              "trigger": IntervalTrigger(hours=1, timezone="UTC"), "name": "expire past deadlines"}
    wanted["coverage-snapshot"] = {"func": "scheduler.jobs:coverage_snapshot",
                                   "trigger": CronTrigger(hour=2, minute=15, timezone="UTC"),
                                   "name": "daily coverage snapshot"}
    return wanted


class ContextExecutor(ThreadPoolExecutor):
    """Runs each job with this scheduler's :class:`jobs.Context` as the keyword
    ``ctx``: the job store keeps references and arguments only, and several
    schedulers in one process (tests, ``tilts demo``) never share state."""

    def __init__(self, context: jobs.Context, threads: int) -> None:
        super().__init__(threads)
        self.context = context

    def _do_submit_job(self, job: Any, run_times: Any) -> None:
        bound = copy.copy(job)  # the copy runs; the stored job keeps its own arguments
        bound._jobstore_alias = job._jobstore_alias  # not part of a Job's copied state
        bound.kwargs = {**job.kwargs, "ctx": self.context}
        super()._do_submit_job(bound, run_times)


class SchedulerService:
    def __init__(self, settings: Settings, sources: dict[str, Source], *, lease: float | None = None,
                 crawl: Any = None, threads: int = 4) -> None:
        self.settings = settings
        self.sources = sources
        self.engine = connect(settings.db_url)
        self.lock = LeaderLock(self.engine, lease=lease or settings.scheduler_lease)
        self._stop = threading.Event()
        self.context = jobs.Context(settings=settings, engine=self.engine, sources=sources,
                                    holder=self.lock.holder, crawl=crawl, stop=self._stop)
        self.scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.engine, tablename="apscheduler_jobs")},
            executors={"default": ContextExecutor(self.context, threads)},
            job_defaults=JOB_DEFAULTS, timezone="UTC",
        )
        self.context.scheduler = self.scheduler
        self._thread = threading.Thread(target=self._lead, name="tilts-leader", daemon=True)
        self.leading = False

    def sync_jobs(self) -> None:
        """Make the job store match the registry: add new jobs (first run soon,
        spread by jitter), replace jobs whose trigger changed, remove the rest.
        Unchanged jobs keep their stored next run time."""
        wanted = desired_jobs(self.sources, self.settings.digest_sweep_seconds)
        existing = {job.id: job for job in self.scheduler.get_jobs()}
        for job_id, spec in wanted.items():
            job = existing.get(job_id)
            if job is not None and str(job.trigger) == str(spec["trigger"]) and job.func_ref == spec["func"]:
                continue
            first = None
            if job_id.startswith("crawl:") and job is None:
                first = utcnow() + timedelta(seconds=random.uniform(0, 30))
            self.scheduler.add_job(spec["func"], spec["trigger"], args=spec.get("args", []), id=job_id,
                                   name=spec["name"], replace_existing=True,
                                   **({"next_run_time": first} if first else {}))
        for job_id in existing.keys() - wanted.keys():
            self.scheduler.remove_job(job_id)

    def start(self) -> None:
        self.scheduler.start(paused=True)
        self.sync_jobs()
        self._thread.start()

    def _lead(self) -> None:
        period = max(0.5, self.lock.lease.total_seconds() / 3)
        while not self._stop.is_set():
            try:
                leader = self.lock.try_acquire()
            except Exception:
                log.exception("leader lock check failed")
                leader = False
            if leader and not self.leading:
                log.warning("this scheduler (%s) is the leader; jobs run here", self.lock.holder)
                self.scheduler.resume()
            elif not leader and self.leading:
                log.warning("leadership lost; jobs paused here")
                self.scheduler.pause()
            self.leading = leader
            self._stop.wait(period)

    def stop(self) -> None:
        """Stop taking new work, let running jobs finish their current item
        (a digest sweep stops between subscribers), release the lease."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        if self.scheduler.running:
            self.scheduler.pause()  # no new submissions while the pool drains
            self.scheduler.shutdown(wait=True)
        if self.leading:
            self.lock.release()
        if self.context.reports is not None:
            self.context.reports.close()
            self.context.reports = None
        self.engine.dispose()

    def listing(self) -> list[tuple[str, str, str]]:
        """(id, name, next run) of every job, soonest first."""
        rows = [(j.id, j.name, j.next_run_time.isoformat() if j.next_run_time else "paused")
                for j in self.scheduler.get_jobs()]
        return sorted(rows, key=lambda r: r[2])
