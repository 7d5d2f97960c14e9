"""The JSON search API (documented in ``/openapi.json``, browsable at ``/docs``):

- ``GET /search``: every :class:`SearchRequest` field as a query parameter
  (lists repeat: ``?country=LV&country=EE``), plus ``near`` (a city name for the
  distance filter and sort). Invalid input is a 422 with the reason.
- ``GET /facets``: facet counts only; ``GET /suggest?q=``: title completions.
- ``GET /opportunities/{id}``: one listing.
- ``GET /healthz``: backend health; 503 when degraded.

The feeds and calendar are in :mod:`search.web.feeds`, the web UI in
:mod:`search.web.pages`; :func:`tilts.app.create_app` assembles the app.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from search.backends import SearchResult, SearchUnavailable
from search.web.deps import NOT_FOUND, UNAVAILABLE, Backend, Search, cached, fetch, run_search

router = APIRouter()


class Suggestions(BaseModel):
    suggestions: list[str] = Field(description="titles of open listings")
    terms: list[str] = Field(default_factory=list, description=(
        "countries, cities and themes of the index named in `lang` that begin with what was typed: "
        "words the search understands (search them as typed, not as a quoted phrase)"))


class FacetCounts(BaseModel):
    total: int = Field(description="listings found")
    clusters: int = Field(description="distinct opportunities found (copies on several sites once)")
    facets: dict[str, dict[str, int]] = Field(
        description="per facet, value -> clusters found with it (listings when collapse=false)")


@router.get("/search", response_model=SearchResult, tags=["search"], responses=UNAVAILABLE)
def search(req: Search, response: Response, backend: Backend) -> SearchResult:
    """Full-text search with filters, facets, sorting, collapse and cursors."""
    cached(response)
    return run_search(backend, req)


@router.get("/facets", response_model=FacetCounts, tags=["search"], responses=UNAVAILABLE)
def facets(req: Search, response: Response, backend: Backend) -> FacetCounts:
    """Facet counts for a search (each facet ignores its own filter)."""
    cached(response)
    result = run_search(backend, req.model_copy(update={"size": 0, "page": 1, "cursor": None}))
    return FacetCounts(total=result.total, clusters=result.clusters, facets=result.facets)


@router.get("/suggest", response_model=Suggestions, tags=["search"], responses=UNAVAILABLE)
def suggest(
    response: Response,
    backend: Backend,
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=100)],
    size: Annotated[int, Query(ge=1, le=20)] = 8,
    lang: Annotated[str | None, Query(max_length=5, description="language of the terms (default: the browser's)")]
    = None,
) -> Suggestions:
    """Titles of open listings, and places and themes named in ``lang``, for what has been typed so far."""
    from search.web.pages import suggest_terms
    from search.web.render import ui_for

    cached(response)
    try:
        return Suggestions(suggestions=backend.suggest(q, size),
                           terms=suggest_terms(ui_for(request, lang), backend, q, size))
    except SearchUnavailable as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from exc


@router.get("/opportunities/{opportunity_id}", tags=["search"], responses={**NOT_FOUND, **UNAVAILABLE})
def get_opportunity(opportunity_id: str, response: Response, backend: Backend) -> dict[str, Any]:
    cached(response)
    return fetch(backend, opportunity_id)


@router.get("/healthz", tags=["operations"],
            responses={503: {"description": "Degraded: the search backend is unreachable"}})
def healthz(backend: Backend) -> JSONResponse:
    health = backend.health()
    return JSONResponse(health, status_code=200 if health.get("status") == "ok" else 503)
