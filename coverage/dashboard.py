"""The programme officers' coverage dashboard: its charts, CSV, numbers and
/metrics (the routes are in :mod:`coverage.routes`).

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
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi.responses import Response
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from coverage import numbers as coverage
from pipeline.bus import Bus
from pipeline.config import Settings
from pipeline.events import CRAWL_STATS_TOPIC, DLQ_TOPIC, NORMALIZED_TOPIC, RAW_TOPIC
from search.backends import SearchBackend
from search.i18n import CHART_TITLES, UI
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


def country_grid_svg(counts: dict[str, int], title: str, name: Callable[[str], str] = str) -> str:
    """The tile-grid map; ``name`` names a country in the tiles' tooltips (its code on the tile)."""
    size, gap = 46, 4
    top = max(counts.values(), default=0)
    cells = []
    for code, (col, row) in GRID.items():
        n = counts.get(code, 0)
        x, y = col * (size + gap), row * (size + gap)
        fill = _shade(n, top)
        text = "#ffffff" if top and n / top > 0.45 else "#1b1b1b"
        cells.append(
            f'<g><title>{_esc(name(code))}: {n}</title><rect x="{x}" y="{y}" width="{size}" height="{size}" rx="4" '
            f'fill="{fill}" stroke="#8a8a8a" stroke-width="0.5"/>'
            f'<text x="{x + size / 2}" y="{y + 19}" text-anchor="middle" font-size="12" fill="{text}">{code}</text>'
            f'<text x="{x + size / 2}" y="{y + 36}" text-anchor="middle" font-size="12" fill="{text}">{n}</text></g>'
        )
    width, height = 8 * (size + gap), 9 * (size + gap)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_esc(title)}" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" {_LTR}>{"".join(cells)}</svg>')


