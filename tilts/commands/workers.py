"""Commands that run the pipeline: everything in one process, the scheduler, one
crawl, the workers, the web server, a reindex."""

from __future__ import annotations

import os
import sys
import threading
from typing import Annotated

import typer

from crawlers.sources import Source, load_sources
from pipeline.worker import Worker
from search.backends import SearchUnavailable
from tilts.serving import serve_app
from tilts.shell import app, fail, load_settings


@app.command()
def run(port: Annotated[int | None, typer.Option(help="Port for the UI/API.")] = None) -> None:
    """Everything in one process: scheduled jobs, normalizer, indexer, API.
    Prints one line per finished crawl."""
    from coverage import crawl_reports as report
    from scheduler.service import SchedulerService
    from tilts.runtime import BackgroundWorkers

    settings = load_settings()
    sources = load_sources()
    pipeline = BackgroundWorkers.build(settings)
    service = SchedulerService(settings, sources)
    report.show_on_terminal()
    try:
        pipeline.start()
        service.start()
        typer.echo(f"mode: {settings.mode}; {len(sources)} sources scheduled; one line per finished crawl")
        serve_app(settings, pipeline.backend, settings.api_host, port or settings.api_port)
    finally:
        service.stop()
        pipeline.close()


@app.command()
def schedule(
    list_jobs: Annotated[bool, typer.Option("--list", help="Show every job with its next run time and exit.")] = False,
) -> None:
    """Run the scheduler: crawls per source, digests, expiry sweeps, coverage snapshots.
    Several may run; one acts (a lease in the database). Prints one line per finished crawl."""
    from coverage import crawl_reports as report
    from pipeline.bus import make_bus
    from scheduler.service import SchedulerService

    settings = load_settings()
    sources = load_sources()
    service = SchedulerService(settings, sources)
    if list_jobs:
        service.scheduler.start(paused=True)
        service.sync_jobs()
        for job_id, name, next_run in service.listing():
            typer.echo(f"{next_run:<34} {job_id:<40} {name}")
        service.scheduler.shutdown(wait=False)
        return
    import signal

    make_bus(settings).ensure_topics()
    report.show_on_terminal()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    service.start()
    typer.echo(f"mode: {settings.mode}; {len(sources)} sources; scheduler {service.lock.holder}; Ctrl-C to stop")
    try:
        while not stopping.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()


@app.command()
def crawl(
    source_id: Annotated[str | None, typer.Argument(help="A source id from the registry.")] = None,
    url: Annotated[str | None, typer.Option(help="Crawl this URL ad hoc instead.")] = None,
) -> None:
    """Crawl one source (in a child process) and publish what it finds to the bus."""
    from crawlers.runner import crawl_source

    settings = load_settings()
    if url:
        from urllib.parse import urlparse

        host = urlparse(url).hostname or ""
        source = Source(id="adhoc", name=url, home_url=url, start_urls=[url], allowed_domains=[host])
    else:
        sources = load_sources()
        if not source_id or source_id not in sources:
            raise fail(f"unknown source {source_id!r}; known: {', '.join(sources) or '(none)'}")
        source = sources[source_id]
    result = crawl_source(settings, source, full=not url)
    if result.returncode != 0:
        raise fail(f"crawl of {source.id} failed (exit {result.returncode}):\n{result.log_tail}")
    typer.echo(f"crawled {source.id}")


@app.command()
def normalize(
    stdin: Annotated[bool, typer.Option(
        "--stdin", help="RawOpportunity JSON lines in, Opportunity JSON lines out.")] = False,
    processes: Annotated[int | None, typer.Option(
        help="Child processes that normalize (0: one per CPU); default TILTS_NORMALIZE_PROCESSES.")] = None,
) -> None:
    """Run the normalizer worker (raw → normalized), or filter JSON lines with --stdin."""
    if stdin:
        _normalize_lines()
        return
    from pipeline.bus import make_bus
    from pipeline.normalizer import make_normalizer

    settings = load_settings()
    bus = make_bus(settings)
    bus.ensure_topics()
    n = settings.normalize_processes if processes is None else processes
    _run_worker(make_normalizer(bus, processes=n if n > 0 else (os.cpu_count() or 1),
                                clustering=settings.clustering))


@app.command()
def cluster() -> None:
    """Run the clustering stage (clustering → normalized), for TILTS_CLUSTERING=stage.

    Run as many as the clustering topic has partitions; each keeps its
    partitions' state in TILTS_CLUSTER_STATE_DIR and restores what it lacks
    from the changelog topic.
    """
    from pipeline.bus import make_bus
    from pipeline.clusterer import make_clusterer

    settings = load_settings()
    if settings.clustering != "stage":
        typer.echo("note: TILTS_CLUSTERING is 'inline', so the normalizers cluster themselves and publish "
                   "nothing for this stage; set TILTS_CLUSTERING=stage for every normalizer and clusterer",
                   err=True)
    bus = make_bus(settings)
    bus.ensure_topics()
    _run_worker(make_clusterer(bus, state_dir=settings.cluster_state_path,
                               name=f"{settings.topic_prefix}clusters"))


