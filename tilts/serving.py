"""Serving the web app: wiring settings into subscriptions and the dashboard."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from crawlers.sources import Source, load_sources
from pipeline.config import Settings
from search.backends import SearchBackend
from search.web.publishers import Publisher, Publishers
from tilts.shell import load_settings


def build_app(settings: Settings, backend: SearchBackend):
    """The web app with subscriptions and the dashboard wired to ``settings``."""
    from coverage.dashboard import Dashboard
    from pipeline.bus import make_bus
    from storage.db import connect
    from subscriptions.digest import Subscriptions
    from tilts.app import create_app

    engine = connect(settings.db_url)
    subs = Subscriptions(settings, engine)
    sources = load_sources()
    dashboard = Dashboard(settings, engine, sources, bus=make_bus(settings))
    return create_app(backend, cors_origins=settings.cors_origins, public_url=settings.public_url,
                      subscriptions=subs, dashboard=dashboard, allowed_hosts=settings.allowed_hosts,
                      map_tiles=settings.map_tiles, map_attribution=settings.map_attribution,
                      publishers=publishers(sources))


def publishers(sources: dict[str, Source]) -> Publishers:
    """Who publishes each registered source, for the cards' source links."""
    return Publishers({sid: Publisher(s.publisher_name, str(s.home_url), tuple(s.allowed_domains))
                       for sid, s in sources.items()})


@contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """``app`` served by uvicorn on ``port`` (0: a free one) of ``host`` in a
    thread (tests, screenshots); yields its base URL and stops it afterwards."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.05)
    try:
        yield f"http://{host}:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


def app_factory():
    """For ``uvicorn --factory`` and ``tilts serve --workers N``: one app per worker process."""
    from search.backends import make_backend

    settings = load_settings()
    backend = make_backend(settings)
    backend.setup()
    return build_app(settings, backend)


def listening_settings(settings: Settings, host: str, port: int) -> Settings:
    """``settings`` whose links in feeds and e-mails lead where this server
    listens, unless ``TILTS_PUBLIC_URL`` says otherwise."""
    if settings.public_url:
        return settings
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return settings.model_copy(update={"public_url": f"http://{shown}:{port}"})


def serve_app(settings: Settings, backend: SearchBackend, host: str, port: int) -> None:
    import uvicorn

    settings = listening_settings(settings, host, port)
    typer.echo(f"serving on http://{host}:{port}/  (API docs: /docs)")
    uvicorn.run(build_app(settings, backend), host=host, port=port, log_level="warning")
