"""Coverage numbers for programme officers: what is open now, by country,
theme, programme and source, the country × theme matrix, source health and
freshness, and the daily snapshots that make trends.

Everything is computed from the search index (open listings, duplicates
collapsed into clusters are still counted per document) and the scheduler's
database (crawl runs), so the dashboard, its JSON, its CSV and the Prometheus
metrics show the same numbers.
"""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from coverage import crawl_reports as report
from pipeline.config import Settings
from search.backends import SearchBackend, SearchRequest, make_backend
from search.request import Sort
from storage.db import coverage_snapshots, crawl_runs, utcnow

DIMENSIONS = ("country", "theme", "programme", "source", "activity_type")
SILENT_AFTER = timedelta(days=3)  # a source without a good crawl for this long is flagged


def current(backend: SearchBackend, now: datetime | None = None) -> dict[str, Any]:
    """Open listings now: totals, per dimension, country × theme, new in the last 7 days."""
    now = now or utcnow()
    base = backend.search(SearchRequest(size=0, collapse=False))
    matrix: dict[str, dict[str, int]] = {}
    for country in base.facets.get("country", {}):
        matrix[country] = backend.search(SearchRequest(size=0, collapse=False, country=[country])).facets["theme"]
    closed = backend.search(SearchRequest(size=0, collapse=False, status=["expired", "closed"])).total
    week = backend.search(SearchRequest(size=0, collapse=False, changed_since=now - timedelta(days=7))).total
    return {
        "open": base.total,
        "clusters": base.clusters,
        "closed": closed,
        "new_7d": week,
        **{dim: base.facets.get(dim, {}) for dim in DIMENSIONS},
        "country_theme": matrix,
    }


def take_snapshot(settings: Settings, engine: Engine, *, backend: SearchBackend | None = None,
                  day: date | None = None) -> dict[str, Any]:
    own = backend is None
    backend = backend or make_backend(settings)
    try:
        counts = current(backend)
    finally:
        if own:
            backend.close()
    key = (day or datetime.now(UTC).date()).isoformat()
    values = {"day": key, "taken_at": utcnow(), "counts": counts}
    dialect = engine.dialect.name
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert_(coverage_snapshots).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=["day"], set_={"taken_at": values["taken_at"],
                                                                    "counts": counts})
    with engine.begin() as conn:
        conn.execute(stmt)
    return counts


def trends(engine: Engine, weeks: int = 12) -> list[dict[str, Any]]:
    """Per ISO week: open listings (last snapshot of the week), new and closed
    (differences of the cumulative counts between weeks)."""
    with engine.connect() as conn:
        rows = conn.execute(select(coverage_snapshots.c.day, coverage_snapshots.c.counts)
                            .order_by(coverage_snapshots.c.day)).all()
    by_week: dict[str, dict[str, Any]] = {}
    for day, counts in rows:
        y, w, _ = date.fromisoformat(day).isocalendar()
        by_week[f"{y}-W{w:02d}"] = counts  # the week's last snapshot wins
    out, prev = [], None
    for week, counts in by_week.items():
        out.append({
            "week": week, "open": counts.get("open", 0), "new": counts.get("new_7d", 0),
            "closed": max(0, counts.get("closed", 0) - (prev or {}).get("closed", 0)) if prev else 0,
        })
        prev = counts
    return out[-weeks:]


