"""The HTTP API, feeds and the web UI (FastAPI).

JSON API (documented in ``/openapi.json``, browsable at ``/docs``):

- ``GET /search``: every :class:`SearchRequest` field as a query parameter
  (lists repeat: ``?country=LV&country=EE``), plus ``near`` (a city name for the
  distance filter and sort). Invalid input is a 422 with the reason.
- ``GET /facets``: facet counts only; ``GET /suggest?q=``: title completions.
- ``GET /opportunities/{id}`` and ``GET /opportunities/{id}.ics`` (deadline and
  dates as calendar events).
- ``GET /search.rss`` and ``GET /search.atom``: a feed of any search.
- ``GET /healthz``: backend health; 503 when degraded.

Web UI (server-rendered, works without JavaScript, four languages): ``GET /``
(search with facets) and ``GET /o/{id}`` (detail). Descriptions are shown only
as the normalizer's sanitized HTML; everything else is escaped by Jinja2's
autoescaping; highlights are escaped text with ``<mark>``.
"""

from __future__ import annotations

import json
import threading
import time
import unicodedata
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, get_origin
from urllib.parse import urlencode, urlsplit

import pycountry
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from pydantic import BaseModel, ValidationError, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.events import web_url
from pipeline.normalize.text import sanitize_html
from search import query
from search.backends import SearchBackend, SearchRequest, SearchResult, SearchUnavailable
from search.backends.base import FACETS, SUPPORT_ITEMS
from search.i18n import UI, UI_LANGUAGES, pick_language
from search.security import cross_site, public_base, security_headers

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
CACHE_SECONDS = 60


class Problem(BaseModel):
    detail: str


UNAVAILABLE = {503: {"model": Problem, "description": "The search backend is unreachable; retry later"}}
NOT_FOUND = {404: {"model": Problem, "description": "No such opportunity"}}


class Suggestions(BaseModel):
    suggestions: list[str]


class FacetCounts(BaseModel):
    total: int
    facets: dict[str, dict[str, int]]


def resolve_place(name: str) -> tuple[float, float]:
    """A city name → its coordinates (offline GeoNames gazetteer)."""
    from pipeline.normalize.places import gazetteer

    city = gazetteer().lookup(name.strip())
    if city is None:
        raise ValueError(f"unknown place {name!r}")
    return city.lat, city.lon


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


