"""The web UI (server-rendered, works without JavaScript, four languages):
``GET /`` (search with facets) and ``GET /o/{id}`` (detail), and the page a
browser gets for an HTTP error. Highlights are escaped text with ``<mark>``."""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Query, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from search.backends import SearchBackend, SearchRequest, SearchResult
from search.i18n import ERROR_TEXTS, UI, UI_LANGUAGES, input_error
from search.request import FACETS, SUPPORT_ITEMS
from search.web import choices
from search.web.deps import CACHE_SECONDS, Backend, Site, SiteDep, fetch, run_search
from search.web.forms import FORM_FIELDS, lenient_request, query_string, toggle, ui_pairs
from search.web.render import STATIC_DIR, page, ui_for

router = APIRouter()
Lang = Annotated[str | None, Query(max_length=5)]
# Paths of the JSON API: their errors stay JSON whatever the client accepts.
API_PATHS = ("/search", "/facets", "/suggest", "/opportunities", "/healthz", "/docs", "/openapi", "/redoc",
             "/metrics")
# backend → (when, (UI language, what) → names built from its facets): the index asked once a minute
_BUILT: weakref.WeakKeyDictionary[SearchBackend, tuple[float, dict[tuple[str, str], list[str]]]] = (
    weakref.WeakKeyDictionary())


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> FileResponse:
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=86400"})


async def html_errors(request: Request, exc: StarletteHTTPException) -> Response:
    """A person's browser gets a page in its language; API clients keep the JSON."""
    if request.url.path.startswith(API_PATHS) or "text/html" not in request.headers.get("accept", ""):
        return await http_exception_handler(request, exc)
    ui = ui_for(request, request.query_params.get("lang"))
    title, text = ERROR_TEXTS.get(exc.status_code, ERROR_TEXTS[500])
    resp = page(request, ui, "message.html", {"title": ui.gettext(title), "text": ui.gettext(text),
                                              "languages": UI_LANGUAGES}, None)
    resp.status_code = exc.status_code
    for name, value in (exc.headers or {}).items():
        resp.headers[name] = value
    return resp


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(request: Request, backend: Backend, site: SiteDep, lang: Lang = None) -> Response:
    items = request.query_params.multi_items()
    if any(not v.strip() for _, v in items):
        # a submitted form sends its empty fields too: the address a person keeps or
        # shares says only what they chose (the same search, one redirect away)
        kept = urlencode([(k, v) for k, v in items if v.strip()])
        return RedirectResponse(f"/?{kept}" if kept else "/", status_code=303)
    ui = ui_for(request, lang)
    req, near, errors = lenient_request(request.query_params.multi_items())
    result = run_search(backend, req)
    context = _search_context(ui, req, near, result)
    context |= _resident_context(backend, req, near, result)
    context |= _place_context(ui, backend, site, result)
    context |= {
        "errors": {field: input_error(ui, field, code) for field, code in errors.items()},
        "raw": {k: request.query_params.get(k, "") for k in ("age", "resident", "near", "within_km")},
        "languages": UI_LANGUAGES, "subscriptions": site.subscriptions,
    }
    resp = page(request, ui, "search.html", context, lang)
    if errors:  # the page still answers (with the rest of the search), but says what was refused
        resp.status_code = 422
    return resp


def _resident_context(backend: SearchBackend, req: SearchRequest, near: str | None,
                      result: SearchResult) -> dict[str, Any]:
    """How many listings "Where I live" hides, and the link that shows them."""
    hidden, show_hidden_url = 0, None
    if req.resident:  # listings "Where I live" hides: said, with a way to see them
        everyone = req.model_copy(update={"resident": None, "cursor": None, "size": 1})
        found = run_search(backend, everyone)
        hidden = max(0, (found.clusters if req.collapse else found.total)
                     - (result.clusters if req.collapse else result.total))
        show_hidden_url = "?" + urlencode(ui_pairs(everyone.model_copy(update={"size": req.size}), near))
    return {"resident_hidden": hidden, "show_hidden_url": show_hidden_url, "resident": req.resident}


def _place_context(ui: UI, backend: SearchBackend, site: Site, result: SearchResult) -> dict[str, Any]:
    """The cities the "Near" picker offers and what the results map shows."""
    places = choices.map_places(ui, result.hits)
    return {"near_options": _near_options(ui, backend),
            "map_data": {"tiles": site.map_tiles, "attribution": site.map_attribution, "places": places}
            if places else None}


def _this_minute(backend: SearchBackend) -> dict[tuple[str, str], list[str]]:
    """What was built from ``backend``'s index in the last minute, by (UI language, what)."""
    now = time.monotonic()
    cached = _BUILT.get(backend)
    if cached is None or now - cached[0] > CACHE_SECONDS:
        cached = _BUILT[backend] = (now, {})
    return cached[1]


