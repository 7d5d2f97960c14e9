"""Routes of the feeds of a search (RSS 2.0, Atom) and of a listing's
calendar (iCalendar); the documents themselves are made by :mod:`search.feeds`."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from search.backends import SearchRequest
from search.feeds import calendar, search_feed
from search.i18n import UI, pick_language
from search.security import public_base
from search.web.deps import CACHE_SECONDS, NOT_FOUND, UNAVAILABLE, Backend, Search, SiteDep, fetch, run_search

router = APIRouter()
FEED_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml"}


@router.get("/opportunities/{opportunity_id}.ics", tags=["search"],
            responses={200: {"content": {"text/calendar": {}}}, **NOT_FOUND, **UNAVAILABLE},
            response_class=Response)
def opportunity_ics(opportunity_id: str, backend: Backend) -> Response:
    """The listing's deadline and dates as calendar events."""
    doc = fetch(backend, opportunity_id)
    if not (doc.get("start_date") or doc.get("deadline")):
        raise HTTPException(status_code=404, detail="this opportunity has no dates for a calendar")
    return Response(calendar(doc), media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{opportunity_id}.ics"'})


def feed(req: SearchRequest, request: Request, kind: str, backend: Backend, site: SiteDep) -> Response:
    """The search, newest first unless it has text to rank by, as a feed of ``kind``."""
    result = run_search(backend, req.model_copy(update={"sort": "newest" if not req.text else req.sort}))
    base = public_base(site.public_url, request)
    ui = UI.of(pick_language(request.query_params.get("lang"), None, request.headers.get("accept-language")))
    body = search_feed(result, req, base, kind, ui)
    return Response(body, media_type=f"{FEED_TYPES[kind]}; charset=utf-8",
                    headers={"Cache-Control": f"public, max-age={CACHE_SECONDS * 5}"})


@router.get("/search.rss", tags=["feeds"], response_class=Response,
            responses={200: {"content": {"application/rss+xml": {}}}, **UNAVAILABLE})
def search_rss(req: Search, request: Request, backend: Backend, site: SiteDep) -> Response:
    """RSS 2.0 feed of a search (newest first)."""
    return feed(req, request, "rss", backend, site)


@router.get("/search.atom", tags=["feeds"], response_class=Response,
            responses={200: {"content": {"application/atom+xml": {}}}, **UNAVAILABLE})
def search_atom(req: Search, request: Request, backend: Backend, site: SiteDep) -> Response:
    """Atom feed of a search (newest first)."""
    return feed(req, request, "atom", backend, site)
