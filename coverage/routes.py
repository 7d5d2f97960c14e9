"""The web routes of the coverage dashboard: the page, its JSON and CSV, and
/metrics, behind HTTP Basic credentials (see :mod:`coverage.dashboard`).

The app holds the :class:`Dashboard` and the :class:`FailureThrottle` of
wrong logins in ``app.state`` (``dashboard``, ``login_throttle``), set by
:func:`tilts.app.create_app`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from coverage import crawl_reports as report
from coverage import numbers as coverage
from coverage.dashboard import CHALLENGE, Dashboard, csv_response
from search.i18n import NATIVE_NAMES, UI_LANGUAGES
from search.security import FailureThrottle, basic_credentials, same_secret
from search.web.deps import Backend, app_state
from search.web.render import TEMPLATES, ui_for

router = APIRouter()
PROTECTED: dict[int | str, dict[str, Any]] = {
    401: {"description": "Credentials required"},
    429: {"description": "Too many failed logins from this client; see Retry-After"},
    503: {"description": "Dashboard closed"},
}
COUNTED = ("country", "theme", "programme", "source", "activity_type")


DashboardDep = Annotated[Dashboard, Depends(app_state("dashboard"))]


def officer(request: Request, dashboard: DashboardDep,
            throttle: Annotated[FailureThrottle, Depends(app_state("login_throttle"))]) -> str:
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


Officer = Annotated[str, Depends(officer)]


@router.get("/coverage", response_class=HTMLResponse, include_in_schema=False)
def page(request: Request, _: Officer, dashboard: DashboardDep, backend: Backend,
         lang: str | None = None) -> HTMLResponse:
    ui = ui_for(request, lang)
    return TEMPLATES.TemplateResponse(request, "coverage.html", {
        **ui.context(), **dashboard.page(ui, backend),
        "languages": UI_LANGUAGES, "lang_query": lambda code: f"lang={code}",
        "language_label": lambda code: NATIVE_NAMES[code],
        "kinds_text": report.kinds_text,
    })


@router.get("/coverage/summary.json", tags=["coverage"], responses=PROTECTED)
def summary(_: Officer, backend: Backend) -> JSONResponse:
    """Open listings now: totals, by country, theme, programme, source, and country × theme."""
    return JSONResponse(coverage.current(backend))


@router.get("/coverage/sources.json", tags=["coverage"], responses=PROTECTED)
def sources(_: Officer, dashboard: DashboardDep, backend: Backend) -> JSONResponse:
    """Per source: last successful crawl, error rate, open listings, freshness, silent flag, and the
    last crawl (when, outcome, pages, new/changed/unchanged, errors by kind, failure reason, next run, line)."""
    return JSONResponse(coverage.source_health(dashboard.engine, backend, dashboard.sources))


@router.get("/coverage/trends.json", tags=["coverage"], responses=PROTECTED)
def trends(_: Officer, dashboard: DashboardDep) -> JSONResponse:
    """Open, new and closed listings per ISO week (from the daily snapshots)."""
    return JSONResponse(coverage.trends(dashboard.engine))


@router.get("/coverage/gaps.json", tags=["coverage"], responses=PROTECTED)
def gaps(_: Officer, dashboard: DashboardDep, backend: Backend) -> JSONResponse:
    """Countries and themes with few or no open listings, with the previous week's count."""
    return JSONResponse(dashboard.gaps(coverage.current(backend)))


@router.get("/coverage/{name}.csv", tags=["coverage"], responses={**PROTECTED, 404: {"description": "No such table"}})
def export(name: str, _: Officer, dashboard: DashboardDep, backend: Backend) -> Response:
    """CSV of a dashboard table: matrix, sources, trends, gaps, country, theme, programme, source."""
    cur = coverage.current(backend)
    if name in COUNTED:
        return csv_response([[name, "open"], *sorted(cur[name].items())], name)
    if name == "matrix":
        themes = sorted({t for row in cur["country_theme"].values() for t in row})
        rows = [["country", *themes]] + [[c, *(row.get(t, 0) for t in themes)]
                                        for c, row in sorted(cur["country_theme"].items())]
        return csv_response(rows, name)
    if name == "sources":
        health = coverage.source_health(dashboard.engine, backend, dashboard.sources)
        keys = list(health[0]) if health else ["source"]
        return csv_response([keys, *([report.kinds_text(h[k]) if k == "errors_by_kind" else h[k] for k in keys]
                                     for h in health)], name)
    if name == "trends":
        weeks = coverage.trends(dashboard.engine)
        return csv_response([["week", "open", "new", "closed"],
                             *([r["week"], r["open"], r["new"], r["closed"]] for r in weeks)], name)
    if name == "gaps":
        g = dashboard.gaps(cur)
        return csv_response([["dimension", "key", "open", "previous"],
                             *([dim, r["key"], r["open"], r["previous"]] for dim, rs in g.items() for r in rs)],
                            name)
    raise HTTPException(404, "no such table")


@router.get("/metrics", tags=["operations"], response_class=Response, responses=PROTECTED)
def metrics(_: Officer, dashboard: DashboardDep, backend: Backend) -> Response:
    """Prometheus metrics: index size, open listings, crawl runs and errors per source,
    events per topic, DLQ size, consumer lag per group, subscriptions."""
    return Response(dashboard.metrics(backend), media_type="text/plain; version=0.0.4; charset=utf-8")
