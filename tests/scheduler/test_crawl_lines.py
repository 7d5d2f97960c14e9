"""One line per finished crawl, for real: a scheduler runs a crawl of a fixture
site on 127.0.0.1 and one of a source nobody listens for (a port with nothing
behind it). Each says what happened (pages, new / changed / unchanged, errors
by kind, the reason when it failed, the next run) on the terminal of
``tilts schedule`` and ``tilts run``, and the coverage dashboard's source
health shows the same facts (TestClient, and the real server of ``tilts run``)."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from apscheduler.triggers.interval import IntervalTrigger
from fastapi.testclient import TestClient
from sqlalchemy import select

from coverage import crawl_reports as report
from coverage.dashboard import Dashboard
from crawlers.sources import load_sources
from pipeline.bus import make_bus
from pipeline.config import Settings
from scheduler import jobs
from scheduler.service import SchedulerService
from search.backends import open_backend
from storage.db import connect, crawl_runs
from tests.support.fixture_site import FIXTURES, FixtureSite, crawl_events
from tests.support.processes import wait_until
from tilts.app import create_app

AUTH = ("officer", "crawl-lines-officer")

REGISTRY = """
sources:
  - id: fixture-feed
    name: Fixture feed
    home_url: {url}/
    spider: feed
    start_urls: ["{url}/feed.rss"]
    allowed_domains: [127.0.0.1]
    country: LV
    language: ru
    schedule: every 1h
    politeness: {{download_delay: 0.25, concurrency: 1}}
  - id: dead-end
    name: Nobody listens here
    home_url: http://127.0.0.1:{dead}/
    spider: schemaorg
    start_urls: ["http://127.0.0.1:{dead}/"]
    allowed_domains: [127.0.0.1]
    schedule: every 1h
    politeness: {{download_delay: 0.25, concurrency: 1}}