def _normalize_lines() -> None:
    """RawOpportunity JSON lines on stdin → Opportunity JSON lines on stdout.

    Duplicates are clustered against the lines read so far. A line that cannot
    be normalized is reported on stderr with its number and reason, and the
    exit code is 1; nothing is skipped silently.
    """
    from pipeline.events import RawOpportunity, parse_event
    from pipeline.normalize import normalize as normalize_raw
    from pipeline.normalize.dedupe import Deduplicator

    dedupe = Deduplicator()
    bad = 0
    for n, line in enumerate(sys.stdin.buffer, 1):
        if not line.strip():
            continue
        try:
            opp = dedupe.place(normalize_raw(parse_event(RawOpportunity, line.strip())))
            sys.stdout.buffer.write(opp.to_bytes() + b"\n")
        except Exception as exc:
            bad += 1
            typer.echo(f"line {n}: {type(exc).__name__}: {exc}", err=True)
    sys.stdout.flush()
    if bad:
        typer.echo(f"tilts: {bad} line(s) failed", err=True)
        raise typer.Exit(code=1)


@app.command()
def index(
    stdin: Annotated[bool, typer.Option("--stdin", help="Index Opportunity JSON lines from stdin (e.g. from "
                                                        "`tilts normalize --stdin`) straight into the backend.")]
    = False,
) -> None:
    """Run the indexer worker (normalized → search backend), or index JSON lines with --stdin."""
    from pipeline.bus import make_bus
    from pipeline.indexer import make_indexer
    from search.backends import make_backend

    settings = load_settings()
    if stdin:
        # Straight into the backend, not through the normalized topic: `tilts reindex`
        # (which rebuilds from that topic) does not keep these; `tilts import` does.
        from tilts.importer import index_lines

        backend = make_backend(settings)
        backend.setup()
        try:
            report = index_lines(sys.stdin.buffer, backend, say=lambda line: typer.echo(line, err=True))
        finally:
            backend.close()
        typer.echo(f"indexed {report.indexed} opportunities, {report.bad} bad line(s), "
                   f"in {report.seconds:.1f}s ({settings.mode.split()[-1]})")
        if report.bad:
            raise typer.Exit(code=1)
        return
    bus = make_bus(settings)
    bus.ensure_topics()
    backend = make_backend(settings)
    backend.setup()
    _run_worker(make_indexer(bus, backend))


@app.command()
def reindex(
    keep: Annotated[int, typer.Option(min=0, help="Previous index versions kept for rollback.")] = 1,
) -> None:
    """Rebuild the search index from the normalized topic and switch to it with no downtime."""
    from pipeline.bus import make_bus
    from search.backends import make_backend
    from search.reindex import reindex as run_reindex

    settings = load_settings()
    bus = make_bus(settings)
    bus.ensure_topics()
    backend = make_backend(settings)
    try:
        report = run_reindex(bus, backend, keep=keep)
    except SearchUnavailable as exc:
        raise fail(f"reindex failed, the old index still serves: {exc}") from exc
    finally:
        backend.close()
        bus.close()
    typer.echo(
        f"reindexed {report.documents} opportunities into {report.index}"
        + (f" (was {report.previous})" if report.previous else "")
        + f"; {report.tombstones} tombstones, {report.invalid} invalid events skipped, "
        f"{report.caught_up} caught up after the switch"
        + (f"; deleted {', '.join(report.deleted)}" if report.deleted else "")
    )


def _run_worker(worker: Worker) -> None:
    stop = threading.Event()
    typer.echo(f"{worker.stage} worker running (group {worker.group}); Ctrl-C to stop")
    try:
        worker.run(stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        worker.close()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes (uvicorn).")] = 1,
) -> None:
    """Serve the search API and web UI."""
    from search.backends import make_backend

    settings = load_settings()
    if workers > 1:
        import uvicorn

        host, port = host or settings.api_host, port or settings.api_port
        typer.echo(f"serving on http://{host}:{port}/ with {workers} workers  (API docs: /docs)")
        uvicorn.run("tilts.serving:app_factory", factory=True, host=host, port=port, workers=workers,
                    log_level="warning")
        return
    backend = make_backend(settings)
    backend.setup()
    serve_app(settings, backend, host or settings.api_host, port or settings.api_port)
