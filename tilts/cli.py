"""The ``tilts`` command.

Expected failures (a service unreachable, a bad configuration, an unknown
source) end with one clear line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from crawlers.sources import Source, SourceError, load_sources
from devtools import services as svc
from pipeline.bus import Bus, BusError
from pipeline.config import Settings
from pipeline.events import InvalidEvent
from search.backends import SearchRequest, SearchUnavailable

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
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


def _settings() -> Settings:
    return Settings()


def build_app(settings: Settings, backend):
    """The web app with subscriptions and the dashboard wired to ``settings``."""
    from coverage.dashboard import Dashboard
    from pipeline.bus import make_bus
    from search.api import create_app
    from storage.db import connect
    from subscriptions.digest import Subscriptions

    engine = connect(settings.db_url)
    subs = Subscriptions(settings, engine)
    dashboard = Dashboard(settings, engine, load_sources(), bus=make_bus(settings))
    return create_app(backend, cors_origins=settings.cors_origins, public_url=settings.public_url,
                      subscriptions=subs, dashboard=dashboard, allowed_hosts=settings.allowed_hosts)


def app_factory():
    """For ``uvicorn --factory`` and ``tilts serve --workers N``: one app per worker process."""
    from search.backends import make_backend

    settings = _settings()
    backend = make_backend(settings)
    backend.setup()
    return build_app(settings, backend)


def _serve(settings: Settings, backend, host: str, port: int) -> None:
    import uvicorn

    if not settings.public_url:  # links in feeds and e-mails: where this server listens
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        settings = settings.model_copy(update={"public_url": f"http://{shown}:{port}"})
    typer.echo(f"serving on http://{host}:{port}/  (API docs: /docs)")
    uvicorn.run(build_app(settings, backend), host=host, port=port, log_level="warning")


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
    import secrets
    from collections import Counter
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import insert, select

    from coverage import crawl_reports as report
    from coverage import numbers as coverage
    from devtools.replay import Replay
    from scheduler import jobs
    from scheduler.service import SchedulerService
    from search.backends import make_backend
    from storage.db import connect, subscriptions, utcnow
    from tilts.runtime import Pipeline

    settings = _settings()
    if settings.download_delay == Settings.model_fields["download_delay"].default:
        settings.download_delay = 0.05  # our own loopback server: no need to wait
        os.environ["TILTS_DOWNLOAD_DELAY"] = "0.05"  # the crawl children's AutoThrottle starts there too
    if once and limit is None:
        limit = 20
    settings.ensure_data_dir()
    report.show_on_terminal(timestamps=False)
    with Replay(limit=limit) as replay:
        sources = {s.id: s for s in replay.sources(polite=False)}
        # the coverage dashboard's source health lists the replayed sources
        registry = replay.write_registry(Path(settings.data_dir) / "demo-sources.yaml")
        os.environ["TILTS_SOURCES_FILE"] = str(registry)
        credits = "; ".join(dict.fromkeys(s.attribution for s in sources.values() if s.attribution))
        typer.echo(f"mode: {settings.mode}; data: {settings.data_dir}")
        typer.echo(f"replaying real sources on {replay.url}/ (today there: {replay.today}):")
        for s in sources.values():
            typer.echo(f"  {s.id:<17} {s.spider:<9} {s.name}")
        typer.echo(f"listings by: {credits}")
        pipeline = Pipeline.build(settings)
        engine = connect(settings.db_url)
        t0 = time.monotonic()
        service = None
        stop = threading.Event()
        try:
            if once:
                jobs.CONTEXT = jobs.Context(settings=settings, engine=engine, sources=sources,
                                            holder="tilts demo --once")
                with ThreadPoolExecutor(max_workers=len(sources)) as pool:
                    outcomes = dict(zip(sources, pool.map(jobs.crawl, sources)))
                counts = pipeline.drain(idle=1.5)
                summary = {
                    "mode": settings.mode,
                    "normalizer_messages": counts.get("normalize", 0),  # listings + one report per crawl
                    "indexed_messages": counts.get("index", 0),
                    "documents": pipeline.backend.count(),
                    "dead_letters_in_pipeline": sum(w.dead_lettered for w in pipeline.workers),
                }
                typer.echo(json.dumps(summary))
                failed = [sid for sid, o in outcomes.items() if o is None or not o.ok]
                if failed:
                    raise fail(f"demo crawl of {', '.join(failed)} failed (see the crawl lines above)")
                return

            settings.dashboard_password = settings.dashboard_password or secrets.token_urlsafe(9)
            demo_email = "demo@example.org"
            with engine.begin() as conn:  # a saved search of everything, never confirmed: never mailed
                if conn.execute(select(subscriptions.c.id).where(subscriptions.c.email == demo_email)).first() is None:
                    conn.execute(insert(subscriptions).values(
                        id=secrets.token_hex(16), email=demo_email, search={}, lang="en", frequency="weekly",
                        timezone="Europe/Riga", created_at=utcnow()))
            host, port = settings.api_host, port or settings.api_port
            site = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
            env_prefix = f"TILTS_DATA_DIR={settings.data_dir} " if os.environ.get("TILTS_DATA_DIR") else ""
            if not settings.public_url and port != settings.api_port:  # the digest's links
                env_prefix += f"TILTS_PUBLIC_URL={site} "
            pipeline.start()
            logging.getLogger("scheduler.service").setLevel(logging.ERROR)  # "this scheduler is the leader"
            service = SchedulerService(settings, sources)
            service.start()

            def clock() -> str:
                seconds = int(time.monotonic() - t0)
                return f"{seconds // 60}:{seconds % 60:02d}"

            def fill() -> None:
                """Crawl every source now (not spread over the first 30 s), and say how it goes."""
                try:
                    from tilts.replay_harness import owner
                except ImportError:  # pages are then not told apart per source
                    def owner(path: str, _crawled: set[str]) -> str:
                        return "other"
                lease = service.lock.lease.total_seconds()
                deadline = time.monotonic() + lease + 5
                while not service.leading and time.monotonic() < deadline and not stop.wait(0.2):
                    pass
                if not service.leading:
                    typer.echo(f"another scheduler holds the lease in {settings.db_url}: the crawls wait for it")
                since = utcnow()
                waiting = set()
                for sid, source in sources.items():
                    until = jobs.backoff_until(engine, sid, jobs.source_interval(source))
                    if until and until > since:  # failed before in this data folder: it waits
                        typer.echo(f"{sid} is backing off after failed crawls until {until:%Y-%m-%d %H:%M} UTC")
                        continue
                    waiting.add(sid)
                    service.scheduler.modify_job(f"crawl:{sid}", next_run_time=since)
                backend = make_backend(settings)
                reports: dict[str, report.CrawlReport] = {}
                pages: Counter[str] = Counter()
                errors: Counter[str] = Counter()
                read, said, first, tick = 0, "", False, 0
                try:
                    while not stop.wait(1.0):
                        tick += 1
                        result = backend.search(SearchRequest(size=0, collapse=False))
                        if result.total and not first:
                            first = True
                            typer.echo(f"[{clock()}] first listings searchable: {result.total:,} at {site}/")
                        reports = {sid: r for sid, r in report.latest_reports(engine).items()
                                   if sid in waiting and r.finished_at >= since}
                        done = set(reports)
                        if done == waiting:
                            break
                        if tick % 5:
                            continue
                        served = replay.request_log(read)
                        read += len(served)
                        for req in served:
                            who = owner(req.path, set(sources))
                            pages[who] += 1
                            errors[who] += req.status >= 500 or req.status == 429
                        searchable = result.facets.get("source", {})
                        block = "".join(
                            f"\n    {sid}: {pages[sid]:,} pages, {searchable.get(sid, 0):,} listings searchable, "
                            f"{errors[sid]:,} errors" for sid in sorted(waiting - done))
                        if block != said:  # only when something moved
                            said = block
                            typer.echo(f"[{clock()}] {result.total:,} listings searchable; crawling:{block}")
                    last, quiet = None, time.monotonic()
                    while not stop.wait(0.5):  # until the normalizer and the indexer are done too
                        now = tuple(w.processed for w in pipeline.workers)
                        if now != last:
                            last, quiet = now, time.monotonic()
                        elif time.monotonic() - quiet >= 2.0:
                            break
                    if stop.is_set():
                        return
                    backend.refresh()
                    coverage.take_snapshot(settings, engine, backend=backend)
                    result = backend.search(SearchRequest(size=0, collapse=False))
                    facets = result.facets
                    failed = sorted(sid for sid, r in reports.items() if not r.ok)
                    typer.echo(
                        (f"crawls of {', '.join(failed)} failed: see their lines above and the coverage dashboard\n"
                         if failed else "") +
                        f"[{clock()}] ready: {result.total:,} listings searchable ({result.clusters:,} after merging "
                        f"duplicates) from {len(sources)} sources, {len(facets.get('country', {}))} countries, "
                        f"{len(facets.get('language', {}))} languages\n"
                        f"  search:   {site}/\n"
                        f"  coverage: {site}/coverage  (user {settings.dashboard_user}, "
                        f"password {settings.dashboard_password})\n"
                        f"  digest:   {env_prefix}tilts digest --preview {demo_email}  "
                        f"(a saved search of everything; never mailed)\n"
                        f"  listings by: {credits}\n"
                        f"Ctrl-C to stop.")
                except Exception as exc:
                    typer.echo(f"tilts demo: progress stopped: {exc!r}", err=True)
                finally:
                    backend.close()

            threading.Thread(target=fill, name="tilts-demo-progress", daemon=True).start()
            _serve(settings, pipeline.backend, host, port)
        finally:
            stop.set()
            if service is not None:
                service.stop()
            context = jobs.CONTEXT
            if context is not None and context.reports is not None:
                context.reports.close()
            jobs.CONTEXT = None
            pipeline.close()
            engine.dispose()


@app.command()
def run(port: Annotated[int | None, typer.Option(help="Port for the UI/API.")] = None) -> None:
    """Everything in one process: scheduled jobs, normalizer, indexer, API.
    Prints one line per finished crawl."""
    from coverage import crawl_reports as report
    from scheduler.service import SchedulerService
    from tilts.runtime import Pipeline

    settings = _settings()
    sources = load_sources()
    pipeline = Pipeline.build(settings)
    service = SchedulerService(settings, sources)
    report.show_on_terminal()
    try:
        pipeline.start()
        service.start()
        typer.echo(f"mode: {settings.mode}; {len(sources)} sources scheduled; one line per finished crawl")
        _serve(settings, pipeline.backend, settings.api_host, port or settings.api_port)
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

    settings = _settings()
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

    settings = _settings()
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
    stdin: Annotated[bool, typer.Option("--stdin", help="RawOpportunity JSON lines in, Opportunity JSON lines out.")] = False,
    processes: Annotated[int | None, typer.Option(help="Child processes that normalize (0: one per CPU); default TILTS_NORMALIZE_PROCESSES.")] = None,
) -> None:
    """Run the normalizer worker (raw → normalized), or filter JSON lines with --stdin."""
    if stdin:
        _normalize_lines()
        return
    from pipeline.bus import make_bus
    from pipeline.normalizer import make_normalizer

    settings = _settings()
    bus = make_bus(settings)
    bus.ensure_topics()
    n = settings.normalize_processes if processes is None else processes
    _run_worker(make_normalizer(bus, processes=n if n > 0 else (os.cpu_count() or 1)))


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
def evaluate(
    folder: Annotated[Path, typer.Argument(help="Gold set folder (YAML files + thresholds.toml).")] = Path("tests/gold"),
    errors: Annotated[bool, typer.Option("--errors", help="List every disagreement too.")] = False,
) -> None:
    """Score normalization against a labelled gold set; exit 1 below the thresholds."""
    from pipeline.evaluation import evaluate as run_evaluation

    if not folder.is_dir():
        raise fail(f"{folder}: not a folder")
    report = run_evaluation(folder)
    typer.echo(report.table())
    if errors:
        typer.echo("")
        for name, score in report.scores.items():
            if name not in ("dates", "age_range"):
                for line in score.errors:
                    typer.echo(line)
    failures = report.failures()
    if failures:
        typer.echo("\nbelow threshold: " + "; ".join(failures), err=True)
        raise typer.Exit(code=1)
    typer.echo("\nall thresholds met")


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

    settings = _settings()
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


@app.command("import")
def import_file(
    file: Annotated[str, typer.Argument(metavar="FILE", help="RawOpportunity JSON lines, or CSV (with --mapping); "
                                                             "- for stdin; .gz is read as well.")],
    fmt: Annotated[str | None, typer.Option("--format", help="jsonl or csv (default: from the file name; "
                                                                "stdin: jsonl, or csv with --mapping).")] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", metavar="MAP.yaml|json",
                                                    help="Which columns make which fields (docs/import.md).")] = None,
    source_id: Annotated[str | None, typer.Option("--source-id", help="source_id of records without one "
                                                                         "(replaces the mapping's).")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Until searchable: embedded, run the normalizer and "
                                                      "indexer here; Kafka, wait for the running ones.")] = False,
    timeout: Annotated[float, typer.Option(help="With --wait on Kafka: seconds to wait for the workers.")] = 600.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and report; publish nothing.")] = False,
    rejects: Annotated[Path | None, typer.Option("--rejects", metavar="FILE",
                                                    help="Copy bad records here (as they were) to fix and "
                                                         "import again.")] = None,
) -> None:
    """Publish a file of listings to the raw topic, one clear line per bad record
    (FILE:LINE: reason); exit 1 if any record was bad."""
    from pipeline.bus import make_bus
    from tilts import importer as imp

    if wait and dry_run:
        raise fail("--wait and --dry-run exclude each other")
    settings = _settings()
    try:
        rules = imp.Mapping.load(mapping) if mapping else None
        imp.guess_format(file, fmt, rules)  # a wrong --format or name fails before anything is opened
    except imp.ImportFailed as exc:
        raise fail(str(exc)) from exc
    bus = None if dry_run else make_bus(settings)
    rejected = rejects.open("wb") if rejects else None
    try:
        if bus is not None:
            bus.ensure_topics()
        size = None if file == imp.STDIN or not Path(file).is_file() else Path(file).stat().st_size
        with imp.Bars() as bars:
            importer = imp.Importer(bus, source_id=source_id, say=bars.say, rejects=rejected,
                                    retry_seconds=float(os.environ.get("TILTS_PUBLISH_RETRY_SECONDS", "120")))

            def progress(position: int, records: int) -> None:
                bars.update("importing", position, size, f"{records} records")

            try:
                report = importer.run(file, fmt=fmt, mapping=rules, progress=progress)
            except imp.ImportFailed as exc:
                raise fail(str(exc)) from exc
            bars.update("importing", size or 0, size, f"{report.records} records")
        typer.echo(report.summary())
        if rejected is not None:
            rejected.close()
            if report.bad:
                typer.echo(f"{report.bad} bad record(s) copied to {rejects}", err=True)
            else:
                rejects.unlink(missing_ok=True)  # type: ignore[union-attr]
        if wait and bus is not None and report.listings:
            try:
                with imp.Bars() as bars:
                    if settings.kafka_bootstrap_servers:
                        bars.say(f"waiting for the running normalizer and indexer (up to {timeout:.0f}s) ...")
                    waited = imp.wait_until_searchable(settings, bus, report, timeout=timeout, bars=bars)
            except imp.WaitTimeout as exc:
                raise fail(str(exc)) from exc
            total = len(report.listings)
            typer.echo(f"{total - len(waited.missing)} of {total} imported listings searchable "
                       f"after {waited.seconds:.1f}s more ({settings.mode})")
            for line in waited.missing:
                typer.echo(line, err=True)
            report.bad += len(waited.missing)
    finally:
        if rejected is not None and not rejected.closed:
            rejected.close()
        if bus is not None:
            bus.close()
    if report.bad:
        raise typer.Exit(code=1)


@app.command()
def digest(
    preview: Annotated[str | None, typer.Option("--preview", metavar="EMAIL",
                                                   help="Render this subscriber's next digest without sending.")] = None,
    html: Annotated[bool, typer.Option("--html", help="With --preview: print the HTML part.")] = False,
    send_due: Annotated[bool, typer.Option("--send-due", help="Send every due digest now.")] = False,
) -> None:
    """Weekly/daily digests: preview one subscriber's, or send the due ones now."""
    from search.backends import make_backend
    from storage.db import connect, utcnow
    from subscriptions.digest import Subscriptions, send_due_digests

    settings = _settings()
    engine = connect(settings.db_url)
    if send_due:
        outcomes = send_due_digests(settings, engine)
        typer.echo(f"{len(outcomes)} due: " + ", ".join(f"{k[:8]}… {v}" for k, v in outcomes.items()))
        return
    if not preview:
        raise fail("give --preview EMAIL or --send-due")
    subs = Subscriptions(settings, engine)
    found = subs.by_email(preview)
    if not found:
        raise fail(f"no subscription for {preview}")
    backend = make_backend(settings)
    try:
        for sub in found:
            built = subs.build(sub, backend, utcnow())
            message = subs.render(built)
            state = "confirmed" if sub["confirmed_at"] else "not confirmed (nothing is sent)"
            typer.echo(f"# subscription {sub['id']} ({sub['frequency']}, {sub['lang']}, {state}); "
                       f"period {built.period}; {len(built.items)} items")
            typer.echo(f"Subject: {message['Subject']}\n")
            typer.echo(message.get_body(("html" if html else "plain",)).get_content())
    finally:
        backend.close()


