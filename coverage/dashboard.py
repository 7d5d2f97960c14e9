"""The programme officers' coverage dashboard, its JSON and CSV, and /metrics.

Protected by HTTP Basic credentials (``TILTS_DASHBOARD_USER`` /
``TILTS_DASHBOARD_PASSWORD``, UTF-8; closed while no password is set; after
ten wrong tries in five minutes a client waits, 429 with Retry-After); everything
else in the app stays public. Charts are server-rendered SVG (no scripts, no
external tiles) and every chart has its table and a CSV export. The numbers
come from :mod:`coverage.numbers`, so page, JSON, CSV and metrics agree.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import func, select

from coverage import crawl_reports as report
from coverage import numbers as coverage
from search.backends import SearchBackend
from search.security import FailureThrottle, basic_credentials, same_secret
from storage.db import coverage_snapshots, crawl_runs, subscriptions

CHALLENGE = {"WWW-Authenticate": 'Basic realm="tilts coverage", charset="UTF-8"'}

# A tile-grid map of Europe: (column, row) per country, roughly where it lies.
GRID: dict[str, tuple[int, int]] = {
    "IS": (0, 0), "NO": (4, 0), "SE": (5, 0), "FI": (6, 0),
    "IE": (1, 1), "GB": (2, 1), "DK": (4, 1), "EE": (6, 1),
    "NL": (3, 2), "DE": (4, 2), "PL": (5, 2), "LV": (6, 2),
    "BE": (2, 3), "LU": (3, 3), "CZ": (4, 3), "SK": (5, 3), "LT": (6, 3),
    "FR": (2, 4), "CH": (3, 4), "AT": (4, 4), "HU": (5, 4), "UA": (6, 4), "MD": (7, 4),
    "PT": (0, 5), "ES": (1, 5), "LI": (3, 5), "SI": (4, 5), "HR": (5, 5), "RO": (6, 5),
    "IT": (3, 6), "BA": (4, 6), "RS": (5, 6), "BG": (6, 6),
    "MT": (3, 7), "ME": (4, 7), "MK": (5, 7), "TR": (7, 7),
    "AL": (4, 8), "GR": (5, 8), "CY": (7, 8),
}
EUROPE_THEMES = ("environment", "inclusion", "migrants_refugees", "education", "culture", "health",
                 "community", "youth", "sport", "animals", "emergency", "digital", "social",
                 "citizenship", "employment")


def _shade(n: int, top: int) -> str:
    """A light-to-dark blue for 0..top (contrast kept for the label colour)."""
    if n <= 0 or top <= 0:
        return "#f1f1f1"
    level = min(1.0, n / top) ** 0.5
    r, g, b = (int(230 - level * (230 - c)) for c in (11, 92, 173))
    return f"#{r:02x}{g:02x}{b:02x}"


def country_grid_svg(counts: dict[str, int], title: str) -> str:
    size, gap = 46, 4
    top = max(counts.values(), default=0)
    cells = []
    for code, (col, row) in GRID.items():
        n = counts.get(code, 0)
        x, y = col * (size + gap), row * (size + gap)
        fill = _shade(n, top)
        text = "#ffffff" if top and n / top > 0.45 else "#1b1b1b"
        cells.append(
            f'<g><title>{code}: {n}</title><rect x="{x}" y="{y}" width="{size}" height="{size}" rx="4" '
            f'fill="{fill}" stroke="#8a8a8a" stroke-width="0.5"/>'
            f'<text x="{x + size / 2}" y="{y + 19}" text-anchor="middle" font-size="12" fill="{text}">{code}</text>'
            f'<text x="{x + size / 2}" y="{y + 36}" text-anchor="middle" font-size="12" fill="{text}">{n}</text></g>'
        )
    width, height = 8 * (size + gap), 9 * (size + gap)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{title}" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}">{"".join(cells)}</svg>')


def bars_svg(counts: dict[str, int], title: str, limit: int = 15) -> str:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    top = max((n for _, n in items), default=0) or 1
    row, label_w, bar_w = 22, 190, 360
    parts = []
    for i, (key, n) in enumerate(items):
        y = i * row
        w = int(bar_w * n / top)
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="12">{_esc(key)[:30]}</text>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{max(w, 1)}" height="{row - 6}" fill="#0b5cad"/>'
                     f'<text x="{label_w + w + 4}" y="{y + 15}" font-size="12">{n}</text>')
    height = max(row, len(items) * row)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_esc(title)}" '
            f'viewBox="0 0 {label_w + bar_w + 60} {height}" width="{label_w + bar_w + 60}" height="{height}">'
            f'{"".join(parts)}</svg>')


def lines_svg(rows: list[dict[str, Any]], keys: tuple[str, ...], title: str) -> str:
    width, height, pad = 600, 200, 30
    colours = {"open": "#0b5cad", "new": "#2a7d2a", "closed": "#8a3b00"}
    if not rows:
        return f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_esc(title)}" width="{width}" height="40"></svg>'
    top = max((r[k] for r in rows for k in keys), default=0) or 1
    step = (width - 2 * pad) / max(1, len(rows) - 1)
    parts = []
    for key in keys:
        points = " ".join(f"{pad + i * step:.1f},{height - pad - (height - 2 * pad) * r[key] / top:.1f}"
                          for i, r in enumerate(rows))
        parts.append(f'<polyline fill="none" stroke="{colours.get(key, "#444")}" stroke-width="2" points="{points}"/>')
    for i, r in enumerate(rows):
        parts.append(f'<text x="{pad + i * step:.1f}" y="{height - 8}" font-size="10" text-anchor="middle">'
                     f'{_esc(r["week"][-3:])}</text>')
    legend = "".join(f'<text x="{pad + j * 90}" y="14" font-size="12" fill="{colours.get(k, "#444")}">■ {k}</text>'
                     for j, k in enumerate(keys))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_esc(title)}" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}">{legend}{"".join(parts)}</svg>')


def _esc(text: Any) -> str:
    from html import escape

    return escape(str(text))


def _csv(rows: list[list[Any]], name: str) -> Response:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


class Dashboard:
    def __init__(self, settings: Any, engine: Any, sources: dict[str, Any], bus: Any = None) -> None:
        self.settings = settings
        self.engine = engine
        self.sources = sources
        self.bus = bus

    def gaps(self, counts: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """European countries and themes with few open listings, against the
        snapshot a week before (or the oldest one there is)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(coverage_snapshots.c.counts).order_by(coverage_snapshots.c.day.desc())
                                .limit(8)).all()
        previous = rows[-1][0] if rows else None
        return coverage.gaps(counts, previous, sorted(GRID), list(EUROPE_THEMES))

    def numbers(self, backend: SearchBackend) -> dict[str, Any]:
        counts = coverage.current(backend)
        return {
            "taken_at": datetime.now(UTC).isoformat(),
            "current": counts,
            "trends": coverage.trends(self.engine),
            "sources": coverage.source_health(self.engine, backend, self.sources),
            "gaps": self.gaps(counts),
        }

    def metrics(self, backend: SearchBackend) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        from pipeline.events import CRAWL_STATS_TOPIC, DLQ_TOPIC, NORMALIZED_TOPIC, RAW_TOPIC
        from pipeline.indexer import GROUP as INDEX_GROUP
        from pipeline.normalizer import GROUP as NORMALIZE_GROUP

        dash = self

        class Collector:
            def collect(self):
                docs = GaugeMetricFamily("tilts_index_documents", "Documents in the search index")
                docs.add_metric([], backend.count())
                yield docs
                counts = coverage.current(backend)
                open_ = GaugeMetricFamily("tilts_opportunities_open", "Open opportunities by country",
                                          labels=["country"])
                for country, n in counts["country"].items():
                    open_.add_metric([country], n)
                yield open_
                with dash.engine.connect() as conn:
                    runs = conn.execute(select(crawl_runs.c.source_id, crawl_runs.c.ok, func.count())
                                        .group_by(crawl_runs.c.source_id, crawl_runs.c.ok)).all()
                    last = conn.execute(select(crawl_runs.c.source_id, func.max(crawl_runs.c.finished_at))
                                        .where(crawl_runs.c.ok).group_by(crawl_runs.c.source_id)).all()
                    subs = conn.execute(select(subscriptions.c.confirmed_at.is_not(None), func.count())
                                        .group_by(subscriptions.c.confirmed_at.is_not(None))).all()
                crawls = CounterMetricFamily("tilts_crawl_runs", "Scheduled crawl runs by source and outcome",
                                             labels=["source", "outcome"])
                errors = CounterMetricFamily("tilts_crawl_errors", "Failed crawl runs by source", labels=["source"])
                for source, ok, n in runs:
                    crawls.add_metric([source, "ok" if ok else "failed"], n)
                    if not ok:
                        errors.add_metric([source], n)
                yield crawls
                yield errors
                success = GaugeMetricFamily("tilts_source_last_success_timestamp_seconds",
                                            "Unix time of the last successful crawl", labels=["source"])
                for source, when in last:
                    when = when if when.tzinfo else when.replace(tzinfo=UTC)
                    success.add_metric([source], when.timestamp())
                yield success
                subscribed = GaugeMetricFamily("tilts_subscriptions", "Subscriptions by state", labels=["state"])
                for confirmed, n in subs:
                    subscribed.add_metric(["confirmed" if confirmed else "pending"], n)
                yield subscribed
                if dash.bus is None:
                    return
                topics = GaugeMetricFamily("tilts_topic_messages", "Messages written per topic (end offsets)",
                                           labels=["topic"])
                ends = {}
                for topic in (RAW_TOPIC, NORMALIZED_TOPIC, DLQ_TOPIC, CRAWL_STATS_TOPIC):
                    ends[topic] = dash.bus.end_offsets(topic)
                    topics.add_metric([topic], sum(ends[topic].values()))
                yield topics
                dlq = GaugeMetricFamily("tilts_dlq_messages", "Dead letters written")
                dlq.add_metric([], sum(ends[DLQ_TOPIC].values()))
                yield dlq
                lag = GaugeMetricFamily("tilts_consumer_lag", "Messages not yet consumed, per group",
                                        labels=["group", "topic"])
                for group, topic in ((NORMALIZE_GROUP, RAW_TOPIC), (INDEX_GROUP, NORMALIZED_TOPIC)):
                    done = dash.bus.committed(group, topic)
                    lag.add_metric([group, topic], sum(max(0, end - done.get(p, 0))
                                                       for p, end in ends[topic].items()))
                yield lag

        registry = CollectorRegistry()
        registry.register(Collector())
        return generate_latest(registry)


