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

from pipeline.bus import BusError, open_bus
from pipeline.events import NORMALIZED_TOPIC, RAW_TOPIC
from search.backends import open_backend
from tests.conftest import make_opportunity, stop_processes, wait_until
from tilts import services

OUTAGE = 30.0


def _managed(es_url: str, kafka_servers: str) -> tuple[services.Elasticsearch, services.Kafka]:
    base = services.services_dir()
    es, kafka = services.Elasticsearch(base), services.Kafka(base)
    if es.address != es_url or kafka.address != kafka_servers or es.pid() is None or kafka.pid() is None:
        pytest.skip("outage tests stop and start only the services `tilts services up` runs")
    return es, kafka


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tilts.cli", *args], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _count(backend) -> int:
    try:
        backend.refresh()
        return backend.count()
    except Exception:  # noqa: BLE001 - the service is down: not counted yet
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
    backend.es.indices.delete(index=f"{unique}-v*")  # type: ignore[attr-defined]
    backend.close()


@pytest.mark.timeout(300)
def test_kafka_broker_restart(tmp_path: Path, unique: str, es_url: str, kafka_servers: str) -> None:
    from bench.corpus import repeated_events

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
            for attempt in range(60):
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
    backend.es.indices.delete(index=f"{unique}-v*")  # type: ignore[attr-defined]
    backend.close()
