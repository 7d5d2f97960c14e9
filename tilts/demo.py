"""``tilts demo``: real sources replayed on 127.0.0.1, crawled, indexed and served
(the command itself is in :mod:`tilts.commands.demo`)."""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from pathlib import Path

import typer
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from coverage import crawl_reports as report
from coverage import numbers as coverage
from crawlers.sources import Source
from devtools.replay import Replay
from pipeline.config import Settings
from scheduler import jobs
from scheduler.service import SchedulerService
from search.backends import SearchBackend, SearchRequest, SearchResult, make_backend
from storage.db import connect, subscriptions, utcnow
from tilts.replay_harness import owner
from tilts.runtime import BackgroundWorkers
from tilts.serving import serve_app
from tilts.shell import fail, load_settings

DEMO_EMAIL = "demo@example.org"


def run(once: bool, port: int | None, limit: int | None) -> None:
    """What ``tilts demo`` does (see its help)."""
    settings = load_settings()
    if settings.download_delay == Settings.model_fields["download_delay"].default:
        settings.download_delay = 0.05  # our own loopback server: no need to wait
    if once and limit is None:
        limit = 20
    settings.ensure_data_dir()
    report.show_on_terminal(timestamps=False)
    with _replay(limit, Path(settings.data_dir)) as replay:
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
        pipeline = BackgroundWorkers.build(settings)
        engine = connect(settings.db_url)
        try:
            if once:
                _crawl_once(settings, engine, sources, pipeline)
            else:
                with _mail_folder(settings) as mail:
                    demo = Demo(settings, engine, sources, pipeline, replay, credits)
                    demo.mail = mail
                    _serve_while_filling(demo, port)
        finally:
            pipeline.close()
            engine.dispose()


PORT_FILE = "demo-replay-port"


