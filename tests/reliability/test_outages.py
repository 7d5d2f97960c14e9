"""Outages of the real services mid-stream (bounded in time and count):

- Elasticsearch stopped for 30 s while the indexer works: it backs off,
  commits nothing it has not written, `/healthz` says degraded meanwhile, and
  after the restart every listing is indexed, once.
- The Kafka broker restarted while events are produced and consumed: the
  producer retries, the workers reconnect, nothing is lost.

These stop and start the services `tilts services up` manages (they run only
against those, never against a server someone else runs).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from devtools import services
from pipeline.bus import BusError, open_bus
from pipeline.events import NORMALIZED_TOPIC, RAW_TOPIC
from search.backends import open_backend
from tests.support.opportunities import make_opportunity
from tests.support.processes import stop_processes, wait_until
from tests.support.services import unavailable

OUTAGE = 30.0


def _managed(es_url: str, kafka_servers: str) -> tuple[services.Elasticsearch, services.Kafka]:
    base = services.services_dir()
    es, kafka = services.Elasticsearch(base), services.Kafka(base)
    if es.address != es_url or kafka.address != kafka_servers or es.pid() is None or kafka.pid() is None:
        unavailable("outage tests stop and start only the services `tilts services up` runs, "
                    f"not {es_url} and {kafka_servers}")
    return es, kafka


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tilts.cli", *args], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _count(backend) -> int:
    try:
        backend.refresh()
        return backend.count()
    except Exception:
        return -1


def _health(url: str) -> int:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@pytest.mark.timeout(300)
def test_elasticsearch_down_for_30s(tmp_path: Path, unique: str, es_url: str, kafka_servers: str) -> None:
    es, _ = _managed(es_url, kafka_servers)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_servers, "ELASTICSEARCH_URL": es_url,
           "TILTS_TOPIC_PREFIX": f"{unique}.", "TILTS_INDEX_ALIAS": unique, "TILTS_DATA_DIR": str(tmp_path)}
    bus = open_bus(f"kafka://{kafka_servers}", prefix=f"{unique}.", partitions=3)
    bus.ensure_topics()
    backend = open_backend(es_url, alias=unique)
    backend.setup()
    total = 3000
    docs = [make_opportunity(i, title=f"Listing {i}") for i in range(total)]
    for d in docs[:1500]:
        bus.publish(NORMALIZED_TOPIC, d.id, d.to_bytes(), d.headers())
    bus.flush()
    port = 18000 + os.getpid() % 1000
    api_url = f"http://127.0.0.1:{port}"
    indexer = _start(["index"], env, tmp_path / "index.log")
    api = _start(["serve", "--port", str(port)], env, tmp_path / "api.log")
    health_during: list[int] = []
    try:
        wait_until(lambda: _count(backend) > 0, 60, "the first documents indexed")
        wait_until(lambda: _health(api_url) == 200, 60, "the API")
        es.stop()
        down_at = time.monotonic()
        for d in docs[1500:]:  # the rest arrives during the outage
            bus.publish(NORMALIZED_TOPIC, d.id, d.to_bytes(), d.headers())
        bus.flush()
        while time.monotonic() - down_at < OUTAGE:
            health_during.append(_health(api_url))
            time.sleep(2.0)
        assert indexer.poll() is None, (tmp_path / "index.log").read_text()[-3000:]  # backing off, not dead
        es.start()
        assert _health(api_url) == 200
        wait_until(lambda: _count(backend) >= total, 150, "the backlog drained after recovery")
        time.sleep(2.0)
        assert _count(backend) == total  # every listing once
        assert backend.get(docs[-1].id) is not None and backend.get(docs[1499].id) is not None
    finally:
        if es.pid() is None:
            es.start()
        stop_processes([indexer, api])
        bus.close()
    assert health_during and set(health_during) == {503}, health_during  # degraded, said so
    backend.close()


@pytest.mark.timeout(300)
def test_kafka_broker_restart(tmp_path: Path, unique: str, es_url: str, kafka_servers: str) -> None:
    from devtools.corpus import repeated_events

    _, kafka = _managed(es_url, kafka_servers)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_servers, "ELASTICSEARCH_URL": es_url,
           "TILTS_TOPIC_PREFIX": f"{unique}.", "TILTS_INDEX_ALIAS": unique, "TILTS_DATA_DIR": str(tmp_path)}
    events = repeated_events(1200)
    bus = open_bus(f"kafka://{kafka_servers}", prefix=f"{unique}.", partitions=3)
    bus.ensure_topics()
    backend = open_backend(es_url, alias=unique)
    backend.setup()
    procs = [_start([stage], env, tmp_path / f"{stage}.log") for stage in ("normalize", "index")]
    produced = threading.Event()
    failures: list[str] = []

    def produce() -> None:
        """A producer that keeps going through the restart: a batch the broker
        did not acknowledge is published again (ids make that idempotent)."""
        for start in range(0, len(events), 50):
            batch = events[start:start + 50]
            for _attempt in range(60):
                try:
                    for e in batch:
                        bus.publish(RAW_TOPIC, e.key, e.to_bytes(), e.headers())
                    bus.flush(timeout=10)
                    break
                except BusError as exc:
                    failures.append(str(exc)[:200])
                    time.sleep(1.0)
            else:
                raise AssertionError("the producer never recovered")
            time.sleep(0.05)
        produced.set()

    producer = threading.Thread(target=produce, daemon=True)
    try:
        producer.start()
        wait_until(lambda: _count(backend) > 0, 120, "the first listings indexed")
        kafka.stop()
        time.sleep(10.0)
        kafka.start()
        producer.join(240)
        assert produced.is_set()
        expected = len({e.key for e in events})
        wait_until(lambda: _count(backend) >= expected, 180, "every listing indexed after the restart")
        time.sleep(2.0)
        assert _count(backend) == expected
        assert all(p.poll() is None for p in procs), "the workers survived the broker restart"
    finally:
        if kafka.pid() is None:
            kafka.start()
        stop_processes(procs)
        bus.close()
    backend.close()


def _raw_keys(kafka_servers: str, prefix: str, source_id: str) -> tuple[list[bytes], list[dict]]:
    """Keys of ``source_id``'s raw events, and its CrawlStats reports, from the start."""
    import json
    import uuid

    from pipeline.bus import read_to_end
    from pipeline.events import CRAWL_STATS_TOPIC

    bus = open_bus(f"kafka://{kafka_servers}", prefix=prefix)
    keys: list[bytes] = []
    reports: list[dict] = []
    try:
        read_to_end(bus, f"check-{uuid.uuid4().hex[:8]}", RAW_TOPIC,
                    lambda m: keys.append(m.key) if m.key.startswith(f"{source_id}:".encode()) else None,
                    quiet_seconds=3)
        read_to_end(bus, f"check-{uuid.uuid4().hex[:8]}", CRAWL_STATS_TOPIC,
                    lambda m: reports.append(json.loads(m.value)) if m.key == source_id.encode() else None,
                    quiet_seconds=3)
    finally:
        bus.close()
    return keys, reports