def _cached(response: Response) -> None:
    response.headers["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"


class RateLimiter:
    """At most ``limit`` calls per ``window`` seconds per client (in memory)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._calls: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._calls.get(client, []) if now - t < self.window]
            allowed = len(recent) < self.limit
            if allowed:
                recent.append(now)
            self._calls[client] = recent
            if len(self._calls) > 10_000:  # forget idle clients
                self._calls = {k: v for k, v in self._calls.items() if v and now - v[-1] < self.window}
        return allowed


def create_app(backend: SearchBackend, *, cors_origins: list[str] | None = None,
               public_url: str = "", subscriptions: Any = None,
               subscribe_limit: tuple[int, float] = (5, 600.0), dashboard: Any = None,
               allowed_hosts: list[str] | None = None) -> FastAPI:
    app = FastAPI(
        title="tilts",
        summary="Search volunteering opportunities aggregated from NGO sites and European programmes.",
        version="0.2.0",
    )
    app.middleware("http")(security_headers(public_url))
    if allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=cors_origins, allow_methods=["GET"],
                           allow_headers=["*"])
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def run_search(req: SearchRequest) -> SearchResult:
        try:
            return query.run(backend.search, req)
        except SearchUnavailable as exc:
            raise HTTPException(status_code=503, detail=f"search backend unavailable: {exc}") from exc
        except ValueError as exc:
            raise RequestValidationError([{"type": "value_error", "loc": ("query",), "msg": str(exc),
                                           "input": None}]) from exc

    def fetch(opportunity_id: str) -> dict[str, Any]:
        try:
            doc = backend.get(opportunity_id)
        except SearchUnavailable as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from exc
        if doc is None:
            raise HTTPException(status_code=404, detail="no such opportunity")
        return doc

    @app.get("/search", response_model=SearchResult, tags=["search"], responses=UNAVAILABLE)
    def search(req: Annotated[SearchRequest, Depends(search_request)], response: Response) -> SearchResult:
        """Full-text search with filters, facets, sorting, collapse and cursors."""
        _cached(response)
        return run_search(req)

    @app.get("/facets", response_model=FacetCounts, tags=["search"], responses=UNAVAILABLE)
    def facets(req: Annotated[SearchRequest, Depends(search_request)], response: Response) -> FacetCounts:
        """Facet counts for a search (each facet ignores its own filter)."""
        _cached(response)
        result = run_search(req.model_copy(update={"size": 0, "page": 1, "cursor": None}))
        return FacetCounts(total=result.total, facets=result.facets)

    @app.get("/suggest", response_model=Suggestions, tags=["search"], responses=UNAVAILABLE)
    def suggest(
        response: Response,
        q: Annotated[str, Query(min_length=1, max_length=100)],
        size: Annotated[int, Query(ge=1, le=20)] = 8,
    ) -> Suggestions:
        """Titles of open listings for what has been typed so far."""
        _cached(response)
        try:
            return Suggestions(suggestions=backend.suggest(q, size))
        except SearchUnavailable as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from exc

    @app.get("/opportunities/{opportunity_id}.ics", tags=["search"],
             responses={200: {"content": {"text/calendar": {}}}, **NOT_FOUND, **UNAVAILABLE},
             response_class=Response)
    def opportunity_ics(opportunity_id: str) -> Response:
        """The listing's deadline and dates as calendar events."""
        from search.feeds import calendar

        doc = fetch(opportunity_id)
        if not (doc.get("start_date") or doc.get("deadline")):
            raise HTTPException(status_code=404, detail="this opportunity has no dates for a calendar")
        return Response(calendar(doc), media_type="text/calendar; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{opportunity_id}.ics"'})

    @app.get("/opportunities/{opportunity_id}", tags=["search"], responses={**NOT_FOUND, **UNAVAILABLE})
    def get_opportunity(opportunity_id: str, response: Response) -> dict[str, Any]:
        _cached(response)
        return fetch(opportunity_id)

    def feed(req: SearchRequest, request: Request, kind: str) -> Response:
        from search.feeds import search_feed

        result = run_search(req.model_copy(update={"sort": "newest" if not req.text else req.sort}))
        base = public_base(public_url, request)
        ui = UI.of(pick_language(request.query_params.get("lang"), None, request.headers.get("accept-language")))
        body = search_feed(result, req, base, kind, ui)
        media = "application/rss+xml" if kind == "rss" else "application/atom+xml"
        return Response(body, media_type=f"{media}; charset=utf-8",
                        headers={"Cache-Control": f"public, max-age={CACHE_SECONDS * 5}"})

    @app.get("/search.rss", tags=["feeds"], response_class=Response,
             responses={200: {"content": {"application/rss+xml": {}}}, **UNAVAILABLE})
    def search_rss(req: Annotated[SearchRequest, Depends(search_request)], request: Request) -> Response:
        """RSS 2.0 feed of a search (newest first)."""
        return feed(req, request, "rss")

    @app.get("/search.atom", tags=["feeds"], response_class=Response,
             responses={200: {"content": {"application/atom+xml": {}}}, **UNAVAILABLE})
    def search_atom(req: Annotated[SearchRequest, Depends(search_request)], request: Request) -> Response:
        """Atom feed of a search (newest first)."""
        return feed(req, request, "atom")

    @app.get("/healthz", tags=["operations"],
             responses={503: {"description": "Degraded: the search backend is unreachable"}})
    def healthz() -> JSONResponse:
        health = backend.health()
        return JSONResponse(health, status_code=200 if health.get("status") == "ok" else 503)

    # ------------------------------------------------------------- web UI

    def ui_for(request: Request, lang: str | None) -> UI:
        return UI.of(pick_language(lang, request.cookies.get("lang"), request.headers.get("accept-language")))

    def page(request: Request, ui: UI, template: str, context: dict[str, Any], lang: str | None) -> HTMLResponse:
        def lang_query(code: str) -> str:
            pairs = [(k, v) for k, v in request.query_params.multi_items() if k not in ("lang", "cursor")]
            return urlencode([*pairs, ("lang", code)])

        helpers = {
            "lang_query": lang_query,
            "language_label": lambda code: NATIVE_NAMES[code],
            "facet_label": lambda facet: ui.gettext(FACET_LABELS[facet]),
            "support_label": lambda item: ui.gettext(SUPPORT_LABELS[item]),
            "value_label": lambda facet, value: _value_label(ui, facet, value),
            "hidden_pairs": lambda req: [p for p in req.query_pairs() if p[0] != "q"],
            "country_list": lambda codes: _country_list(ui, codes),
            "resident": None, "full": False,
        }
        resp = TEMPLATES.TemplateResponse(request, template, {**ui.context(), **helpers, **context})
        resp.headers["Content-Language"] = ui.lang
        resp.headers["Vary"] = "Accept-Language, Cookie"
        if lang in UI_LANGUAGES:
            resp.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
        return resp

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
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

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request, lang: Annotated[str | None, Query(max_length=5)] = None) -> HTMLResponse:
        ui = ui_for(request, lang)
        req, near, errors = _lenient_request(request.query_params.multi_items())
        result = run_search(req)
        pairs = _ui_pairs(req, near)
        filter_fields = _FORM_FIELDS | ({"lat", "lon"} if near else set())
        hidden, show_hidden_url = 0, None
        if req.resident:  # listings "Where I live" hides: said, with a way to see them
            everyone = req.model_copy(update={"resident": None, "cursor": None, "size": 1})
            found = run_search(everyone)
            hidden = max(0, (found.clusters if req.collapse else found.total)
                         - (result.clusters if req.collapse else result.total))
            show_hidden_url = "?" + urlencode(_ui_pairs(everyone.model_copy(update={"size": req.size}), near))
        resp = page(request, ui, "search.html", {
            "req": req, "result": result, "query_string": _query_string(req), "near": near,
            "resident_hidden": hidden, "show_hidden_url": show_hidden_url, "resident": req.resident,
            "errors": {field: _error_text(ui, field, code, near) for field, code in errors.items()},
            "raw": {k: request.query_params.get(k, "") for k in ("age", "resident", "near", "within_km")},
            "count": result.clusters if req.collapse else result.total,
            "literal_url": "?" + urlencode(_ui_pairs(req.model_copy(update={"understand": False}), near)),
            "ignore_url": lambda field: "?" + urlencode(
                _ui_pairs(req.model_copy(update={"ignore": [*req.ignore, field]}), near)),
            "facet_order": FACETS, "support_items": SUPPORT_ITEMS, "today": datetime.now(UTC).date(),
            "toggle": lambda facet, value: _toggle(req, facet, value, near),
            "facet_values": lambda facet: _facet_values(ui, req, result, facet),
            "search_hidden": [p for p in pairs if p[0] != "q"],
            "filter_hidden": [p for p in pairs if p[0] not in filter_fields],
            "chips": _chips(ui, req, near), "clear_url": "?" + urlencode([("q", req.q)] if req.q else []),
            "countries": _countries(ui),
            "deadline_options": _deadline_options(ui, req.deadline_to),
            "next_url": ("?" + urlencode([*pairs, ("cursor", result.next_cursor)]))
            if result.next_cursor else None,
            "languages": UI_LANGUAGES, "subscriptions": subscriptions is not None,
        }, lang)
        if errors:  # the page still answers (with the rest of the search), but says what was refused
            resp.status_code = 422
        return resp

    if subscriptions is not None:
        _add_subscription_routes(app, subscriptions, RateLimiter(*subscribe_limit), ui_for, page, public_url)
    if dashboard is not None:
        from coverage.dashboard import add_dashboard_routes

        add_dashboard_routes(app, dashboard, backend, TEMPLATES, ui_for)

    @app.get("/o/{opportunity_id}", response_class=HTMLResponse, include_in_schema=False)
    def detail(request: Request, opportunity_id: str,
               lang: Annotated[str | None, Query(max_length=5)] = None) -> HTMLResponse:
        ui = ui_for(request, lang)
        doc = fetch(opportunity_id)
        similar = run_search(SearchRequest(like=opportunity_id, size=5)).hits
        return page(request, ui, "detail.html", {
            "o": doc, "similar": similar, "today": datetime.now(UTC).date(), "languages": UI_LANGUAGES,
            "resident": None, "full": True,
            "support_items": SUPPORT_ITEMS, "json": json,
        }, lang)

    return app


# Paths of the JSON API: their errors stay JSON whatever the client accepts.
API_PATHS = ("/search", "/facets", "/suggest", "/opportunities", "/healthz", "/docs", "/openapi", "/redoc",
             "/metrics")
ERROR_TEXTS = {
    404: ("Not found", "There is no such page or opportunity here. It may have closed or been removed."),
    401: ("Sign-in needed", "This page is for the project's staff: sign in to see it."),
    429: ("Too many requests", "Please wait a minute and try again."),
    500: ("Something went wrong", "Please try again in a moment."),
    503: ("Search is unavailable", "Search is unavailable for a moment. Please try again shortly."),
}
NATIVE_NAMES = {"lv": "Latviešu", "en": "English", "ru": "Русский", "uk": "Українська"}
FACET_LABELS = {
    "country": "Country", "city": "City", "theme": "Theme", "activity_type": "Type",
    "duration_class": "Duration", "work_mode": "Where", "language": "Language of the listing",
    "required_language": "Languages required", "programme": "Programme", "organisation": "Organisation",
    "support": "Support offered", "source": "Source",
}
SUPPORT_LABELS = {
    "accommodation": "Accommodation", "food": "Food", "travel": "Travel costs", "insurance": "Insurance",
    "allowance": "Allowance", "language_course": "Language course", "training": "Training",
}
VALUE_LABELS = {
    "theme": {
        "environment": "Environment", "inclusion": "Inclusion", "migrants_refugees": "Migrants and refugees",
        "education": "Education", "culture": "Culture", "health": "Health", "community": "Community",
        "youth": "Youth", "sport": "Sport", "animals": "Animals", "emergency": "Emergency",
        "digital": "Digital", "social": "Social care", "citizenship": "Citizenship",
        "employment": "Employment", "other": "Other",
    },
    "activity_type": {
        "volunteering": "Volunteering", "traineeship": "Traineeship", "solidarity_project": "Solidarity project",
        "exchange": "Exchange", "job": "Job",
    },
    "duration_class": {
        "one_off": "One day or a few", "short_term": "Short term", "long_term": "Long term",
        "ongoing": "Ongoing", "unknown": "Not stated",
    },
    "work_mode": {"onsite": "On site", "remote": "Remote", "hybrid": "Hybrid"},
}


def _value_label(ui: UI, facet: str, value: str) -> str:
    if facet == "country":
        return ui.country_name(value)
    if facet in ("language", "required_language"):
        return ui.language_name(value)
    if facet == "support":
        return ui.gettext(SUPPORT_LABELS.get(value, value))
    if facet in VALUE_LABELS and value in VALUE_LABELS[facet]:
        return ui.gettext(VALUE_LABELS[facet][value])
    return value


def _add_subscription_routes(app: FastAPI, subs: Any, limiter: RateLimiter, ui_for: Any, page: Any,
                             public_url: str) -> None:
    from subscriptions.digest import SubscriptionError
    from subscriptions.mail import MailError

    def message(request: Request, ui: UI, title: str, text: str, status: int = 200) -> HTMLResponse:
        resp = page(request, ui, "message.html", {"title": title, "text": text, "languages": UI_LANGUAGES}, None)
        resp.status_code = status
        return resp

    @app.post("/subscriptions", response_class=HTMLResponse, tags=["subscriptions"],
              responses={400: {"description": "Invalid email, language, frequency or search"},
                         403: {"description": "Sent from another site's page"},
                         429: {"description": "Too many subscription requests from this client"},
                         503: {"description": "The confirmation email could not be sent"}})
    async def subscribe(request: Request) -> HTMLResponse:
        """Save a search for email digests (double opt-in: a confirmation link is mailed).
        Form fields: ``email``, ``frequency`` (weekly|daily), ``timezone``, ``lang``, and
        any search parameter."""
        form = await request.form()
        ui = ui_for(request, str(form.get("lang") or "") or None)
        if cross_site(request, public_url):
            return message(request, ui, ui.gettext("Subscription not saved"),
                           ui.gettext("This form can only be sent from this site."), 403)
        client = request.client.host if request.client else "unknown"
        if not limiter.allow(client):
            return message(request, ui, ui.gettext("Too many requests"),
                           ui.gettext("Please try again in a few minutes."), 429)
        try:
            search = SearchRequest(**_grouped(form.multi_items(), SearchRequest))
            subs.subscribe(str(form.get("email") or ""), search, lang=ui.lang,
                           frequency=str(form.get("frequency") or "weekly"),
                           timezone=str(form.get("timezone") or "Europe/Riga"))
        except (SubscriptionError, ValidationError) as exc:
            return message(request, ui, ui.gettext("Subscription not saved"), str(exc), 400)
        except MailError:
            return message(request, ui, ui.gettext("Subscription not saved"),
                           ui.gettext("We could not send the confirmation email. Please try again later."), 503)
        return message(request, ui, ui.gettext("Check your inbox"),
                       ui.gettext("We sent you a link to confirm the subscription. Nothing is sent before you confirm."),
                       202)

    @app.get("/subscriptions/confirm", response_class=HTMLResponse, tags=["subscriptions"],
             responses={400: {"description": "Invalid or expired link"}})
    def confirm(request: Request, token: Annotated[str, Query(max_length=500)]) -> HTMLResponse:
        ui = ui_for(request, None)
        if subs.confirm(token):
            return message(request, ui, ui.gettext("Subscription confirmed"),
                           ui.gettext("You will get new opportunities matching your search by email."))
        return message(request, ui, ui.gettext("Invalid link"),
                       ui.gettext("This link is not valid or has expired."), 400)

    @app.get("/unsubscribe", response_class=HTMLResponse, tags=["subscriptions"])
    def unsubscribe_page(request: Request, token: Annotated[str, Query(max_length=500)]) -> HTMLResponse:
        ui = ui_for(request, None)
        return page(request, ui, "unsubscribe.html", {"token": token, "languages": UI_LANGUAGES}, None)

    @app.post("/unsubscribe", response_class=HTMLResponse, tags=["subscriptions"],
              responses={400: {"description": "Invalid link"}})
    def unsubscribe(request: Request, token: Annotated[str, Query(max_length=500)]) -> HTMLResponse:
        """One-click unsubscribe (RFC 8058): deletes the subscription and its data."""
        ui = ui_for(request, None)
        if subs.unsubscribe(token):
            return message(request, ui, ui.gettext("Unsubscribed"),
                           ui.gettext("Your subscription and its data are deleted."))
        return message(request, ui, ui.gettext("Invalid link"),
                       ui.gettext("This link is not valid or the subscription is already deleted."), 400)


def _grouped(items: Any, model: type[SearchRequest]) -> dict[str, Any]:
    """Query or form items → the model's fields (repeated keys of list fields
    collected, empty values and unknown keys left out)."""
    grouped: dict[str, Any] = {}
    for k, v in items:
        if k not in model.model_fields or v == "":
            continue
        if get_origin(model.model_fields[k].annotation) is list:
            grouped.setdefault(k, []).append(v)
        else:
            grouped[k] = v
    return grouped


def _query_string(req: SearchRequest) -> str:
    return urlencode(req.query_pairs())


def _toggle(req: SearchRequest, facet: str, value: str, near: str | None = None) -> str:
    """The URL of this search with one facet value switched on or off."""
    current = _ui_pairs(req, near)
    pairs = [p for p in current if p != (facet, value)]
    if (facet, value) not in current:
        pairs.append((facet, value))
    return "?" + urlencode(pairs)


# Fields the filter form itself submits (everything else it carries as hidden inputs).
_FORM_FIELDS = frozenset({"speaks", "age", "resident", "near", "within_km", "deadline_to", "sort"})
TOP_VALUES = 8  # facet values shown before "show all"


def _ui_pairs(req: SearchRequest, near: str | None) -> list[tuple[str, str]]:
    """The request as the UI's links carry it: the place by name when it was
    chosen by name (so the form can show it and a new one can replace it)."""
    pairs = req.query_pairs()
    if near:
        pairs = [p for p in pairs if p[0] not in ("lat", "lon")] + [("near", near)]
    return pairs


def _without(req: SearchRequest, near: str | None, drop: tuple[str, str | None]) -> str:
    """The URL of this search without one parameter (a value, or every value: None)."""
    key, value = drop
    pairs = [p for p in _ui_pairs(req, near) if p[0] != key or (value is not None and p[1] != value)]
    if key == "near":  # the distance means nothing without the place
        pairs = [p for p in pairs if p[0] not in ("within_km", "lat", "lon")]
    return "?" + urlencode(pairs)


def _chips(ui: UI, req: SearchRequest, near: str | None) -> list[tuple[str, str, str]]:
    """Active filters as (what, value, URL without it), in the order of the form."""
    chips = [(ui.gettext(FACET_LABELS[facet]), _value_label(ui, facet, value), _without(req, near, (facet, value)))
             for facet in FACETS for value in getattr(req, facet)]
    chips += [(ui.gettext("Languages I speak"), ui.language_name(code), _without(req, near, ("speaks", code)))
              for code in req.speaks]
    if req.age is not None:
        chips.append((ui.gettext("My age"), ui.number(req.age), _without(req, near, ("age", None))))
    if req.resident:
        chips.append((ui.gettext("Where I live"), ui.country_name(req.resident),
                      _without(req, near, ("resident", None))))
    if req.deadline_to is not None:
        chips.append((ui.gettext("Apply by"), ui.date(req.deadline_to), _without(req, near, ("deadline_to", None))))
    if near or req.lat is not None:
        place = near or f"{req.lat:.3f}, {req.lon:.3f}"
        if req.within_km:
            place = ui.gettext("within %(km)s km of %(place)s") % {"km": ui.number(req.within_km), "place": place}
        chips.append((ui.gettext("Near (city)"), place, _without(req, near, ("near", None) if near else ("lat", None))))
    return chips


_ALPHABETS = {
    "lv": "aābcčdeēfgģhiījkķlļmnņoprsštuūvzž",
    "ru": "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    "uk": "абвгґдеєжзиіїйклмнопрстуфхцчшщьюя",
}


def _sort_key(lang: str) -> Any:
    """A name sort key following the language's alphabet (Latvian Č after C,
    Ukrainian Є after Е), without ICU."""
    alphabet = {ch: i for i, ch in enumerate(_ALPHABETS.get(lang, ""))}

    def key(name: str) -> tuple[tuple[int, int], ...]:
        out = []
        for ch in name.casefold():
            if ch in alphabet:
                out.append((1, alphabet[ch]))
            else:
                base = unicodedata.normalize("NFKD", ch)[:1] or ch
                out.append((0, ord(base)) if base.isalpha() and base.isascii() else (2, ord(base)))
        return tuple(out)

    return key


@lru_cache(maxsize=8)
def _countries_cached(lang: str) -> tuple[tuple[str, str], ...]:
    ui = UI.of(lang)
    named = [(c.alpha_2, ui.country_name(c.alpha_2)) for c in pycountry.countries]
    key = _sort_key(lang)
    return tuple(sorted(named, key=lambda item: key(item[1])))


def _countries(ui: UI) -> tuple[tuple[str, str], ...]:
    """Every country as (code, name in the UI's language), sorted by that name."""
    return _countries_cached(ui.lang)


def _deadline_options(ui: UI, chosen: date | None) -> list[tuple[str, str, bool]]:
    """(value, label, selected) for "Apply by": within 7 or 30 days from today, or the date
    a link carries."""
    today = datetime.now(UTC).date()
    options = [(str(today + timedelta(days=n)), ui.ngettext("Within %(num)s day", "Within %(num)s days", n)
                % {"num": ui.number(n)}, chosen == today + timedelta(days=n)) for n in (7, 30)]
    if chosen is not None and not any(selected for _v, _l, selected in options):
        options.append((str(chosen), ui.date(chosen), True))
    return options


def _country_list(ui: UI, codes: list[str]) -> str:
    """``codes`` as names in the UI's language, in its alphabetical order."""
    wanted = set(codes)
    named = [name for code, name in _countries(ui) if code in wanted]
    known = {code for code, _name in _countries(ui)}
    return ", ".join(named + sorted(ui.country_name(c) for c in wanted - known))


def _facet_values(ui: UI, req: SearchRequest, result: SearchResult,
                  facet: str) -> tuple[list[tuple[str, int, bool]], list[tuple[str, int, bool]]]:
    """(shown, the rest) as (value, count, selected): every selected value,
    then the top values; the rest behind "show all" (places by name)."""
    counts = dict(result.facets.get(facet, {}))
    selected = list(getattr(req, facet))
    for value in selected:
        counts.setdefault(value, 0)
    ordered = list(counts)
    top = ordered[:TOP_VALUES]
    shown = [v for v in ordered if v in selected] + [v for v in top if v not in selected]
    rest = [v for v in ordered if v not in shown]
    if facet in ("country", "city"):
        key = _sort_key(ui.lang)
        rest.sort(key=lambda v: key(_value_label(ui, facet, v)))
    return ([(v, counts[v], v in selected) for v in shown], [(v, counts[v], v in selected) for v in rest])


# Request fields a model-level error is about (SearchRequest._consistent's messages).
_MODEL_ERRORS = (("within_km", ("within_km",)), ("sort=distance", ("sort",)), ("lat and lon", ("lat", "lon")),
                 ("cursor", ("cursor",)), ("page", ("page",)))


def _lenient_request(items: Any) -> tuple[SearchRequest, str | None, dict[str, str]]:
    """Query items → (the request with every valid part, the place name, field → error code).

    What cannot be used is left out on its own, the rest of the search is kept."""
    data = _grouped(items, SearchParams)
    errors: dict[str, str] = {}
    if isinstance(data.get("resident"), str):
        data["resident"] = data["resident"].strip().upper()
    near = str(data.pop("near", "") or "").strip()[:100] or None
    if near:
        try:
            data["lat"], data["lon"] = resolve_place(near)
        except ValueError:
            errors["near"] = "unknown_place"
            near = None
            data.pop("lat", None), data.pop("lon", None)
    for _ in range(len(SearchRequest.model_fields) + 1):
        try:
            return SearchRequest(**data), near, errors
        except ValidationError as exc:
            dropped = False
            for err in exc.errors(include_url=False):
                loc = err.get("loc") or ()
                if loc and loc[0] in data:
                    field = str(loc[0])
                    if len(loc) > 1 and isinstance(loc[1], int) and isinstance(data[field], list):
                        data[field] = [v for i, v in enumerate(data[field]) if i != loc[1]]
                        if not data[field]:
                            del data[field]
                    else:
                        del data[field]
                    errors.setdefault(field, err.get("type", "invalid"))
                    dropped = True
                    continue
                msg = str(err.get("msg", ""))
                for marker, fields in _MODEL_ERRORS:
                    if marker in msg and any(f in data for f in fields):
                        for f in fields:
                            if data.pop(f, None) is not None and not (f in ("within_km", "sort") and "near" in errors):
                                errors.setdefault(f, "needs_place" if f in ("within_km", "sort") else "invalid")
                        dropped = True
                        break
            if not dropped:
                break
    errors.setdefault("search", "invalid")
    return SearchRequest(**({"q": data["q"]} if isinstance(data.get("q"), str) and len(data["q"]) <= 500 else {})), \
        None, errors


def _error_text(ui: UI, field: str, code: str, near: str | None) -> str:
    """An input error in the page's language."""
    if field == "age":
        return ui.gettext("Enter an age from 0 to 120.")
    if field == "resident":
        return ui.gettext("Choose a country from the list.")
    if field == "near":
        return ui.gettext("This place is not known. Try a city name, for example Riga.")
    if field == "within_km":
        if code == "needs_place":
            return ui.gettext("Enter a place in “Near” to search within a distance.")
        return ui.gettext("Enter a distance from 1 to 20,000 km.")
    if field == "sort":
        if code == "needs_place":
            return ui.gettext("Sorting by distance needs a place.")
        return ui.gettext("Choose a sort order from the list.")
    if field in ("speaks",):
        return ui.gettext("Choose languages from the list.")
    return ui.gettext("This part of the search was not understood and was left out.")


def deadline_state(o: dict[str, Any], today: date) -> tuple[str, int | None]:
    """("open"|"closing"|"expired", days left) for the card and the apply button."""
    if o.get("status") != "open":
        return "expired", None
    if not o.get("deadline"):
        return "open", None
    days = (date.fromisoformat(o["deadline"]) - today).days
    if days < 0:
        return "expired", days
    return ("closing" if days <= 7 else "open"), days


TEMPLATES.env.globals["deadline_state"] = deadline_state
# Defence in depth: descriptions pass the normalizer's allow-list again when
# shown, so an index written by an older version can never serve active HTML.
TEMPLATES.env.filters["sanitized"] = lambda html: Markup(sanitize_html(html))
TEMPLATES.env.filters["host"] = lambda url: urlsplit(str(url)).hostname or str(url)
# Only http(s) links reach an href, whatever an index holds (see pipeline.events.web_url).
TEMPLATES.env.filters["web_url"] = web_url
TEMPLATES.env.globals["timedelta"] = timedelta
