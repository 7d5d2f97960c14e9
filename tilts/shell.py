"""The ``tilts`` command's shared parts: the Typer apps, settings, failing with one line."""

from __future__ import annotations

import typer

from crawlers.sources import SourceError
from devtools import services as svc
from pipeline.bus import BusError
from pipeline.config import Settings
from pipeline.events import InvalidEvent
from search.backends import SearchUnavailable

HELP = """The ``tilts`` command.

Expected failures (a service unreachable, a bad configuration, an unknown
source) end with one clear line on stderr and exit code 1, never a traceback.
"""

app = typer.Typer(add_completion=False, no_args_is_help=True, help=HELP)
services_app = typer.Typer(no_args_is_help=True, help="Real Kafka and Elasticsearch on 127.0.0.1, no Docker.")
sources_app = typer.Typer(no_args_is_help=True, help="The source registry.")
dlq_app = typer.Typer(no_args_is_help=True, help="Dead letters: inspect and re-drive after a fix.")
app.add_typer(services_app, name="services")
app.add_typer(sources_app, name="sources")
app.add_typer(dlq_app, name="dlq")

EXPECTED = (BusError, SearchUnavailable, SourceError, svc.ServiceError, InvalidEvent, OSError)


def fail(message: str) -> typer.Exit:
    typer.echo(f"tilts: {message}", err=True)
    return typer.Exit(code=1)


def load_settings() -> Settings:
    return Settings()