@pytest.mark.timeout(600)
def test_crawl_through_a_broker_outage(tmp_path: Path, unique: str, es_url: str, kafka_servers: str) -> None:
    """A crawl publishing while the broker restarts loses nothing; one whose broker
    stays down past the retry window fails (exit 75), commits nothing, and the
    next crawl publishes every listing."""
    from crawlers import runner
    from devtools.corpus import build_site
    from devtools.site import StaticSite

    _, kafka = _managed(es_url, kafka_servers)
    pages = 300
    build_site(tmp_path / "site", pages)
    prefix = f"{unique}."
    settings = {"DOWNLOAD_DELAY": "0.05", "AUTOTHROTTLE_ENABLED": "False", "HTTPCACHE_ENABLED": "False",
                "CONCURRENT_REQUESTS_PER_DOMAIN": "1", "TILTS_CRAWL_STATE_DIR": str(tmp_path / "state")}
    probe = open_bus(f"kafka://{kafka_servers}", prefix=prefix)
    probe.ensure_topics()

    def published() -> int:
        try:
            return sum(probe.end_offsets(RAW_TOPIC).values())
        except Exception:
            return -1

    def crawl_in_thread(source_id: str, extra: dict[str, str]) -> tuple[threading.Thread, list]:
        out: list = []
        thread = threading.Thread(target=lambda: out.append(runner.crawl(
            "schemaorg", {"start_urls": site.url + "/", "source_id": source_id, "full_crawl": "true"},
            bus_url=f"kafka://{kafka_servers}", topic_prefix=prefix, settings={**settings, **extra},
            timeout=400)), daemon=True)
        thread.start()
        return thread, out

    try:
        with StaticSite(tmp_path / "site") as site:
            # 1. The broker restarts mid-crawl, within the retry window.
            thread, out = crawl_in_thread("restart-src", {})
            wait_until(lambda: published() >= 60, 120, "the first listings published")
            kafka.stop()
            time.sleep(8.0)
            kafka.start()
            thread.join(400)
            assert out and out[0].returncode == 0, out and out[0].log_tail
            keys, reports = _raw_keys(kafka_servers, prefix, "restart-src")
            assert len(set(keys)) == pages  # every listing, none lost (a re-sent one may repeat)
            assert reports and reports[-1]["new"] == pages

            # 2. The broker goes down and stays down past the retry window.
            before = published()
            thread, out = crawl_in_thread("down-src", {"TILTS_PUBLISH_RETRY_SECONDS": "5"})
            wait_until(lambda: published() >= before + 30, 120, "the second crawl publishing")
            kafka.stop()
            thread.join(400)
            kafka.start()
            assert out and out[0].returncode == runner.EX_TEMPFAIL, out and out[0].log_tail
            assert "bus unavailable" in out[0].log_tail

            # 3. The next crawl: nothing was committed, so every listing is published again.
            result = runner.crawl("schemaorg", {"start_urls": site.url + "/", "source_id": "down-src",
                                                "full_crawl": "true"},
                                  bus_url=f"kafka://{kafka_servers}", topic_prefix=prefix,
                                  settings=settings, timeout=400)
            assert result.returncode == 0, result.log_tail
            keys, reports = _raw_keys(kafka_servers, prefix, "down-src")
            assert len(set(keys)) == pages
            assert reports and reports[-1]["new"] == pages and reports[-1]["unchanged"] == 0
    finally:
        if kafka.pid() is None:
            kafka.start()
        probe.close()