def _per_minute(backend: SearchBackend, ui: UI, what: str,
                build: Callable[[dict[str, dict[str, int]]], list[str]]) -> list[str]:
    """``build(facets of the whole index)`` for ``ui``'s language, built once a
    minute per language and ``what``, not on every request."""
    built = _this_minute(backend)
    if (ui.lang, what) not in built:
        built[ui.lang, what] = build(run_search(backend, SearchRequest(size=0)).facets)
    return built[ui.lang, what]


def _topic_found(backend: SearchBackend, topic_id: str) -> bool:
    """Does a search of the topic find an open listing (asked once a minute)?"""
    built = _this_minute(backend)
    if ("", topic_id) not in built:
        found = run_search(backend, SearchRequest(topic=[topic_id], size=0)).total > 0
        built["", topic_id] = [topic_id] if found else []
    return bool(built["", topic_id])


def _near_options(ui: UI, backend: SearchBackend) -> list[str]:
    """The index's cities as the "Near" picker offers them in ``ui``'s language."""
    return _per_minute(backend, ui, "near", lambda facets: choices.near_options(ui, dict(facets.get("city", {}))))


def suggest_terms(ui: UI, backend: SearchBackend, typed: str, size: int) -> list[str]:
    """Countries, cities, themes and topics ("food banks", "museums") of the
    index, named in ``ui``'s language, that begin with what was typed (or have
    a word that does): what the search understands, offered to someone typing
    in their own language or script, where listings' titles rarely are. A
    topic is offered when a search of it finds something."""
    terms = _per_minute(backend, ui, "terms", lambda facets: choices.terms(ui, facets, _near_options(ui, backend)))
    topics = choices.topic_names(ui)
    names = list(dict.fromkeys([*terms, *topics]))
    offered: list[str] = []
    asked = 0  # topics asked of the index in this request: at most ``size`` (a letter begins many)
    for name in choices.completing(typed, names, len(names)):
        if name not in terms:
            if asked == size:
                continue
            asked += 1
            if not _topic_found(backend, topics[name]):
                continue
        offered.append(name)
        if len(offered) == size:
            break
    return offered


def _search_context(ui: UI, req: SearchRequest, near: str | None, result: SearchResult) -> dict[str, Any]:
    """The search page's results, facets, form choices and links."""
    pairs = ui_pairs(req, near)
    filter_fields = FORM_FIELDS | ({"lat", "lon"} if near else set())

    def ignore_url(field: str) -> str:
        return "?" + urlencode(ui_pairs(req.model_copy(update={"ignore": [*req.ignore, field]}), near))

    def unignore_url(field: str) -> str:
        return "?" + urlencode(ui_pairs(req.model_copy(update={"ignore": [f for f in req.ignore if f != field]}),
                                        near))

    def facet_link(facet: str, value: str) -> str:
        """A facet value's link: it toggles; one understood from the words is
        unticked by ignoring that understanding."""
        if value not in getattr(req, facet) and value in choices.understood(result, facet):
            return ignore_url(facet)
        return toggle(req, facet, value, near)

    return {
        "req": req, "result": result, "query_string": query_string(req), "near": near,
        "count": result.clusters if req.collapse else result.total,
        "literal_url": "?" + urlencode(ui_pairs(req.model_copy(update={"understand": False}), near)),
        "ignore_url": ignore_url, "unignore_url": unignore_url,
        "facet_order": FACETS, "support_items": SUPPORT_ITEMS, "today": datetime.now(UTC).date(),
        "toggle": facet_link,
        "facet_values": lambda facet: choices.facet_values(ui, req, result, facet),
        "search_hidden": [p for p in pairs if p[0] != "q"],
        "filter_hidden": [p for p in pairs if p[0] not in filter_fields],
        "chips": choices.chips(ui, req, near), "clear_url": "?" + urlencode([("q", req.q)] if req.q else []),
        "countries": choices.countries(ui),
        "deadline_options": choices.deadline_options(ui, req.deadline_to),
        "next_url": ("?" + urlencode([*pairs, ("cursor", result.next_cursor)])) if result.next_cursor else None,
    }


def _back_to_results(request: Request) -> str:
    """The results page the person came from (their search, on this site), or the start page."""
    came_from = urlsplit(request.headers.get("referer", ""))
    if came_from.netloc == request.url.netloc and came_from.path == "/" and came_from.query:
        return "/?" + came_from.query
    return "/"


@router.get("/o/{opportunity_id}", response_class=HTMLResponse, include_in_schema=False)
def detail(request: Request, opportunity_id: str, backend: Backend, lang: Lang = None) -> HTMLResponse:
    ui = ui_for(request, lang)
    doc = fetch(backend, opportunity_id)
    similar = run_search(backend, SearchRequest(like=opportunity_id, size=5)).hits
    return page(request, ui, "detail.html", {
        "o": doc, "similar": similar, "today": datetime.now(UTC).date(), "languages": UI_LANGUAGES,
        "back": _back_to_results(request),
        "resident": None, "full": True,
        "support_items": SUPPORT_ITEMS, "json": json,
    }, lang)

