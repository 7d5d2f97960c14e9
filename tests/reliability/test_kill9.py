"""Kill -9 the normalizer and the indexer at random moments while events flow;
restarted, they index every listing, once (real processes; embedded and on
real Kafka + Elasticsearch, where the normalizer runs a pool of two child
processes that must die with it). Bounded: TILTS_RELIABILITY_EVENTS events
(default 20,000, the issue's size: 71 s embedded and 95 s distributed on 2
idle cores) and a time limit.

"Once" is checked where a duplicate could really show. The document id is the
opportunity id, so a document count cannot: the index's ids must be exactly
the expected set. Delivery is at least once, so a killed worker's batch is
processed again after its restart, by a normalizer that rebuilt its
clustering from the normalized topic: every version of a listing on that
topic must keep one cluster id and first-seen time, clusters must stay
consistent (founded by their id, one listing per source, no listing "also
listed on" itself) and each indexed document must be the latest version.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from devtools.corpus import repeated_events
from devtools.services.process import child_pids
from pipeline.bus import Bus, Message, open_bus, read_to_end
from pipeline.config import Settings
from pipeline.events import NORMALIZED_TOPIC, RAW_TOPIC, Opportunity, RawOpportunity, opportunity_id
from pipeline.indexer import GROUP as INDEXER_GROUP
from pipeline.normalize import normalize
from pipeline.normalize.dedupe import MAX_ALSO_LISTED
from pipeline.normalizer import GROUP as NORMALIZER_GROUP
from search.backends import SearchBackend, open_backend

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


def caught_up(bus: Bus) -> bool:
    """Both groups committed everything there is: nothing more will be written."""
    for group, topic in ((NORMALIZER_GROUP, RAW_TOPIC), (INDEXER_GROUP, NORMALIZED_TOPIC)):
        done = bus.committed(group, topic)
        if any(done.get(p, 0) < end for p, end in bus.end_offsets(topic).items() if end > 0):
            return False
    return True


def normalized_versions(bus: Bus) -> dict[str | None, list[Opportunity | None]]:
    """Every message on the normalized topic, per key, in the order written."""
    versions: dict[str | None, list[Opportunity | None]] = defaultdict(list)

    def keep(msg: Message) -> None:
        key = msg.key.decode("utf-8", "replace") if msg.key is not None else None
        versions[key].append(Opportunity.model_validate_json(msg.value) if msg.value is not None else None)

    read_to_end(bus, f"kill9-check-{uuid.uuid4().hex[:12]}", NORMALIZED_TOPIC, keep, quiet_seconds=15.0)
    return versions


def indexed_documents(backend: SearchBackend) -> list[tuple[str, dict[str, Any]]]:
    """Every document in the index as (its id in the index, its body): all of
    them, so an extra one under another id, or one id stored twice, shows."""
    if backend.name == "sqlite":
        rows = backend._read.execute("SELECT id, doc FROM docs").fetchall()  # type: ignore[attr-defined]
        return [(doc_id, json.loads(doc)) for doc_id, doc in rows]
    from elasticsearch import helpers

    es, alias = backend.es, backend.alias  # type: ignore[attr-defined]
    hits = helpers.scan(es, index=alias, query={"query": {"match_all": {}}}, size=2000,
                        _source_includes=["id", "url", "cluster_id", "provenance"])
    return [(hit["_id"], hit["_source"]) for hit in hits]


def _some(items: Any, n: int = 3) -> list[Any]:
    return sorted(items, key=str)[:n]


def check_exactly_once(events: list[RawOpportunity], versions: dict[str | None, list[Opportunity | None]],
                       docs: list[tuple[str, dict[str, Any]]]) -> set[str]:
    """Assert every listing was indexed once, as its latest version; returns
    the listings that were processed again (re-delivered)."""
    raws: dict[str, list[RawOpportunity]] = defaultdict(list)  # a few ids are crawled twice, changed
    for e in events:
        raws[opportunity_id(e.source_id, e.external_id)].append(e)
    expected = set(raws)
    # The normalized topic: each expected listing, nothing else, never closed.
    keys = set(versions)
    assert keys == expected, (f"normalized topic keys: {len(keys - expected)} unexpected, e.g. "
                              f"{_some(keys - expected)}; {len(expected - keys)} missing, "
                              f"e.g. {_some(expected - keys)}")
    wrong_key = [k for k, vs in versions.items() if any(v is None or v.id != k for v in vs)]
    assert not wrong_key, f"tombstones or listings under another key: {_some(wrong_key)}"
    latest: dict[str, Opportunity] = {k: vs[-1] for k, vs in versions.items() if k and vs[-1]}
    # A listing published more often than it was crawled was processed again
    # (re-delivered): the same event, so the same listing in the same cluster.
    again = {k: vs for k, vs in versions.items() if k and len(raws[k]) == 1 and len(vs) > 1}
    unstable = {k: sorted({v.cluster_id for v in vs if v}) for k, vs in again.items()
                if len({(v.cluster_id, v.provenance.content_hash) for v in vs if v}) > 1}
    assert not unstable, (f"{len(unstable)} of {len(again)} listings processed again changed cluster or "
                          f"content: {_some(unstable.items())}")
    for k, crawls in raws.items():  # the earliest sighting is kept, whatever was processed again
        assert latest[k].provenance.first_seen == min(e.fetched_at for e in crawls), (k, latest[k].provenance)
        if len(crawls) > 1:  # a changed listing ends as its last crawl says
            assert latest[k].provenance.content_hash == normalize(crawls[-1]).provenance.content_hash, k

    # Clusters as the latest versions describe them.
    members: dict[str, list[Opportunity]] = defaultdict(list)
    for opp in latest.values():
        members[opp.cluster_id].append(opp)
    headless = [c for c in members if c not in latest or latest[c].cluster_id != c]
    assert not headless, f"clusters whose id is not a listing founding them: {_some(headless)}"
    same_source = [c for c, ms in members.items() if len({m.source_id for m in ms}) < len(ms)]
    assert not same_source, f"clusters with two listings of one source: {_some(same_source)}"
    # also_listed_on may lag (a member that changed and left is dropped when the
    # others are next crawled), but names only listings that were in the cluster.
    ever: dict[str, set[str]] = defaultdict(set)
    for vs in versions.values():
        for v in vs:
            if v is not None:
                ever[v.cluster_id].add(v.url)
    for opp in latest.values():
        also = opp.provenance.also_listed_on
        assert opp.url not in also, f"{opp.id} is listed as also listed on itself: {opp.url}"
        others = ever[opp.cluster_id] - {opp.url}
        assert set(also) <= others, (f"{opp.id} also listed on URLs never in its cluster "
                                     f"{opp.cluster_id}: {_some(set(also) - others)}")
        assert len(also) == len(set(also)) <= MAX_ALSO_LISTED, (opp.id, also)

    # The index: exactly the expected ids, each once, each the latest version.
    ids = Counter(doc_id for doc_id, _ in docs)
    twice = [i for i, n in ids.items() if n > 1]
    assert not twice, f"{len(twice)} ids indexed more than once, e.g. {_some(twice)}"
    assert set(ids) == expected, (f"index: {len(set(ids) - expected)} unexpected ids, e.g. "
                                  f"{_some(set(ids) - expected)}; {len(expected - set(ids))} missing, "
                                  f"e.g. {_some(expected - set(ids))}")
    stale = []
    for doc_id, body in docs:  # the last version of each listing wins, re-delivered or not
        opp = latest[doc_id]
        # the indexer adds members found after the listing was published, only ever members
        also = set(body["provenance"].get("also_listed_on") or [])
        if (body.get("id"), body.get("url"), body.get("cluster_id"), body["provenance"].get("content_hash")) != (
                opp.id, opp.url, opp.cluster_id, opp.provenance.content_hash) or not (
                set(opp.provenance.also_listed_on) <= also <= ever[opp.cluster_id] - {opp.url}):
            stale.append(doc_id)
    assert not stale, (f"{len(stale)} documents differ from their listing's latest version "
                       f"({len(again)} listings were processed again), e.g. {_some(stale)}")
    return set(again)


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
    # Each listing at a URL of its own (the corpus repeats records as listings of
    # other sources under the same URL), so also_listed_on tells the listings apart.
    events = [RawOpportunity.model_validate({**e.model_dump(), "url": f"{e.url}#listing-{i}"})
              for i, e in enumerate(repeated_events(EVENTS))]
    expected = {opportunity_id(e.source_id, e.external_id) for e in events}
    crawls = Counter(opportunity_id(e.source_id, e.external_id) for e in events)

    bus = open_bus(settings.bus_url, prefix=settings.topic_prefix, partitions=3)
    bus.ensure_topics()
    backend = open_backend(settings.search_url, alias=unique)
    backend.setup()
    rng = random.Random(4)
    half = len(events) // 2
    again_events = [e for e in events[max(0, half - 500):half]  # later copies: cluster members
                    if crawls[opportunity_id(e.source_id, e.external_id)] == 1]
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
                # Delivery is at least once: a producer publishes again what it is
                # not sure was written, and a killed normalizer re-reads its batch
                # (which kills alone do not hit reliably). So some events of the
                # first half come again, to a normalizer that was killed and
                # rebuilt its clusters, among them members of clusters.
                for e in again_events:
                    bus.publish(RAW_TOPIC, e.key, e.to_bytes(), e.headers())
                for e in events[half:]:
                    bus.publish(RAW_TOPIC, e.key, e.to_bytes(), e.headers())
                bus.flush()
            procs[stage] = _start(stage, env, logs[stage])
        while time.monotonic() - started < DEADLINE:
            if caught_up(bus):  # every raw event normalized, every normalized one indexed
                break
            time.sleep(2.0)
        done = caught_up(bus)
        time.sleep(3.0)  # anything still in flight would show up as an extra document
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
    tail = {s: log.read_text(errors="replace")[-1500:] for s, log in logs.items()}
    try:
        assert kills == 4
        assert min(indexed_at_kill) < len(expected)  # the kills hit work in progress, not idle workers
        assert done, f"not caught up after {DEADLINE:.0f}s: {tail}"
        backend.refresh()
        docs = indexed_documents(backend)
        assert backend.count() == len(docs)
        again = check_exactly_once(events, normalized_versions(bus), docs)  # all indexed, none twice
        resent = {opportunity_id(e.source_id, e.external_id) for e in again_events}
        assert resent <= again, f"{len(resent - again)} events published again were not processed again"
        print(f"kill9 {mode}: {len(expected)} listings, {len(again)} processed again")
    finally:
        bus.close()
        backend.close()
