"""The scheduler as real processes (`tilts schedule`) on a real PostgreSQL:
one leader among several, take-over after a kill -9, and digests due mid-week
sent exactly once across a restart (real SMTP server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pipeline.config import Settings
from search.backends import SearchRequest, open_backend
from storage.db import connect, crawl_runs, digest_sends
from subscriptions.digest import Subscriptions
from tests.support.corpus import shifted
from tests.support.fixture_site import FixtureSite
from tests.support.processes import wait_until
from tests.support.smtp import SmtpSink

FIXTURES = Path(__file__).resolve().parents[1] / "crawlers" / "fixtures"

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
    schedule: every 2s
    politeness: {{download_delay: 0.25, concurrency: 1}}
"""


def start(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tilts.cli", "schedule"], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_one_leader_acts_and_another_takes_over(tmp_path: Path, database_url: str) -> None:
    site = FixtureSite({"/feed.rss": (200, {"Content-Type": "application/rss+xml"},
                                      (FIXTURES / "dobro-ru.rss").read_text(encoding="utf-8"))}).__enter__()
    registry = tmp_path / "sources.yaml"
    registry.write_text(REGISTRY.format(url=site.url), encoding="utf-8")
    env = {**os.environ, "TILTS_DATA_DIR": str(tmp_path / "data"), "TILTS_DATABASE_URL": database_url,
           "TILTS_SOURCES_FILE": str(registry), "TILTS_SCHEDULER_LEASE": "3",
           "TILTS_DIGEST_SWEEP_SECONDS": "3600"}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    env.pop("ELASTICSEARCH_URL", None)
    engine = connect(database_url)
    procs = [start(env, tmp_path / "a.log")]
    time.sleep(1.0)
    procs.append(start(env, tmp_path / "b.log"))

    def runs() -> list[tuple[str, bool]]:
        with engine.connect() as conn:
            return [(r[0], r[1]) for r in conn.execute(select(crawl_runs.c.runner, crawl_runs.c.ok)
                                                       .order_by(crawl_runs.c.id))]

    try:
        wait_until(lambda: len(runs()) >= 3, 90, "three crawls")
        first = runs()
        leaders = {r for r, _ in first}
        assert len(leaders) == 1, first  # two schedulers, one acts
        assert all(ok for _, ok in first), (tmp_path / "a.log").read_text()[-3000:]
        leader_pid = int(next(iter(leaders)).split(":")[1])
        leader = next(p for p in procs if p.pid == leader_pid)
        leader.send_signal(signal.SIGKILL)
        leader.wait(10)
        before = len(runs())
        wait_until(lambda: len(runs()) >= before + 2, 90, "crawls by the standby after the leader died")
        after = runs()[before:]
        assert {r for r, _ in after} - leaders, after  # the other process took over
        assert site.requests, "the crawls fetched the fixture feed"
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait(10)
        site.__exit__(None, None, None)
        engine.dispose()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["restart", "kill-9"])
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_due_digests_survive_a_scheduler_restart(tmp_path: Path, database_url: str, stop_signal: int) -> None:
    smtp = SmtpSink(delay=0.15)  # a slow mail server: the stop lands mid-sweep
    data = tmp_path / "data"
    settings = Settings(data_dir=data, database_url=database_url, smtp_port=smtp.port,
                        public_url="http://tilts.test", secret_key="restart-test-" + "z" * 20)
    backend = open_backend(f"sqlite:///{data / 'search.sqlite3'}")
    backend.setup()
    # first seen in the last days and open, whatever today is (the scheduler runs on the real clock)
    newest = max(d.provenance.first_seen for d in shifted(0))
    backend.upsert_many(shifted((datetime.now(UTC) - newest).days - 1, dates=True))
    backend.close()
    engine = connect(database_url)
    subs = Subscriptions(settings, engine)
    ids = []
    for i in range(30):
        sub_id = subs.subscribe(f"person{i}@example.org", SearchRequest(country=["LV"]), lang="en")
        assert subs.confirm(subs.tokens.confirm(sub_id))
        ids.append(sub_id)
    registry = tmp_path / "sources.yaml"
    registry.write_text("sources: []\n", encoding="utf-8")
    env = {**os.environ, "TILTS_DATA_DIR": str(data), "TILTS_DATABASE_URL": database_url,
           "TILTS_SOURCES_FILE": str(registry), "TILTS_SMTP_PORT": str(smtp.port),
           "TILTS_PUBLIC_URL": "http://tilts.test", "TILTS_SECRET_KEY": settings.secret_key,
           "TILTS_DIGEST_SWEEP_SECONDS": "2", "TILTS_SCHEDULER_LEASE": "2"}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    env.pop("ELASTICSEARCH_URL", None)
    def digests():
        return smtp.received("tilts:")
    proc = start(env, tmp_path / "1.log")
    try:
        wait_until(lambda: len(digests()) >= 6, 60, "the first digests")
        proc.send_signal(stop_signal)
        proc.wait(30)
        stopped_at = len(digests())
        assert stopped_at < 30, "the stop came after the sweep: nothing was tested"
        proc = start(env, tmp_path / "2.log")

        def decided() -> int:
            with engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(digest_sends)).scalar() or 0)

        # however slow the machine is to start the second scheduler, then quiet for 8 s
        wait_until(lambda: decided() == 30, 180, "every due digest decided after the restart")
        quiet = time.monotonic()
        seen = 0
        while time.monotonic() - quiet < 8:  # until nothing new arrives for 8 s
            if len(digests()) != seen:
                seen, quiet = len(digests()), time.monotonic()
            time.sleep(0.3)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        smtp.stop()
    per_person = Counter(str(m["To"]) for m in digests())
    assert max(per_person.values()) == 1, per_person  # never twice
    assert decided() == 30  # every due digest was decided once
    if stop_signal == signal.SIGTERM:
        assert len(per_person) == 30  # a graceful restart loses nothing
    else:
        # kill -9 between claiming a period and the server's 250 may lose that one mail, never doubles it
        assert len(per_person) >= 29
    engine.dispose()
