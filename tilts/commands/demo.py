"""``tilts demo`` (its work is in :mod:`tilts.demo`, imported when it runs)."""

from __future__ import annotations

from typing import Annotated

import typer

from tilts.shell import app


@app.command()
def demo(
    once: Annotated[bool, typer.Option("--once", help="Crawl each replayed source once, index, print a summary, exit.")]
    = False,
    port: Annotated[int | None, typer.Option(help="Port for the UI/API (default TILTS_API_PORT, 8000).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many listings per replayed corpus "
                                                             "(default: all of them; 20 with --once).")] = None,
) -> None:
    """Replay real sources on 127.0.0.1 (the European Youth Portal's European Solidarity Corps
    opportunities, NYC Service's volunteer opportunities), crawl them with the scheduler's crawls and
    the real spiders, normalize, index into the configured backends (embedded by default) and serve
    the UI while it fills, with each source's progress on the terminal."""
    from tilts import demo as impl

    impl.run(once, port, limit)
