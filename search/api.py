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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, get_origin
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from pydantic import BaseModel, ValidationError, model_validator

from pipeline.events import web_url
from pipeline.normalize.text import sanitize_html
from search.backends import SearchBackend, SearchRequest, SearchResult, SearchUnavailable
from search.backends.base import FACETS, SUPPORT_ITEMS
from search import query
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
        body = search_feed(result, req, base, kind)
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
        }
        resp = TEMPLATES.TemplateResponse(request, template, {**ui.context(), **helpers, **context})
        resp.headers["Content-Language"] = ui.lang
        resp.headers["Vary"] = "Accept-Language, Cookie"
        if lang in UI_LANGUAGES:
            resp.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
        return resp

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request, lang: Annotated[str | None, Query(max_length=5)] = None) -> HTMLResponse:
        ui = ui_for(request, lang)
        error = None
        try:
            req = search_request(SearchParams(**_grouped(request.query_params.multi_items(), SearchParams)))
        except (ValidationError, RequestValidationError) as exc:
            error = "; ".join(str(e.get("msg")) for e in exc.errors())
            req = SearchRequest()
        result = run_search(req)
        resp = page(request, ui, "search.html", {
            "req": req, "result": result, "error": error, "query_string": _query_string(req),
            "literal_url": "?" + _query_string(req.model_copy(update={"understand": False})),
            "ignore_url": lambda field: "?" + _query_string(req.model_copy(update={"ignore": [*req.ignore, field]})),
            "facet_order": FACETS, "support_items": SUPPORT_ITEMS, "today": datetime.now(UTC).date(),
            "toggle": lambda facet, value: _toggle(req, facet, value),
            "next_url": ("?" + urlencode([*req.query_pairs(), ("cursor", result.next_cursor)]))
            if result.next_cursor else None,
            "languages": UI_LANGUAGES, "subscriptions": subscriptions is not None,
        }, lang)
        if error:  # the page still answers (with every listing), but says the input was refused
            resp.status_code = 422
        return resp

    if subscriptions is not None:
        _add_subscription_routes(app, subscriptions, RateLimiter(*subscribe_limit), ui_for, page, public_url)
    if dashboard is not None:
        from search.dashboard import add_dashboard_routes

        add_dashboard_routes(app, dashboard, backend, TEMPLATES, ui_for)

    @app.get("/o/{opportunity_id}", response_class=HTMLResponse, include_in_schema=False)
    def detail(request: Request, opportunity_id: str,
               lang: Annotated[str | None, Query(max_length=5)] = None) -> HTMLResponse:
        ui = ui_for(request, lang)
        doc = fetch(opportunity_id)
        similar = run_search(SearchRequest(like=opportunity_id, size=5)).hits
        return page(request, ui, "detail.html", {
            "o": doc, "similar": similar, "today": datetime.now(UTC).date(), "languages": UI_LANGUAGES,
            "support_items": SUPPORT_ITEMS, "json": json,
        }, lang)

    return app


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
    from scheduler.digest import SubscriptionError
    from scheduler.mail import MailError

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


def _toggle(req: SearchRequest, facet: str, value: str) -> str:
    """The URL of this search with one facet value switched on or off."""
    pairs = [p for p in req.query_pairs() if p != (facet, value)]
    if (facet, value) not in req.query_pairs():
        pairs.append((facet, value))
    return "?" + urlencode(pairs)


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
