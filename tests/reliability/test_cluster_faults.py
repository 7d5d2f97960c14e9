"""Losing a Kafka broker, then an Elasticsearch data node, then a worker, on the
small cluster of ``tilts services up --cluster`` (3 brokers with replication 3
and ``min.insync.replicas`` 2; 2 Elasticsearch nodes with one replica), while
listings flow: nothing is lost, nothing is duplicated, and nobody restarts
anything by hand for the flow to go on.

The check is independent of tilts' own code: a plain kafka-python consumer
reads the normalized topic, and plain HTTP asks Elasticsearch for every id.
Each failure's pause (from the kill until the index grows again) is printed.

Bounded: ``TILTS_CLUSTER_EVENTS`` events (default 6,000 in CI; the issue's size
is 20,000), a time limit, and every process started here is stopped here.
The cluster is started by the test when it is not running, and stopped again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from devtools.corpus import repeated_events
from devtools.services import cluster
from devtools.services.process import ServiceError
from pipeline.bus import BusError, make_bus
from pipeline.config import Settings
from pipeline.events import NORMALIZED_TOPIC, RAW_TOPIC, RawOpportunity, opportunity_id
from tests.support.processes import stop_processes
from tests.support.services import unavailable

EVENTS = int(os.environ.get("TILTS_CLUSTER_EVENTS", "6000"))
DEADLINE = 600.0


@pytest.fixture(scope="module")
def small_cluster() -> Iterator[dict[str, str]]:
    """The cluster's exports; started (and stopped afterwards) when not running."""
    started = not all(healthy for *_, healthy in cluster.status())
    if started:
        try:
            cluster.up()
        except ServiceError as exc:
            unavailable(f"the small cluster does not start: {exc}")
    yield cluster.env_exports()
    if started:
        cluster.down()


def es_ids(url: str, alias: str) -> list[str]:
    """Every document id under ``alias``, by plain HTTP (scroll), duplicates kept."""
    def call(path: str, body: dict) -> dict:
        req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.load(resp)

    page = call(f"/{alias}/_search?scroll=1m", {"size": 5000, "_source": False, "query": {"match_all": {}}})
    ids: list[str] = []
    while page["hits"]["hits"]:
        ids += [h["_id"] for h in page["hits"]["hits"]]
        page = call("/_search/scroll", {"scroll": "1m", "scroll_id": page["_scroll_id"]})
    return ids


def es_count(url: str, alias: str) -> int:
    try:
        urllib.request.urlopen(urllib.request.Request(f"{url}/{alias}/_refresh", method="POST"), timeout=10)
        with urllib.request.urlopen(f"{url}/{alias}/_count", timeout=10) as resp:
            return int(json.load(resp)["count"])
    except (OSError, ValueError, KeyError):
        return -1


def topic_keys(servers: str, topic: str) -> list[str]:
    """Every key on ``topic`` (no group, no commits): what the indexers had to index."""
    consumer = KafkaConsumer(bootstrap_servers=servers.split(","), enable_auto_commit=False,
                             consumer_timeout_ms=10_000)
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    ends = consumer.end_offsets(parts)
    keys: list[str] = []
    for msg in consumer:
        keys.append(msg.key.decode())
        if all(consumer.position(p) >= ends[p] for p in parts):
            break
    consumer.close()
    return keys


def publish_all(settings: Settings, events: list[RawOpportunity], done: threading.Event) -> None:
    """Publish in batches as the crawlers do: a batch whose flush failed is published again."""
    bus = make_bus(settings)
    try:
        for start in range(0, len(events), 200):
            batch = events[start:start + 200]
            for _attempt in range(60):
                try:
                    for e in batch:
                        bus.publish(RAW_TOPIC, e.key, e.to_bytes(), e.headers())
                    bus.flush()
                    break
                except BusError:
                    time.sleep(1.0)
            else:
                raise AssertionError(f"batch at {start} never published")
            time.sleep(0.05)  # a steady flow, so the failures land mid-stream
    finally:
        bus.close()
        done.set()


def pause_after(kill: float, url: str, alias: str, before: int, limit: float = 180.0) -> float:
    """Seconds from ``kill`` until the index holds more documents than ``before``."""
    while time.monotonic() - kill < limit:
        if es_count(url, alias) > before:
            return round(time.monotonic() - kill, 1)
        time.sleep(0.5)
    raise AssertionError(f"the index did not grow within {limit:.0f}s of the failure")


def kill9(node: object) -> None:
    pid = node.pid()  # type: ignore[attr-defined]
    assert pid is not None, f"{node} is not running"
    os.killpg(pid, signal.SIGKILL)


