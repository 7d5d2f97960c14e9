"""The HTTP API and a minimal web UI (FastAPI).

- ``GET /search?q=&country=&theme=&activity_type=&language=&page=&size=``:
  hits, total and facet counts (JSON).
- ``GET /opportunities/{id}``: one opportunity.
- ``GET /healthz``: backend health; 503 when degraded.
- ``GET /``: the search page (HTML); ``GET /docs`` and ``/openapi.json``.

The backend is passed in by the caller (``create_app(backend)``): the API never
chooses one itself. Descriptions are shown only as the normalizer's sanitized
HTML; everything else is escaped by Jinja2's autoescaping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates

from search.backends import SearchBackend, SearchRequest, SearchResult, SearchUnavailable

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _request(
    q: Annotated[str | None, Query(max_length=500, description="Free text")] = None,
    country: Annotated[list[str], Query(description="ISO 3166-1 alpha-2 codes")] = [],  # noqa: B006
    theme: Annotated[list[str], Query()] = [],  # noqa: B006
    activity_type: Annotated[list[str], Query()] = [],  # noqa: B006
    language: Annotated[list[str], Query(description="Language of the listing")] = [],  # noqa: B006
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SearchRequest:
    return SearchRequest(
        q=q or None, country=[c.upper() for c in country], theme=theme,
        activity_type=activity_type, language=language, page=page, size=size,
    )


def create_app(backend: SearchBackend) -> FastAPI:
    app = FastAPI(
        title="tilts",
        summary="Search volunteering opportunities aggregated from NGO sites and European programmes.",
        version="0.1.0",
    )

    def run_search(req: SearchRequest) -> SearchResult:
        try:
            return backend.search(req)
        except SearchUnavailable as exc:
            raise HTTPException(status_code=503, detail=f"search backend unavailable: {exc}") from exc

    @app.get("/search", response_model=SearchResult, tags=["search"])
    def search(req: Annotated[SearchRequest, Depends(_request)]) -> SearchResult:
        """Full-text search with filters; facet counts ignore their own filter."""
        return run_search(req)

    @app.get("/opportunities/{opportunity_id}", tags=["search"])
    def get_opportunity(opportunity_id: str) -> dict[str, Any]:
        try:
            doc = backend.get(opportunity_id)
        except SearchUnavailable as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from exc
        if doc is None:
            raise HTTPException(status_code=404, detail="no such opportunity")
        return doc

    @app.get("/healthz", tags=["operations"])
    def healthz() -> JSONResponse:
        health = backend.health()
        return JSONResponse(health, status_code=200 if health.get("status") == "ok" else 503)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(
        request: Request,
        q: Annotated[str | None, Query(max_length=500)] = None,
        country: Annotated[list[str], Query()] = [],  # noqa: B006
        theme: Annotated[list[str], Query()] = [],  # noqa: B006
        page: Annotated[int, Query(ge=1, le=1000)] = 1,
    ) -> HTMLResponse:
        req = _request(q, country, theme, [], [], page, 20)
        result = run_search(req)
        return TEMPLATES.TemplateResponse(
            request, "search.html", {"req": req, "result": result}
        )

    return app