@app.command()
def reindex(
    keep: Annotated[int, typer.Option(min=0, help="Previous index versions kept for rollback.")] = 1,
) -> None:
    """Rebuild the search index from the normalized topic and switch to it with no downtime."""
    from pipeline.bus import make_bus
    from search.backends import make_backend
    from search.reindex import reindex as run_reindex

    settings = _settings()
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


def _run_worker(worker) -> None:
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

    settings = _settings()
    if workers > 1:
        import uvicorn

        host, port = host or settings.api_host, port or settings.api_port
        typer.echo(f"serving on http://{host}:{port}/ with {workers} workers  (API docs: /docs)")
        uvicorn.run("tilts.cli:app_factory", factory=True, host=host, port=port, workers=workers,
                    log_level="warning")
        return
    backend = make_backend(settings)
    backend.setup()
    _serve(settings, backend, host or settings.api_host, port or settings.api_port)


@app.command()
def search(
    query: Annotated[str, typer.Argument()],
    country: Annotated[list[str] | None, typer.Option()] = None,
    size: Annotated[int, typer.Option(min=1, max=100)] = 10,
) -> None:
    """Search the index from the terminal."""
    from search.backends import make_backend

    backend = make_backend(_settings())
    backend.setup()
    from search.query import run

    result = run(backend.search, SearchRequest(q=query, country=[c.upper() for c in country or []], size=size))
    typer.echo(f"{result.total} results")
    if result.understood:
        typer.echo("understood: " + json.dumps(result.understood, ensure_ascii=False)
                   + (f"; relaxed: {', '.join(result.relaxed)}" if result.relaxed else ""))
    for hit in result.hits:
        o = hit.opportunity
        loc = o["locations"][0] if o.get("locations") else {}
        where = ", ".join(filter(None, [loc.get("city"), loc.get("country")]))
        typer.echo(f"- {o['title']}  [{where}]  {o['url']}")


