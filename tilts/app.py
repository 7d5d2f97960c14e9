"""The web app: the search API, feeds and UI, with subscriptions and the
coverage dashboard when given, behind the shared web defences.

The routers read the backend and the rest from ``app.state`` (see
:mod:`search.web.deps`, :mod:`subscriptions.routes`, :mod:`coverage.routes`).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from coverage import routes as coverage_routes
from coverage.dashboard import Dashboard
from search import api
from search.backends import SearchBackend
from search.security import FailureThrottle, RateLimiter, docs_csp, security_headers
from search.web import feeds, pages
from search.web.deps import Site
from search.web.publishers import Publishers
from search.web.render import STATIC_DIR
from subscriptions import routes as subscription_routes
from subscriptions.digest import Subscriptions

VENDOR = "/static/vendor"


def create_app(backend: SearchBackend, *, cors_origins: list[str] | None = None,
               public_url: str = "", subscriptions: Subscriptions | None = None,
               subscribe_limit: tuple[int, float] = (5, 600.0), dashboard: Dashboard | None = None,
               allowed_hosts: list[str] | None = None, map_tiles: str = "",
               map_attribution: str = "", publishers: Publishers | None = None) -> FastAPI:
    """The app on ``backend``; ``public_url`` is the origin of absolute links,
    ``subscribe_limit`` (calls, seconds) the subscription requests a client may send,
    ``map_tiles`` the tile URL template of the results map ("" for none: offline),
    ``publishers`` who publishes each registered source (cards name it)."""
    app = FastAPI(
        title="tilts",
        summary="Search volunteering opportunities aggregated from NGO sites and European programmes.",
        version="0.2.0", docs_url=None, redoc_url=None,
    )
    app.state.backend = backend
    app.state.site = Site(public_url=public_url, subscriptions=subscriptions is not None,
                          map_tiles=map_tiles, map_attribution=map_attribution,
                          publishers=publishers or Publishers())
    app.middleware("http")(security_headers(public_url, map_tiles))
    _api_docs(app)
    if allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=cors_origins, allow_methods=["GET"],
                           allow_headers=["*"])
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.exception_handler(StarletteHTTPException)(pages.html_errors)
    # The calendar route comes before /opportunities/{id}, which would take "{id}.ics" for an id.
    app.include_router(feeds.router)
    app.include_router(api.router)
    app.include_router(pages.router)
    if subscriptions is not None:
        app.state.subscriptions = subscriptions
        app.state.subscribe_limiter = RateLimiter(*subscribe_limit)
        app.include_router(subscription_routes.router)
    if dashboard is not None:
        app.state.dashboard = dashboard
        app.state.login_throttle = FailureThrottle()
        app.include_router(coverage_routes.router)
    return app


def _api_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` from the copies under /static/vendor,
    so that the documentation loads nothing from another host."""
    def root(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get("/docs", include_in_schema=False)
    def swagger(request: Request) -> HTMLResponse:
        base = root(request)
        resp = get_swagger_ui_html(
            openapi_url=f"{base}{app.openapi_url}", title=f"{app.title} – API",
            swagger_js_url=f"{base}{VENDOR}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{base}{VENDOR}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{base}/static/favicon.svg",
            swagger_ui_parameters={"validatorUrl": None})  # the online validator would send the spec away
        resp.headers["Content-Security-Policy"] = docs_csp(bytes(resp.body).decode())
        return resp

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        base = root(request)
        return get_redoc_html(openapi_url=f"{base}{app.openapi_url}", title=f"{app.title} – API",
                              redoc_js_url=f"{base}{VENDOR}/redoc/redoc.standalone.js",
                              redoc_favicon_url=f"{base}/static/favicon.svg", with_google_fonts=False)