@pytest.mark.timeout(DEADLINE + 300)
def test_losing_a_broker_a_data_node_and_workers_loses_and_duplicates_nothing(
        small_cluster: dict[str, str], tmp_path: Path) -> None:
    prefix = f"cluster-{uuid.uuid4().hex[:10]}"
    env = {**os.environ, **small_cluster, "TILTS_TOPIC_PREFIX": f"{prefix}.", "TILTS_INDEX_ALIAS": prefix,
           "TILTS_DATA_DIR": str(tmp_path), "TILTS_KAFKA_PARTITIONS": "6", "TILTS_CLUSTERING": "stage"}
    settings = Settings(_env_file=None, data_dir=tmp_path, topic_prefix=f"{prefix}.", index_alias=prefix,
                        KAFKA_BOOTSTRAP_SERVERS=small_cluster["KAFKA_BOOTSTRAP_SERVERS"],
                        ELASTICSEARCH_URL=small_cluster["ELASTICSEARCH_URL"],
                        kafka_replication_factor=3, kafka_min_insync_replicas=2, index_replicas=1)
    es_url = small_cluster["ELASTICSEARCH_URL"].split(",")[0]  # the master node: it stays
    events = [RawOpportunity.model_validate({**e.model_dump(), "url": f"{e.url}#listing-{i}"})
              for i, e in enumerate(repeated_events(EVENTS))]
    expected = {opportunity_id(e.source_id, e.external_id) for e in events}
    bus = make_bus(settings)
    bus.ensure_topics()
    bus.close()

    def start(stage: str, n: int) -> subprocess.Popen[bytes]:
        # each clusterer keeps its state apart, as on two machines: the survivor
        # of a kill restores the partitions it takes over from the changelog
        own = {"TILTS_CLUSTER_STATE_DIR": str(tmp_path / f"{stage}-{n}-state")}
        return subprocess.Popen([sys.executable, "-m", "tilts.cli", stage], env={**env, **own},
                                stdout=(tmp_path / f"{stage}-{n}.log").open("ab"), stderr=subprocess.STDOUT)

    # stateless normalizers and the clustering stage (TILTS_CLUSTERING=stage), two of each
    workers = {"normalize": [start("normalize", 1), start("normalize", 2)],
               "cluster": [start("cluster", 1), start("cluster", 2)],
               "index": [start("index", 1), start("index", 2)]}
    done = threading.Event()
    publisher = threading.Thread(target=publish_all, args=(settings, events, done), daemon=True)
    broker, data_node = cluster.KafkaNode(cluster.services_dir(), 2), cluster.ElasticsearchNode(
        cluster.services_dir(), 2)
    pauses: dict[str, float] = {}
    try:
        publisher.start()
        for what, at in (("kafka broker", 0.15), ("elasticsearch data node", 0.35),
                         ("normalizer", 0.5), ("clusterer", 0.6), ("indexer", 0.7)):
            waiting = time.monotonic() + DEADLINE / 2
            while es_count(es_url, prefix) < at * len(expected):
                assert time.monotonic() < waiting, f"the index never reached {at:.0%} before the {what} failure"
                time.sleep(0.5)
            before, kill = es_count(es_url, prefix), time.monotonic()
            if what == "kafka broker":
                kill9(broker)
            elif what == "elasticsearch data node":
                kill9(data_node)
            else:
                stage = {"normalizer": "normalize", "clusterer": "cluster", "indexer": "index"}[what]
                workers[stage][0].send_signal(signal.SIGKILL)
            pauses[what] = pause_after(kill, es_url, prefix, before)
        publisher.join(DEADLINE)
        assert done.is_set(), "the publisher did not finish"
        deadline = time.monotonic() + DEADLINE
        while es_count(es_url, prefix) < len(expected) and time.monotonic() < deadline:
            time.sleep(1.0)
        time.sleep(5.0)  # anything late would show as an extra or a duplicate
        crashed = {f"{stage}-2": ps[1].returncode for stage, ps in workers.items() if ps[1].poll() is not None}
        assert not crashed, f"workers that were not killed stopped by themselves: {crashed} (see {tmp_path})"
        ids = es_ids(es_url, prefix)
        keys = set(topic_keys(small_cluster["KAFKA_BOOTSTRAP_SERVERS"], f"{prefix}.{NORMALIZED_TOPIC}"))
        print(f"\npause after each failure (s): {pauses}; {len(expected)} listings")
        assert keys == expected, f"normalized topic: {len(expected - keys)} missing, {len(keys - expected)} extra"
        assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} ids indexed twice"
        assert set(ids) == expected, f"index: {len(expected - set(ids))} missing, {len(set(ids) - expected)} extra"
    finally:
        stop_processes([p for ps in workers.values() for p in ps])
        for node in (broker, data_node):  # back for the next test
            if node.pid() is None:
                node.start()