@services_app.command("up")
def services_up(names: Annotated[list[str] | None, typer.Argument()] = None) -> None:
    """Provision (once) and start Kafka and Elasticsearch on 127.0.0.1."""
    started = time.monotonic()
    svc.up(names)
    typer.echo(f"services up in {time.monotonic() - started:.1f}s")
    services_env()


@services_app.command("down")
def services_down(names: Annotated[list[str] | None, typer.Argument()] = None) -> None:
    """Stop the services started by `tilts services up`."""
    stopped = svc.down(names)
    typer.echo(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@services_app.command("status")
def services_status() -> None:
    """Each service's address, pid and health."""
    for name, address, pid, healthy in svc.status():
        state = "healthy" if healthy else ("starting/unhealthy" if pid else "stopped")
        typer.echo(f"{name:14} {address:26} pid={pid or '-':<8} {state}")


@services_app.command("env")
def services_env() -> None:
    """Print shell exports pointing tilts at the services."""
    for name, value in svc.env_exports().items():
        typer.echo(f"export {name}={value}")


@sources_app.command("list")
def sources_list() -> None:
    """Print the source registry, with the reason when a source is disabled."""
    for source in load_sources().values():
        state = f"disabled: {source.disabled_reason}" if source.disabled_reason else source.schedule
        typer.echo(f"{source.id:28} {source.spider:10} {source.home_url!s:48} {state}")


@sources_app.command("check")
def sources_check(
    source_id: Annotated[str | None, typer.Argument(help="One source; default all.")] = None,
    network: Annotated[bool, typer.Option("--network", help="Also fetch robots.txt and the first start URL.")] = False,
) -> None:
    """Validate the registry (and, with --network, reach each source's robots.txt and first page)."""
    from crawlers.check import check_source

    sources = load_sources()  # raises with the source and field on a bad entry
    chosen = [sources[source_id]] if source_id else list(sources.values())
    if source_id and source_id not in sources:
        raise fail(f"unknown source {source_id!r}")
    bad = 0
    for source in chosen:
        if source.disabled_reason:  # a state, not an error: it is simply not crawled
            typer.echo(f"{source.id}: disabled ({source.disabled_reason})")
            continue
        problems = check_source(source, network=network)
        bad += bool(problems)
        typer.echo(f"{source.id}: " + ("ok" if not problems else "; ".join(problems)))
    if bad:
        raise typer.Exit(code=1)


@app.command()
def extract(
    file: Annotated[Path, typer.Argument(help="A saved page, feed, calendar or API response.")],
    kind: Annotated[str | None, typer.Option(
        "--kind", help="schemaorg, sitemap, feed, wordpress, tribe, ical, eyp, listing, unv, "
                       "volunteer_connector, doit, idealist (default: the --source entry's spider)")] = None,
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="The URL the file was fetched from (default: the source's first start URL, "
                           "else http://localhost/).")] = None,
    options: Annotated[str | None, typer.Option(help="JSON options (for listing: the selectors object); "
                                                        "laid over the source's.")] = None,
    source_id: Annotated[str | None, typer.Option(
        "--source", help="A registry source: its kind, options or selectors and its defaults (programme, "
                         "language, country, attribution) apply, as in a crawl.")] = None,
) -> None:
    """Run one spider kind's extraction on a saved response; print RawOpportunity JSON lines."""
    from crawlers.extract_source import ExtractError
    from crawlers.extract_source import extract as extract_saved

    try:
        opts = json.loads(options) if options else None
    except ValueError as exc:
        raise fail(f"--options is not JSON: {exc}") from exc
    if opts is not None and not isinstance(opts, dict):
        raise fail("--options must be a JSON object")
    try:
        raws, errors = extract_saved(file.read_bytes(), kind=kind, base_url=base_url, options=opts,
                                     source_id=source_id)
    except ExtractError as exc:
        raise fail(str(exc)) from exc
    for raw in raws:
        typer.echo(raw.model_dump_json(exclude_none=True))
    for message in errors:
        typer.echo(f"error: {message}", err=True)
    if errors:
        raise typer.Exit(code=1)