def add_dashboard_routes(app: FastAPI, dashboard: Dashboard, backend: SearchBackend, templates: Any,
                         ui_for: Any) -> None:
    throttle = FailureThrottle()

    def officer(request: Request) -> str:
        """HTTP Basic in UTF-8; a client with too many wrong tries waits (429, Retry-After)."""
        settings = dashboard.settings
        if not settings.dashboard_password:
            raise HTTPException(503, "the dashboard is closed: set TILTS_DASHBOARD_PASSWORD")
        client = request.client.host if request.client else "unknown"
        wait = throttle.retry_after(client)
        if wait:
            raise HTTPException(429, "too many failed logins; try again later",
                                headers={"Retry-After": str(wait)})
        credentials = basic_credentials(request)
        if credentials is None:
            raise HTTPException(401, "credentials required", headers=CHALLENGE)
        user_ok = same_secret(credentials[0], settings.dashboard_user)
        if not (same_secret(credentials[1], settings.dashboard_password) and user_ok):
            throttle.failed(client)
            raise HTTPException(401, "credentials required", headers=CHALLENGE)
        throttle.succeeded(client)
        return credentials[0]

    protected = {401: {"description": "Credentials required"},
                 429: {"description": "Too many failed logins from this client; see Retry-After"},
                 503: {"description": "Dashboard closed"}}

    @app.get("/coverage", response_class=HTMLResponse, include_in_schema=False)
    def page(request: Request, lang: str | None = None, _: str = Depends(officer)) -> HTMLResponse:
        ui = ui_for(request, lang)
        n = dashboard.numbers(backend)
        cur = n["current"]
        charts = {
            "grid": country_grid_svg(cur["country"], ui.gettext("Open opportunities by country")),
            "programme": bars_svg(cur["programme"], ui.gettext("Open opportunities by programme")),
            "source": bars_svg(cur["source"], ui.gettext("Open opportunities by source")),
            "theme": bars_svg(cur["theme"], ui.gettext("Open opportunities by theme")),
            "trends": lines_svg(n["trends"], ("open", "new", "closed"), ui.gettext("Open, new and closed per week")),
        }
        themes = sorted({t for row in cur["country_theme"].values() for t in row})
        return templates.TemplateResponse(request, "coverage.html", {
            **ui.context(), "n": n, "cur": cur, "charts": charts, "themes": themes,
            "languages": ("lv", "en", "ru", "uk"), "lang_query": lambda code: f"lang={code}",
            "language_label": lambda code: code.upper(),
            "kinds_text": report.kinds_text,
        })

    @app.get("/coverage/summary.json", tags=["coverage"], responses=protected)
    def summary(_: str = Depends(officer)) -> JSONResponse:
        """Open listings now: totals, by country, theme, programme, source, and country × theme."""
        return JSONResponse(coverage.current(backend))

    @app.get("/coverage/sources.json", tags=["coverage"], responses=protected)
    def sources(_: str = Depends(officer)) -> JSONResponse:
        """Per source: last successful crawl, error rate, open listings, freshness, silent flag, and the
        last crawl (when, outcome, pages, new/changed/unchanged, errors by kind, failure reason, next run, line)."""
        return JSONResponse(coverage.source_health(dashboard.engine, backend, dashboard.sources))

    @app.get("/coverage/trends.json", tags=["coverage"], responses=protected)
    def trends(_: str = Depends(officer)) -> JSONResponse:
        """Open, new and closed listings per ISO week (from the daily snapshots)."""
        return JSONResponse(coverage.trends(dashboard.engine))

    @app.get("/coverage/gaps.json", tags=["coverage"], responses=protected)
    def gaps(_: str = Depends(officer)) -> JSONResponse:
        """Countries and themes with few or no open listings, with the previous week's count."""
        return JSONResponse(dashboard.gaps(coverage.current(backend)))

    @app.get("/coverage/{name}.csv", tags=["coverage"], responses={**protected, 404: {"description": "No such table"}})
    def export(name: str, _: str = Depends(officer)) -> Response:
        """CSV of a dashboard table: matrix, sources, trends, gaps, country, theme, programme, source."""
        cur = coverage.current(backend)
        if name in ("country", "theme", "programme", "source", "activity_type"):
            return _csv([[name, "open"], *sorted(cur[name].items())], name)
        if name == "matrix":
            themes = sorted({t for row in cur["country_theme"].values() for t in row})
            rows = [["country", *themes]] + [[c, *(row.get(t, 0) for t in themes)]
                                            for c, row in sorted(cur["country_theme"].items())]
            return _csv(rows, name)
        if name == "sources":
            health = coverage.source_health(dashboard.engine, backend, dashboard.sources)
            keys = list(health[0]) if health else ["source"]
            return _csv([keys, *([report.kinds_text(h[k]) if k == "errors_by_kind" else h[k] for k in keys]
                                 for h in health)], name)
        if name == "trends":
            rows = coverage.trends(dashboard.engine)
            return _csv([["week", "open", "new", "closed"], *([r["week"], r["open"], r["new"], r["closed"]]
                                                              for r in rows)], name)
        if name == "gaps":
            g = dashboard.gaps(cur)
            return _csv([["dimension", "key", "open", "previous"],
                         *([dim, r["key"], r["open"], r["previous"]] for dim, rs in g.items() for r in rs)], name)
        raise HTTPException(404, "no such table")

    @app.get("/metrics", tags=["operations"], response_class=Response, responses=protected)
    def metrics(_: str = Depends(officer)) -> Response:
        """Prometheus metrics: index size, open listings, crawl runs and errors per source,
        events per topic, DLQ size, consumer lag per group, subscriptions."""
        return Response(dashboard.metrics(backend), media_type="text/plain; version=0.0.4; charset=utf-8")