def source_health(engine: Engine, backend: SearchBackend, sources: dict[str, Any],
                  now: datetime | None = None) -> list[dict[str, Any]]:
    """Per registered source: last good crawl, runs and error rate of the last
    20, open listings, freshness (median days since listings were first seen),
    whether it has been silent too long, and its last crawl as the crawl line
    says it (:mod:`coverage.crawl_reports`): when, outcome, pages, new / changed /
    unchanged, errors by kind, the reason when it failed, and the next run."""
    now = now or utcnow()
    reports = report.latest_reports(engine)
    scheduled = report.scheduled_runs(engine)
    out = []
    for source_id, source in sorted(sources.items()):
        with engine.connect() as conn:
            runs = conn.execute(select(crawl_runs.c.ok, crawl_runs.c.finished_at)
                                .where(crawl_runs.c.source_id == source_id)
                                .order_by(crawl_runs.c.id.desc()).limit(20)).all()
            last_ok = conn.execute(select(func.max(crawl_runs.c.finished_at))
                                   .where(crawl_runs.c.source_id == source_id, crawl_runs.c.ok)).scalar()
        if last_ok is not None and last_ok.tzinfo is None:
            last_ok = last_ok.replace(tzinfo=UTC)
        result = backend.search(SearchRequest(source=[source_id], size=100, collapse=False, sort=Sort.newest))
        ages = []
        for hit in result.hits:
            seen = datetime.fromisoformat(hit.opportunity["provenance"]["first_seen"])
            ages.append((now - seen).total_seconds() / 86400)
        disabled = getattr(source, "disabled_reason", None)
        out.append({
            "source": source_id,
            "enabled": not disabled,
            "last_success": last_ok.isoformat() if last_ok else None,
            "runs": len(runs),
            "error_rate": round(sum(1 for ok, _ in runs if not ok) / len(runs), 2) if runs else None,
            "open": result.total,
            "median_age_days": round(statistics.median(ages), 1) if ages else None,
            "silent": (not disabled) and (last_ok is None or now - last_ok > SILENT_AFTER),
            **_last_crawl(reports.get(source_id), runs[0] if runs else None, scheduled.get(source_id), now),
        })
    return out


def _last_crawl(last: report.CrawlReport | None, run: Any, scheduled: datetime | None,
                now: datetime) -> dict[str, Any]:
    """The last crawl's facts; its next run is the one it announced, or the job
    store's when that has passed (a scheduler restarted since)."""
    if last is None:
        finished = None
        if run is not None:
            finished = run[1] if run[1].tzinfo else run[1].replace(tzinfo=UTC)
        return {"last_crawl": finished.isoformat() if finished else None,
                "outcome": None if run is None else ("ok" if run[0] else "failed"),
                "pages": None, "new": None, "changed": None, "unchanged": None, "errors_by_kind": {},
                "reason": None, "next_run": scheduled.isoformat() if scheduled else None, "backoff": False,
                "line": None}
    next_run, backoff = last.next_run, last.backoff
    if scheduled is not None and (next_run is None or next_run < now):
        next_run, backoff = scheduled, False
    if next_run != last.next_run:
        last = report.CrawlReport(**{**last.__dict__, "next_run": next_run, "backoff": backoff})
    facts = last.as_dict()
    line = report.crawl_line(last, now)
    return {"last_crawl": facts["finished_at"], "outcome": facts["outcome"],
            "pages": last.pages if last.has_stats else None,
            "new": last.new if last.has_stats else None, "changed": last.changed if last.has_stats else None,
            "unchanged": last.unchanged if last.has_stats else None, "errors_by_kind": last.errors_by_kind,
            "reason": last.reason, "next_run": facts["next_run"], "backoff": backoff, "line": line}


def gaps(counts: dict[str, Any], previous: dict[str, Any] | None, countries: list[str],
         themes: list[str], threshold: int = 3) -> dict[str, list[dict[str, Any]]]:
    """Countries and themes with fewer than ``threshold`` open listings, with
    the previous snapshot's count for comparison."""
    def rows(dim: str, keys: list[str]) -> list[dict[str, Any]]:
        now_counts = counts.get(dim, {})
        before = (previous or {}).get(dim, {})
        return [{"key": k, "open": now_counts.get(k, 0), "previous": before.get(k, 0) if previous else None}
                for k in keys if now_counts.get(k, 0) < threshold]

    return {"country": rows("country", countries), "theme": rows("theme", themes)}