def bars_svg(counts: dict[str, int], title: str, limit: int = 15, label: Callable[[str], str] = str) -> str:
    """A bar per key, the largest ``limit``; ``label`` names a key (shortened to 30 characters, whole in
    its tooltip)."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    top = max((n for _, n in items), default=0) or 1
    row, label_w, bar_w = 22, 190, 360
    parts = []
    for i, (key, n) in enumerate(items):
        y = i * row
        w = int(bar_w * n / top)
        name = label(key)
        short = name if len(name) <= 30 else name[:29].rstrip() + "…"
        parts.append(f'<g><title>{_esc(name)}: {n}</title>'
                     f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="12">{_esc(short)}</text>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{max(w, 1)}" height="{row - 6}" fill="#0b5cad"/>'
                     f'<text x="{label_w + w + 4}" y="{y + 15}" font-size="12">{n}</text></g>')
    height = max(row, len(items) * row)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_esc(title)}" '
            f'viewBox="0 0 {label_w + bar_w + 60} {height}" width="{label_w + bar_w + 60}" height="{height}" '
            f'{_LTR}>{"".join(parts)}</svg>')


def lines_svg(rows: list[dict[str, Any]], keys: tuple[str, ...], title: str,
              legend: dict[str, str] | None = None) -> str:
    """A line per key over the weeks; ``legend`` names the keys."""
    width, height, pad = 600, 200, 30
    colours = {"open": "#0b5cad", "new": "#2a7d2a", "closed": "#8a3b00"}
    if not rows:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_esc(title)}" '
                f'width="{width}" height="40" {_LTR}></svg>')
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
    names = legend or {}
    shown = "".join(f'<text x="{pad + j * 120}" y="14" font-size="12" fill="{colours.get(k, "#444")}">'
                    f'■ {_esc(names.get(k, k))}</text>' for j, k in enumerate(keys))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_esc(title)}" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" {_LTR}>{shown}{"".join(parts)}</svg>')


# Charts are drawn left to right on a right-to-left page too (their axes and
# anchors are computed so); the text in them still reads in its own direction.
_LTR = 'direction="ltr"'


def _esc(text: Any) -> str:
    from html import escape

    return escape(str(text))


def csv_response(rows: list[list[Any]], name: str) -> Response:
    """``rows`` as a CSV download named ``name``.csv."""
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


class Dashboard:
    """What the dashboard counts from: the settings (its credentials), the
    database, the configured sources and, when there is one, the event bus."""

    def __init__(self, settings: Settings, engine: Engine, sources: dict[str, Any], bus: Bus | None = None) -> None:
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

    def source_names(self) -> dict[str, str]:
        """Source id -> its name in the registry (a proper name, never
        translated), or the id for a source without one."""
        return {sid: str(getattr(source, "name", None) or sid) for sid, source in self.sources.items()}

    def numbers(self, backend: SearchBackend) -> dict[str, Any]:
        counts = coverage.current(backend)
        return {
            "taken_at": datetime.now(UTC).isoformat(),
            "current": counts,
            "trends": coverage.trends(self.engine),
            "sources": coverage.source_health(self.engine, backend, self.sources),
            "gaps": self.gaps(counts),
            "source_names": self.source_names(),
        }

    def page(self, ui: UI, backend: SearchBackend) -> dict[str, Any]:
        """What coverage.html shows, in ``ui``'s language: the numbers, the
        charts, the themes of the country × theme matrix."""
        n = self.numbers(backend)
        cur = n["current"]
        return {"n": n, "cur": cur, "charts": charts(ui, n),
                "themes": sorted({t for row in cur["country_theme"].values() for t in row})}

    def metrics(self, backend: SearchBackend) -> bytes:
        """The Prometheus text exposition of :class:`MetricsCollector`."""
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry()
        registry.register(MetricsCollector(self, backend))
        return generate_latest(registry)


def charts(ui: UI, n: dict[str, Any]) -> dict[str, str]:
    """The dashboard's charts of the numbers ``n`` (:meth:`Dashboard.numbers`),
    titled and labelled in ``ui``'s language: countries, themes and programmes
    by their labels, sources by their names."""
    cur, names = n["current"], n.get("source_names", {})
    title = {key: ui.gettext(text) for key, text in CHART_TITLES.items()}
    legend = {"open": ui.gettext("Open"), "new": ui.gettext("New"), "closed": ui.gettext("Closed")}
    return {
        "grid": country_grid_svg(cur["country"], title["grid"], ui.country_name),
        "programme": bars_svg(cur["programme"], title["programme"], label=lambda key: ui.label("programme", key)),
        "source": bars_svg(cur["source"], title["source"], label=lambda key: names.get(key, key)),
        "theme": bars_svg(cur["theme"], title["theme"], label=lambda key: ui.label("theme", key)),
        "trends": lines_svg(n["trends"], ("open", "new", "closed"), title["trends"], legend),
    }


class MetricsCollector:
    """The metrics, counted afresh at every scrape: the index, the crawl runs
    and subscriptions in the database, and the topics of the bus."""

    def __init__(self, dashboard: Dashboard, backend: SearchBackend) -> None:
        self.dashboard, self.backend = dashboard, backend

    def collect(self) -> Iterator[Metric]:
        yield from self.index()
        yield from self.database()
        if self.dashboard.bus is not None:
            yield from self.topics(self.dashboard.bus)

    def index(self) -> Iterator[Metric]:
        docs = GaugeMetricFamily("tilts_index_documents", "Documents in the search index")
        docs.add_metric([], self.backend.count())
        yield docs
        counts = coverage.current(self.backend)
        open_ = GaugeMetricFamily("tilts_opportunities_open", "Open opportunities by country", labels=["country"])
        for country, n in counts["country"].items():
            open_.add_metric([country], n)
        yield open_

    def database(self) -> Iterator[Metric]:
        with self.dashboard.engine.connect() as conn:
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

    def topics(self, bus: Bus) -> Iterator[Metric]:
        from pipeline.indexer import GROUP as INDEX_GROUP  # the workers' modules: imported when there is a bus
        from pipeline.normalizer import GROUP as NORMALIZE_GROUP

        topics = GaugeMetricFamily("tilts_topic_messages", "Messages written per topic (end offsets)",
                                   labels=["topic"])
        ends = {}
        for topic in (RAW_TOPIC, NORMALIZED_TOPIC, DLQ_TOPIC, CRAWL_STATS_TOPIC):
            ends[topic] = bus.end_offsets(topic)
            topics.add_metric([topic], sum(ends[topic].values()))
        yield topics
        dlq = GaugeMetricFamily("tilts_dlq_messages", "Dead letters written")
        dlq.add_metric([], sum(ends[DLQ_TOPIC].values()))
        yield dlq
        lag = GaugeMetricFamily("tilts_consumer_lag", "Messages not yet consumed, per group",
                                labels=["group", "topic"])
        for group, topic in ((NORMALIZE_GROUP, RAW_TOPIC), (INDEX_GROUP, NORMALIZED_TOPIC)):
            done = bus.committed(group, topic)
            lag.add_metric([group, topic], sum(max(0, end - done.get(p, 0)) for p, end in ends[topic].items()))
        yield lag