@contextmanager
def _bus() -> Iterator[Bus]:
    """The configured bus, closed afterwards."""
    from pipeline.bus import make_bus

    bus = make_bus(_settings())
    try:
        yield bus
    finally:
        bus.close()


@dlq_app.command("list")
def dlq_list(
    stage: Annotated[str | None, typer.Option(help="Only this stage: crawl, normalize, index.")] = None,
    limit: Annotated[int, typer.Option(help="The latest N letters.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="DeadLetter JSON lines.")] = False,
) -> None:
    """List dead letters with their stage and reason (nothing is consumed)."""
    from pipeline.dlq import list_letters

    with _bus() as bus:
        letters = list_letters(bus, stage=stage, limit=limit)
    for letter in letters:
        if as_json:
            typer.echo(letter.model_dump_json())
        else:
            typer.echo(f"{letter.failed_at:%Y-%m-%d %H:%M:%S} {letter.stage:9} {letter.key or '-':40.40} "
                       f"{letter.error_class}: {letter.error_message[:120]}")
    if not as_json:
        typer.echo(f"{len(letters)} dead letter(s)")


@dlq_app.command("replay")
def dlq_replay(
    stage: Annotated[str | None, typer.Option(help="Only this stage: crawl, normalize, index.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be re-driven.")] = False,
) -> None:
    """Send dead letters back to their original topics, each once, after a fix."""
    from pipeline.dlq import replay

    with _bus() as bus:
        letters = replay(bus, stage=stage, dry_run=dry_run)
    verb = "would re-drive" if dry_run else "re-drove"
    typer.echo(f"{verb} {len(letters)} dead letter(s)")


def main() -> None:
    import os

    level = os.environ.get("TILTS_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":
        # kafka-python logs every refused connection; our own error line says it once.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        app(standalone_mode=True)
    except EXPECTED as exc:
        typer.echo(f"tilts: {exc}", err=True)
        sys.exit(1)



@app.command()
def relevance(
    backend: Annotated[str, typer.Option(help="sqlite (a temporary embedded index) or elasticsearch "
                                              "(a throw-away alias on ELASTICSEARCH_URL).")] = "sqlite",
    data: Annotated[Path | None, typer.Option(help="Folder with the real corpora "
                                                      "(default ../shared/data next to the repository).")] = None,
    folder: Annotated[Path | None, typer.Option(help="Judged query set (needs.yaml, thresholds.toml; "
                                                        "default tests/relevance).")] = None,
    mode: Annotated[str, typer.Option(help="query: through search.query.run (understanding); plain: "
                                           "backend.search alone; auto: query when available.")] = "auto",
    sample: Annotated[int | None, typer.Option(help="At most this many Hamburg and NYC records each "
                                                       "(chosen by hash; ESC always whole).")] = None,
    es_url: Annotated[str | None, typer.Option(help="Elasticsearch URL (default ELASTICSEARCH_URL).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail below the issue's targets, not only the floor.")]
    = False,
    worst: Annotated[int, typer.Option(help="Also list the N worst queries.")] = 0,
) -> None:
    """Multilingual search quality on the real corpora: P@10 and nDCG@10 per language; exit 1 below
    the floor of tests/relevance/thresholds.toml (--strict: below the issue's targets)."""
    from search import relevance as rel

    if backend not in ("sqlite", "elasticsearch"):
        raise fail(f"--backend must be sqlite or elasticsearch, not {backend!r}")
    if mode not in ("auto", "query", "plain"):
        raise fail(f"--mode must be auto, query or plain, not {mode!r}")
    data = data or rel.DEFAULT_DATA
    folder = folder or rel.DEFAULT_SET
    missing = [name for name in rel.DATA_FILES if not (data / name).is_file()]
    if missing:
        raise fail(f"{data}: missing {', '.join(missing)}")
    es_url = es_url or os.environ.get("ELASTICSEARCH_URL")
    if backend == "elasticsearch" and not es_url:
        raise fail("--backend elasticsearch needs ELASTICSEARCH_URL or --es-url")
    if mode == "query" and not rel.understanding_available():
        raise fail("--mode query needs search.understand, which is not importable")
    report = rel.run_relevance(
        backend_kind=backend, data=data, folder=folder, es_url=es_url,
        per_source=sample, mode=mode, log=lambda m: typer.echo(m, err=True))
    thresholds = rel.load_thresholds(folder)
    typer.echo(report.table(thresholds))
    if worst:
        typer.echo("\nworst queries (P@10 nDCG@10):\n" + report.worst(worst))
    failures = report.check(thresholds["floor"]) + (report.check(thresholds["target"]) if strict else [])
    if failures:
        typer.echo("\nbelow threshold: " + "; ".join(dict.fromkeys(failures)), err=True)
        raise typer.Exit(code=1)


if __name__ == "__main__":
    main()