def _replay(limit: int | None, data_dir: Path) -> Replay:
    """The replay, on the port it had the last time in this data dir: the
    listings already indexed link to their pages there (a free port when that
    one is taken, or the first time)."""
    remembered = data_dir / PORT_FILE
    try:
        replay = Replay(limit=limit, port=int(remembered.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        replay = Replay(limit=limit)
    remembered.write_text(replay.url.rsplit(":", 1)[1], encoding="utf-8")
    return replay


@contextmanager
def _mail_folder(settings: Settings) -> Iterator[Path | None]:
    """Unless a mail server is configured (TILTS_SMTP_*), confirmations and
    digests go to a folder in the data dir, so subscribing works in the demo."""
    if settings.model_fields_set & {"smtp_host", "smtp_port"}:
        yield None
        return
    from devtools.mailbox import MailFolder

    with MailFolder(Path(settings.data_dir) / "mail") as folder:
        settings.smtp_host, settings.smtp_port = "127.0.0.1", folder.port
        yield folder.folder


def _crawl_once(settings: Settings, engine: Engine, sources: dict[str, Source], pipeline: BackgroundWorkers) -> None:
    """Each source crawled once, everything indexed, a JSON summary; exit 1 when a crawl failed."""
    context = jobs.Context(settings=settings, engine=engine, sources=sources, holder="tilts demo --once")
    try:
        with ThreadPoolExecutor(max_workers=len(sources)) as pool:
            outcomes = dict(zip(sources, pool.map(partial(jobs.crawl, ctx=context), sources), strict=True))
    finally:
        if context.reports is not None:
            context.reports.close()
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


def _serve_while_filling(demo: Demo, port: int | None) -> None:
    settings = demo.settings
    settings.dashboard_password = settings.dashboard_password or secrets.token_urlsafe(9)
    demo.save_demo_search()
    host, port = settings.api_host, port or settings.api_port
    demo.site = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    demo.env_prefix = f"TILTS_DATA_DIR={settings.data_dir} " if os.environ.get("TILTS_DATA_DIR") else ""
    if not settings.public_url and port != settings.api_port:  # the digest's links
        demo.env_prefix += f"TILTS_PUBLIC_URL={demo.site} "
    demo.pipeline.start()
    logging.getLogger("scheduler.service").setLevel(logging.ERROR)  # "this scheduler is the leader"
    demo.service = SchedulerService(settings, demo.sources)
    try:
        demo.service.start()
        threading.Thread(target=demo.fill, name="tilts-demo-progress", daemon=True).start()
        serve_app(settings, demo.pipeline.backend, host, port)
    finally:
        demo.stop.set()
        demo.service.stop()


class Demo:
    """The running demo: crawls every replayed source now and says how it goes."""

    def __init__(self, settings: Settings, engine: Engine, sources: dict[str, Source], pipeline: BackgroundWorkers,
                 replay: Replay, credits: str) -> None:
        self.settings, self.engine, self.sources, self.pipeline = settings, engine, sources, pipeline
        self.replay, self.credits = replay, credits
        self.service: SchedulerService | None = None
        self.stop = threading.Event()
        self.t0 = time.monotonic()
        self.site = self.env_prefix = ""
        self.pages: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.read = 0
        self.mail: Path | None = None  # where the demo keeps mail, when no server is configured

    def clock(self) -> str:
        seconds = int(time.monotonic() - self.t0)
        return f"{seconds // 60}:{seconds % 60:02d}"

    def save_demo_search(self) -> None:
        """A saved search of everything, never confirmed: never mailed, but previewable."""
        with self.engine.begin() as conn:
            if conn.execute(select(subscriptions.c.id).where(subscriptions.c.email == DEMO_EMAIL)).first() is None:
                conn.execute(insert(subscriptions).values(
                    id=secrets.token_hex(16), email=DEMO_EMAIL, search={}, lang="en", frequency="weekly",
                    timezone="Europe/Riga", created_at=utcnow()))

    def fill(self) -> None:
        """Crawl every source now (not spread over the first 30 s), and say how it goes."""
        backend = make_backend(self.settings)
        try:
            since = utcnow()
            waiting = self.start_crawls(since)
            reports = self.watch(backend, waiting, since)
            if reports is None or not self.settle():
                return
            backend.refresh()
            coverage.take_snapshot(self.settings, self.engine, backend=backend)
            self.say_ready(backend.search(SearchRequest(size=0, collapse=False)), reports)
        except Exception as exc:
            typer.echo(f"tilts demo: progress stopped: {exc!r}", err=True)
        finally:
            backend.close()

    def start_crawls(self, since: datetime) -> set[str]:
        """Once this scheduler leads, every source not backing off crawls now; the ids that do."""
        service = self.service
        assert service is not None
        deadline = time.monotonic() + service.lock.lease.total_seconds() + 5
        while not service.leading and time.monotonic() < deadline and not self.stop.wait(0.2):
            pass
        if not service.leading:
            typer.echo(f"another scheduler holds the lease in {self.settings.db_url}: the crawls wait for it")
        waiting = set()
        for sid, source in self.sources.items():
            until = jobs.backoff_until(self.engine, sid, jobs.source_interval(source))
            if until and until > since:  # failed before in this data folder: it waits
                typer.echo(f"{sid} is backing off after failed crawls until {until:%Y-%m-%d %H:%M} UTC")
                continue
            waiting.add(sid)
            service.scheduler.modify_job(f"crawl:{sid}", next_run_time=since)
        return waiting

    def watch(self, backend: SearchBackend, waiting: set[str], since: datetime) -> dict[str, report.CrawlReport] | None:
        """Progress every 5 s until every waiting crawl has reported; None when stopped first."""
        first, said, tick = False, "", 0
        while not self.stop.wait(1.0):
            tick += 1
            result = backend.search(SearchRequest(size=0, collapse=False))
            if result.total and not first:
                first = True
                typer.echo(f"[{self.clock()}] first listings searchable: {result.total:,} at {self.site}/")
            reports = {sid: r for sid, r in report.latest_reports(self.engine).items()
                       if sid in waiting and r.finished_at >= since}
            if set(reports) == waiting:
                return reports
            if tick % 5:
                continue
            block = self.progress_block(result, waiting - set(reports))
            if block != said:  # only when something moved
                said = block
                typer.echo(f"[{self.clock()}] {result.total:,} listings searchable; crawling:{block}")
        return None

    def progress_block(self, result: SearchResult, crawling: set[str]) -> str:
        served = self.replay.request_log(self.read)
        self.read += len(served)
        for req in served:
            who = owner(req.path, set(self.sources))
            self.pages[who] += 1
            self.errors[who] += req.status >= 500 or req.status == 429
        searchable = result.facets.get("source", {})
        return "".join(f"\n    {sid}: {self.pages[sid]:,} pages, {searchable.get(sid, 0):,} listings searchable, "
                       f"{self.errors[sid]:,} errors" for sid in sorted(crawling))

    def settle(self) -> bool:
        """Wait until the normalizer and the indexer are done too; False when stopped."""
        last, quiet = None, time.monotonic()
        while not self.stop.wait(0.5):
            now = tuple(w.processed for w in self.pipeline.workers)
            if now != last:
                last, quiet = now, time.monotonic()
            elif time.monotonic() - quiet >= 2.0:
                return True
        return False

    def say_ready(self, result: SearchResult, reports: dict[str, report.CrawlReport]) -> None:
        facets, settings = result.facets, self.settings
        failed = sorted(sid for sid, r in reports.items() if not r.ok)
        typer.echo(
            (f"crawls of {', '.join(failed)} failed: see their lines above and the coverage dashboard\n"
             if failed else "") +
            f"[{self.clock()}] ready: {result.total:,} listings searchable ({result.clusters:,} after merging "
            f"duplicates) from {len(self.sources)} sources, {len(facets.get('country', {}))} countries, "
            f"{len(facets.get('language', {}))} languages\n"
            f"  search:   {self.site}/\n"
            f"  coverage: {self.site}/coverage  (user {settings.dashboard_user}, "
            f"password {settings.dashboard_password})\n"
            f"  digest:   {self.env_prefix}tilts digest --preview {DEMO_EMAIL}  "
            f"(a saved search of everything; never mailed)\n" +
            (f"  mail:     subscribe on the page; confirmations and digests are kept in {self.mail}\n"
             if self.mail else "") +
            f"  listings by: {self.credits}\n"
            f"Ctrl-C to stop.")
