"""What the routes of search share: the backend and site settings of the app
(``app.state``, set by :func:`tilts.app.create_app`), the search request read
from the query, and running it with the errors an HTTP client gets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError, model_validator

from search import query
from search.backends import SearchBackend, SearchRequest, SearchResult, SearchUnavailable
from search.place_names import resolve_place
from search.web.publishers import Publishers

CACHE_SECONDS = 60


@dataclass(frozen=True)
class Site:
    """The app's settings the search routes need."""

    public_url: str = ""  # origin of absolute links; "" for the address the server listens on
    subscriptions: bool = False  # the search page offers to subscribe to the search
    map_tiles: str = ""  # tile URL template of the results map; "" for none (offline)
    map_attribution: str = ""  # the credit the tile provider asks for, plain text
    publishers: Publishers = field(default_factory=Publishers)  # who publishes each registered source


def app_state(name: str) -> Callable[[Request], Any]:
    """A dependency that hands a route what the app assembly put on ``app.state``
    (tilts/app.py); the route's annotation says its type."""
    def get(request: Request) -> Any:
        return getattr(request.app.state, name)

    get.__name__ = f"app_state_{name}"
    return get


Backend = Annotated[SearchBackend, Depends(app_state("backend"))]
SiteDep = Annotated[Site, Depends(app_state("site"))]


class Problem(BaseModel):
    detail: str


UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": Problem, "description": "The search backend is unreachable; retry later"}}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "No such opportunity"}}


class SearchParams(SearchRequest):
    near: str | None = Query(default=None, max_length=100, description="A city name: sets lat/lon")

    @model_validator(mode="after")
    def _consistent(self) -> SearchParams:
        return self  # checked once ``near`` is resolved, in search_request()


def search_request(params: Annotated[SearchParams, Query()]) -> SearchRequest:
    data = params.model_dump(exclude={"near"}, exclude_unset=True)
    if params.near and params.lat is None:
        try:
            data["lat"], data["lon"] = resolve_place(params.near)
        except ValueError as exc:
            raise RequestValidationError([{"type": "value_error", "loc": ("query", "near"),
                                           "msg": str(exc), "input": params.near}]) from exc
    try:
        return SearchRequest(**data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from exc


Search = Annotated[SearchRequest, Depends(search_request)]


def cached(response: Response) -> None:
    response.headers["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"


def run_search(backend: SearchBackend, req: SearchRequest) -> SearchResult:
    """The search (understood and relaxed, see :mod:`search.query`); 503 when the backend is down."""
    try:
        return query.run(backend.search, req)
    except SearchUnavailable as exc:
        raise HTTPException(status_code=503, detail=f"search backend unavailable: {exc}") from exc
    except ValueError as exc:
        raise RequestValidationError([{"type": "value_error", "loc": ("query",), "msg": str(exc),
                                       "input": None}]) from exc


def fetch(backend: SearchBackend, opportunity_id: str) -> dict[str, Any]:
    """One listing; 404 when there is none, 503 when the backend is down."""
    try:
        doc = backend.get(opportunity_id)
    except SearchUnavailable as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from exc
    if doc is None:
        raise HTTPException(status_code=404, detail="no such opportunity")
    return doc
