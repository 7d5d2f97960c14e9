"""One line per finished crawl, the same on the terminal, in the log and on the
coverage dashboard's source health.

``tilts run`` and ``tilts schedule`` used to say nothing about crawls: a
machine without internet ran every crawl, each reached nothing, exited 0 and
was recorded as a success. Now every finished crawl is judged here and said
once, e.g.::

    crawl european-youth-portal: ok, 14 pages, 3 new / 1 changed / 1,172 unchanged, 0 errors, next 2026-11-30 09:00 UTC
    crawl un-volunteers: FAILED (DNSLookupError ×1: app.unv.org), 0 listings, next retry 10:12 UTC (backoff)

- :class:`CrawlReport` holds the facts: the child's exit code, the crawl's own
  ``CrawlStats`` (read back from ``crawl.stats.v1`` by
  :class:`coverage.crawl_stats.StatsReader`),
  the failure reason and the next run.
- :func:`judge` decides the outcome. A crawl **fails** when its child failed
  (time limit, bus down, crash) or when it found no listing at all while
  counting errors (every request refused, a DNS failure, only 5xx answers):
  that is a failure of the source, not an empty source, and it backs off.
- :func:`crawl_line` is the only formatter; :func:`emit` logs the line at INFO
  on the logger ``tilts.crawls`` (WARNING when it failed), and
  :func:`show_on_terminal` makes that logger print however the root logger is
  configured.
- The facts are stored per run in ``tilts_crawl_reports`` (next to
  ``tilts_crawl_runs``), where :func:`latest_reports` finds them for the
  dashboard.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
import weakref
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from storage.db import crawl_reports

log = logging.getLogger("tilts.crawls")

EX_TEMPFAIL = 75  # crawlers.runner: the crawl could not publish to the bus


_created: weakref.WeakSet[Engine] = weakref.WeakSet()
_created_lock = threading.Lock()


def ensure_table(engine: Engine) -> None:
    """Create ``tilts_crawl_reports`` if missing (databases made before it existed)."""
    if engine in _created:
        return
    with _created_lock:
        crawl_reports.create(engine, checkfirst=True)
        _created.add(engine)


@dataclass
class CrawlReport:
    """What one finished crawl did; :func:`crawl_line` says it in one line."""

    source_id: str
    ok: bool
    finished_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    has_stats: bool = False
    pages: int = 0
    items: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    reason: str | None = None
    next_run: datetime | None = None
    backoff: bool = False

    @property
    def errors(self) -> int:
        return sum(self.errors_by_kind.values())

    @property
    def listings(self) -> int:
        return self.new + self.changed + self.unchanged

    @property
    def outcome(self) -> str:
        return "ok" if self.ok else "failed"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("finished_at", "next_run"):
            data[key] = data[key].isoformat() if data[key] else None
        return {**data, "outcome": self.outcome, "errors": self.errors, "listings": self.listings,
                "line": crawl_line(self)}


def _n(value: int) -> str:
    return f"{value:,}"


def kinds_text(errors_by_kind: dict[str, int]) -> str:
    """``{"http_503": 2, "DNSLookupError": 1}`` → ``http_503 ×2, DNSLookupError ×1``."""
    items = sorted(errors_by_kind.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{kind} ×{_n(count)}" for kind, count in items)


def when_text(moment: datetime, now: datetime | None = None) -> str:
    """``10:12 UTC`` today, ``2026-11-30 09:00 UTC`` on another day."""
    moment = aware(moment).astimezone(UTC)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%H:%M UTC" if moment.date() == now.date() else "%Y-%m-%d %H:%M UTC")


def crawl_line(report: CrawlReport, now: datetime | None = None) -> str:
    """The one line said about a finished crawl (terminal, log, dashboard)."""
    parts: list[str] = []
    if report.ok:
        parts.append("ok")
        if report.has_stats:
            parts.append(f"{_n(report.pages)} pages")
            parts.append(f"{_n(report.new)} new / {_n(report.changed)} changed / {_n(report.unchanged)} unchanged")
            errors = report.errors
            parts.append(f"{_n(errors)} error{'' if errors == 1 else 's'}"
                         + (f" ({kinds_text(report.errors_by_kind)})" if errors else ""))
        else:
            parts.append("no crawl report read back")
    else:
        parts.append(f"FAILED ({report.reason or 'unknown reason'})")
        if report.pages:
            parts.append(f"{_n(report.pages)} pages")
        parts.append(f"{_n(report.listings)} listings")
    if report.next_run is not None:
        retry = " retry" if not report.ok else ""
        parts.append(f"next{retry} {when_text(report.next_run, now)}" + (" (backoff)" if report.backoff else ""))
    return f"crawl {report.source_id}: " + ", ".join(parts)


def skipped_line(source_id: str, until: datetime, failures: int, now: datetime | None = None) -> str:
    """A scheduled crawl not run because its source is backing off."""
    return (f"crawl {source_id}: skipped, backing off after {failures} failed crawl{'s' if failures != 1 else ''}"
            f" until {when_text(until, now)}")


_REQUEST = re.compile(r"<(?:GET|POST|HEAD|PUT) (https?://[^\s>]+)>")
_TILTS_ERROR = re.compile(r"^tilts: (.+)$", re.MULTILINE)


def _hosts(log_tail: str, source: Any) -> list[str]:
    """Hosts the failed requests went to (from the crawl's log), else the source's own."""
    found: list[str] = []
    for line in log_tail.splitlines():
        if "rror" in line or "Gave up" in line or "failed" in line:
            for url in _REQUEST.findall(line):
                netloc = urlsplit(url).netloc
                if netloc and netloc not in found:
                    found.append(netloc)
    if not found:
        for url in getattr(source, "start_urls", None) or []:
            netloc = urlsplit(str(url)).netloc
            if netloc and netloc not in found:
                found.append(netloc)
    return found[:3]


def _last_error_line(log_tail: str) -> str:
    lines = [ln.strip() for ln in log_tail.splitlines() if ln.strip()]
    for line in reversed(lines):
        if "ERROR" in line or "Error" in line or "rror:" in line:
            return line[-200:]
    return lines[-1][-200:] if lines else "no output"


def judge(source: Any, returncode: int | None, log_tail: str, stats: Any, *,
          timeout: float | None = None, raised: str | None = None) -> CrawlReport:
    """Turn a crawl child's result and its CrawlStats (or ``None``) into a report
    with an outcome and, when it failed, the reason."""
    report = CrawlReport(source_id=getattr(source, "id", str(source)), ok=False)
    if stats is not None:
        report.has_stats = True
        report.finished_at = aware(stats.finished_at)
        report.pages, report.items = stats.pages, stats.items
        report.new, report.changed, report.unchanged = stats.new, stats.changed, stats.unchanged
        report.errors_by_kind = dict(stats.errors_by_kind)
    else:
        report.finished_at = datetime.now(UTC)
    if raised is not None:
        report.reason = raised
    elif returncode == -9:
        report.reason = f"killed at the time limit ({timeout:g} s)" if timeout else "killed at the time limit"
    elif returncode == EX_TEMPFAIL:
        said = _TILTS_ERROR.findall(log_tail or "")
        report.reason = f"bus unavailable: {said[-1].strip()[:200]}" if said else "bus unavailable"
    elif returncode not in (0, None):
        report.reason = f"exit {returncode}: {_last_error_line(log_tail or '')}"
    elif stats is not None and report.listings == 0 and (report.errors or stats.finish_reason != "finished"):
        hosts = ", ".join(_hosts(log_tail or "", source))
        what = kinds_text(report.errors_by_kind) or f"finish reason {stats.finish_reason}"
        report.reason = f"{what}: {hosts}" if hosts else what
    else:
        report.ok = True
    return report


def emit(report: CrawlReport, now: datetime | None = None) -> str:
    line = crawl_line(report, now)
    log.log(logging.INFO if report.ok else logging.WARNING, line)
    return line


class _Plain(logging.Formatter):
    converter = staticmethod(time.gmtime)  # timestamps in UTC


def show_on_terminal(stream: TextIO | None = None, *, timestamps: bool = True) -> logging.Handler:
    """Print the crawl lines (logger ``tilts.crawls``) on ``stream`` (stdout by
    default), whatever level the root logger has; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(_Plain("%(asctime)s %(message)s" if timestamps else "%(message)s",
                                datefmt="%Y-%m-%d %H:%M:%S UTC"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return handler


def record(engine: Engine, run_id: int, report: CrawlReport, conn: Any = None) -> None:
    """Store the report of crawl run ``run_id`` (inside ``conn``'s transaction when given)."""
    ensure_table(engine)
    values = {
        "run_id": run_id, "source_id": report.source_id, "finished_at": report.finished_at, "ok": report.ok,
        "has_stats": report.has_stats, "pages": report.pages, "items": report.items, "new": report.new,
        "changed": report.changed, "unchanged": report.unchanged, "errors": report.errors,
        "errors_by_kind": report.errors_by_kind, "reason": report.reason, "next_run": report.next_run,
        "backoff": report.backoff, "line": crawl_line(report, report.finished_at),
    }
    if conn is not None:
        conn.execute(crawl_reports.insert().values(**values))
        return
    with engine.begin() as own:
        own.execute(crawl_reports.insert().values(**values))


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def latest_reports(engine: Engine) -> dict[str, CrawlReport]:
    """The last stored report of each source."""
    ensure_table(engine)
    last = select(crawl_reports.c.source_id, func.max(crawl_reports.c.run_id).label("run_id")) \
        .group_by(crawl_reports.c.source_id).subquery()
    with engine.connect() as conn:
        rows = conn.execute(select(crawl_reports).join(last, crawl_reports.c.run_id == last.c.run_id)).mappings().all()
    out = {}
    for row in rows:
        out[row["source_id"]] = CrawlReport(
            source_id=row["source_id"], ok=row["ok"], finished_at=aware(row["finished_at"]),
            has_stats=row["has_stats"], pages=row["pages"], items=row["items"], new=row["new"],
            changed=row["changed"], unchanged=row["unchanged"], errors_by_kind=dict(row["errors_by_kind"] or {}),
            reason=row["reason"], next_run=aware(row["next_run"]) if row["next_run"] else None,
            backoff=row["backoff"],
        )
    return out


def scheduled_runs(engine: Engine) -> dict[str, datetime]:
    """Source id → next run time in the scheduler's job store (empty when there is none)."""
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT id, next_run_time FROM apscheduler_jobs WHERE id LIKE 'crawl:%'").all()
    except Exception:
        return {}
    return {job_id[len("crawl:"):]: datetime.fromtimestamp(ts, UTC) for job_id, ts in rows if ts is not None}


def next_after(trigger: Any, first: datetime | None, until: datetime | None) -> tuple[datetime | None, bool]:
    """The first run at or after ``until`` (a back-off) of a job whose next run is
    ``first``; ``(time, True)`` when the back-off moved it."""
    if until is None or (first is not None and first >= until):
        return first, False
    if first is None or trigger is None:
        return until, True
    moment = first
    for _ in range(10_000):
        following = trigger.get_next_fire_time(moment, moment)
        if following is None:
            return until, True
        if following <= moment:
            following = moment + timedelta(seconds=1)
        moment = following
        if moment >= until:
            return moment, True
    return until, True