"""
OK_LINE = re.compile(r"crawl fixture-feed: ok, (\d+) pages, (\d+) new / (\d+) changed / (\d+) unchanged, 0 errors, "
                     r"next (?:\d{4}-\d\d-\d\d )?\d\d:\d\d UTC$")
FAILED_LINE = re.compile(r"crawl dead-end: FAILED \((\w*ConnectionRefused\w*) ×(\d+): 127\.0\.0\.1:(\d+)\), "
                         r"0 listings, next retry (?:\d{4}-\d\d-\d\d )?\d\d:\d\d UTC$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def feed_site() -> FixtureSite:
    return FixtureSite({"/feed.rss": (200, {"Content-Type": "application/rss+xml"},
                                      (FIXTURES / "dobro-ru.rss").read_text(encoding="utf-8"))})


def shown_next(line: str) -> datetime:
    """The next run a crawl line announces."""
    m = re.search(r"next(?: retry)? (\d{4}-\d\d-\d\d )?(\d\d:\d\d) UTC", line)
    assert m, line
    day = (m.group(1) or datetime.now(UTC).date().isoformat()).strip()
    return datetime.fromisoformat(f"{day}T{m.group(2)}:00+00:00")


def test_a_back_off_moves_the_next_run_to_a_scheduled_slot() -> None:
    trigger = IntervalTrigger(hours=1, start_date=datetime(2026, 11, 29, 0, 0, tzinfo=UTC), timezone="UTC")
    first = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    assert report.next_after(trigger, first, None) == (first, False)
    assert report.next_after(trigger, first, first - timedelta(minutes=5)) == (first, False)
    assert report.next_after(trigger, first, datetime(2026, 11, 29, 12, 30, tzinfo=UTC)) == \
        (datetime(2026, 11, 29, 13, 0, tzinfo=UTC), True)


def test_the_line_says_it_like_the_issue() -> None:
    now = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)
    ok = report.CrawlReport("european-youth-portal", ok=True, has_stats=True, pages=14, new=3, changed=1,
                            unchanged=1172, next_run=datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    assert report.crawl_line(ok, now) == ("crawl european-youth-portal: ok, 14 pages, 3 new / 1 changed / "
                                          "1,172 unchanged, 0 errors, next 2026-11-30 09:00 UTC")
    failed = report.CrawlReport("un-volunteers", ok=False, has_stats=True, errors_by_kind={"DNSLookupError": 1},
                                reason="DNSLookupError ×1: app.unv.org",
                                next_run=datetime(2026, 11, 29, 10, 12, tzinfo=UTC), backoff=True)
    assert report.crawl_line(failed, now) == ("crawl un-volunteers: FAILED (DNSLookupError ×1: app.unv.org), "
                                              "0 listings, next retry 10:12 UTC (backoff)")
    some = report.CrawlReport("x", ok=True, has_stats=True, pages=3, new=1,
                              errors_by_kind={"http_503": 2, "too_large": 1})
    assert report.crawl_line(some, now) == ("crawl x: ok, 3 pages, 1 new / 0 changed / 0 unchanged, "
                                            "3 errors (http_503 ×2, too_large ×1)")
    killed = report.judge(SimpleNamespace(id="slow", start_urls=[]), -9, "", None, timeout=600)
    assert report.crawl_line(killed, now) == "crawl slow: FAILED (killed at the time limit (600 s)), 0 listings"


def test_scheduled_crawls_say_one_line_each_and_the_dashboard_shows_it(tmp_path: Path, database_url: str) -> None:
    dead = free_port()  # nothing listens there
    printed = io.StringIO()
    handler = report.show_on_terminal(printed, timestamps=False)
    site = feed_site().__enter__()
    registry = tmp_path / "sources.yaml"
    registry.write_text(REGISTRY.format(url=site.url, dead=dead), encoding="utf-8")
    sources = load_sources(registry)
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, elasticsearch_url=None,
                        kafka_bootstrap_servers=None, dashboard_password=AUTH[1])
    service = SchedulerService(settings, sources)
    try:
        service.start()
        wait_until(lambda: service.leading, 10, "leadership")
        for source_id in sources:  # due now (not in the first 30 s)
            service.scheduler.modify_job(f"crawl:{source_id}", next_run_time=datetime.now(UTC))
        wait_until(lambda: printed.getvalue().count("\n") >= 2, 120, "a line per crawl")
        lines = printed.getvalue().splitlines()
        ok = next(OK_LINE.match(line) for line in lines if line.startswith("crawl fixture-feed"))
        failed = next(FAILED_LINE.match(line) for line in lines if line.startswith("crawl dead-end"))
        assert ok and failed, lines
        # the numbers are the crawl's own report on crawl.stats.v1
        stats = [s for s in crawl_events(settings.bus_url)["stats"] if s.source_id == "fixture-feed"]
        assert len(stats) == 1 and stats[0].new == 2
        assert ok.groups() == (str(stats[0].pages), "2", "0", "0")
        assert int(failed.group(3)) == dead and int(failed.group(2)) >= 1
        with service.engine.connect() as conn:
            runs = dict(conn.execute(select(crawl_runs.c.source_id, crawl_runs.c.ok)).all())
        assert runs == {"fixture-feed": True, "dead-end": False}  # reaching nothing is a failure

        # a second failure in a row backs off: the line says so, and the run after it is skipped
        service.scheduler.modify_job("crawl:dead-end", next_run_time=datetime.now(UTC))
        wait_until(lambda: printed.getvalue().count("\n") >= 3, 120, "the second failure")
        second = printed.getvalue().splitlines()[2]
        assert second.startswith("crawl dead-end: FAILED ("), second
        until = jobs.backoff_until(service.engine, "dead-end", timedelta(hours=1))
        assert until is not None  # the next run is not before the back-off ends
        assert shown_next(second) >= until.replace(second=0, microsecond=0), (second, until)
        service.scheduler.modify_job("crawl:dead-end", next_run_time=datetime.now(UTC))
        wait_until(lambda: printed.getvalue().count("\n") >= 4, 60, "the skipped run")
        assert re.match(r"crawl dead-end: skipped, backing off after 2 failed crawls until ",
                        printed.getvalue().splitlines()[3])
        terminal = {line.split(":")[0]: line for line in printed.getvalue().splitlines()[:3]}
    finally:
        service.stop()
        site.__exit__(None, None, None)
        report.log.removeHandler(handler)
        report.log.propagate = True

    # the dashboard's source health: the same facts, and the same line
    engine = connect(database_url)
    backend = open_backend(settings.search_url)
    backend.setup()
    bus = make_bus(settings)
    try:
        client = TestClient(create_app(backend, dashboard=Dashboard(settings, engine, sources, bus=bus)))
        health = {s["source"]: s for s in client.get("/coverage/sources.json", auth=AUTH).json()}
        feed, gone = health["fixture-feed"], health["dead-end"]
        assert feed["line"] == terminal["crawl fixture-feed"]
        assert gone["line"] == terminal["crawl dead-end"]
        assert (feed["outcome"], feed["pages"], feed["new"], feed["changed"], feed["unchanged"]) == \
            ("ok", stats[0].pages, 2, 0, 0)
        assert feed["errors_by_kind"] == {} and feed["reason"] is None and feed["next_run"]
        assert gone["outcome"] == "failed" and gone["next_run"]
        assert gone["backoff"] is second.endswith(" (backoff)")
        kind = failed.group(1)
        assert gone["reason"] == f"{kind} ×{failed.group(2)}: 127.0.0.1:{dead}"
        assert gone["errors_by_kind"] == {kind: int(failed.group(2))}
        assert gone["silent"] is True and feed["silent"] is False
        page = client.get("/coverage", auth=AUTH).text
        row = page[page.index('<tr data-source="dead-end"'):]
        row = row[:row.index("</tr>")]
        assert f"{kind} ×{failed.group(2)}: 127.0.0.1:{dead}" in row and "failed" in row
        assert ("backoff" in row) is gone["backoff"]
        assert terminal["crawl fixture-feed"] in page and "<code>crawl dead-end: FAILED (" in page
        csv_text = client.get("/coverage/sources.csv", auth=AUTH).text
        assert f"{kind} ×{failed.group(2)}" in csv_text
    finally:
        bus.close()
        backend.close()
        engine.dispose()


@pytest.mark.parametrize("command", ["schedule", "run"])
def test_tilts_schedule_and_run_print_a_line_per_crawl(tmp_path: Path, command: str) -> None:
    dead = free_port()
    with feed_site() as site:
        registry = tmp_path / "sources.yaml"
        registry.write_text(REGISTRY.format(url=site.url, dead=dead), encoding="utf-8")
        env = {**os.environ, "TILTS_DATA_DIR": str(tmp_path / "data"), "TILTS_SOURCES_FILE": str(registry),
               "TILTS_DASHBOARD_PASSWORD": AUTH[1], "TILTS_DIGEST_SWEEP_SECONDS": "3600"}
        for name in ("KAFKA_BOOTSTRAP_SERVERS", "ELASTICSEARCH_URL", "TILTS_DATABASE_URL", "TILTS_LOG_LEVEL"):
            env.pop(name, None)
        port = free_port()
        out = tmp_path / "out.log"
        args = [command] + (["--port", str(port)] if command == "run" else [])
        proc = subprocess.Popen([sys.executable, "-m", "tilts.cli", *args], env=env, stdout=out.open("wb"),
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            def lines() -> list[str]:
                return [ln for ln in out.read_text(encoding="utf-8", errors="replace").splitlines()
                        if " crawl " in ln]

            # first runs are spread over the first 30 s after start
            wait_until(lambda: len(lines()) >= 2, 120, f"two crawl lines from tilts {command}")
            by_source = {re.search(r" crawl ([\w-]+):", ln).group(1): ln for ln in lines()}
            stamp = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC "
            assert re.match(stamp, by_source["dead-end"]), by_source
            ok_line = re.sub(stamp, "", by_source["fixture-feed"])
            failed_line = re.sub(stamp, "", by_source["dead-end"])
            assert OK_LINE.match(ok_line), ok_line
            assert FAILED_LINE.match(failed_line), failed_line
            if command == "run":  # the real server shows the same
                health = {s["source"]: s for s in
                          httpx.get(f"http://127.0.0.1:{port}/coverage/sources.json", auth=AUTH, timeout=30).json()}
                assert health["dead-end"]["line"] == failed_line
                assert health["fixture-feed"]["line"] == ok_line
                assert health["dead-end"]["reason"].endswith(f": 127.0.0.1:{dead}")
        finally:
            proc.send_signal(signal.SIGTERM if command == "schedule" else signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
