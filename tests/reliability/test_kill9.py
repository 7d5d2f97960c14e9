"""Kill -9 the normalizer and the indexer at random moments while events flow;
restarted, they index every listing, once (real processes; embedded and on
real Kafka + Elasticsearch, where the normalizer runs a pool of two child
processes that must die with it). Bounded: TILTS_RELIABILITY_EVENTS events
(default 20,000, the issue's size: 71 s embedded and 95 s distributed on 2
idle cores) and a time limit.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import child_pids
from bench.corpus import repeated_events
from pipeline.bus import open_bus
from pipeline.events import RAW_TOPIC, opportunity_id
from search.backends import open_backend
from tilts.settings import Settings

EVENTS = int(os.environ.get("TILTS_RELIABILITY_EVENTS", "20000"))
DEADLINE = 420.0


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pids: list[int], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _running(p)]
        time.sleep(0.2)
    assert not alive, f"child processes outlived their killed parent: {alive}"


def _start(stage: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tilts.cli", stage], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


@pytest.mark.timeout(DEADLINE + 120)
@pytest.mark.parametrize("mode", ["embedded", "distributed"])
def test_kill9_workers_lose_nothing_and_duplicate_nothing(mode: str, tmp_path: Path, unique: str,
                                                          request: pytest.FixtureRequest) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "ELASTICSEARCH_URL")}
    env.update({"TILTS_DATA_DIR": str(tmp_path), "TILTS_TOPIC_PREFIX": f"{unique}.",
                "TILTS_INDEX_ALIAS": unique})
    if mode == "distributed":
        env["KAFKA_BOOTSTRAP_SERVERS"] = request.getfixturevalue("kafka_servers")
        env["ELASTICSEARCH_URL"] = request.getfixturevalue("es_url")
        env["TILTS_NORMALIZE_PROCESSES"] = "2"
    settings = Settings(data_dir=tmp_path, topic_prefix=f"{unique}.", index_alias=unique,
                        KAFKA_BOOTSTRAP_SERVERS=env.get("KAFKA_BOOTSTRAP_SERVERS"),
                        ELASTICSEARCH_URL=env.get("ELASTICSEARCH_URL"))
    events = repeated_events(EVENTS)
    expected = {opportunity_id(e.source_id, e.external_id) for e in events}

    bus = open_bus(settings.bus_url, prefix=settings.topic_prefix, partitions=3)
    bus.ensure_topics()
    backend = open_backend(settings.search_url, alias=unique)
    backend.setup()
    rng = random.Random(4)
    half = len(events) // 2
    for e in events[:half]:
        bus.publish(RAW_TOPIC, e.key, e.to_bytes(), e.headers())
    bus.flush()

    logs = {stage: tmp_path / f"{stage}.log" for stage in ("normalize", "index")}
    procs = {stage: _start(stage, env, log) for stage, log in logs.items()}
    started = time.monotonic()
    kills = 0
    indexed_at_kill: list[int] = []
    try:
        for round_ in range(4):  # two kills of each worker, at random moments
            time.sleep(rng.uniform(4.0, 9.0))
            stage = ("normalize", "index")[round_ % 2]
            backend.refresh()
            indexed_at_kill.append(backend.count())
            children = child_pids(procs[stage].pid)
            procs[stage].send_signal(signal.SIGKILL)
            procs[stage].wait(timeout=30)
            kills += 1
            wait_gone(children)  # a normalizer's pool goes with it
            if round_ == 1:  # the rest of the events arrive while workers die and restart
                for e in events[half:]:
                    bus.publish(RAW_TOPIC, e.key, e.to_bytes(), e.headers())
                bus.flush()
            procs[stage] = _start(stage, env, logs[stage])
        while time.monotonic() - started < DEADLINE:
            backend.refresh()
            if backend.count() >= len(expected):
                break
            time.sleep(2.0)
        time.sleep(3.0)  # anything still in flight would show up as an extra document
        backend.refresh()
        count = backend.count()
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        bus.close()
    tail = {s: log.read_text(errors="replace")[-1500:] for s, log in logs.items()}
    assert kills == 4
    assert min(indexed_at_kill) < len(expected)  # the kills hit work in progress, not idle workers
    assert count == len(expected), tail  # every listing indexed, none twice
    sample = rng.sample(sorted(expected), 25)
    assert all(backend.get(opp_id) is not None for opp_id in sample)
    backend.close()
