"""Stateless normalizers and the keyed clustering stage (TILTS_CLUSTERING=stage).

The same duplicates are found as by the one-process normalizer, with any
number of normalizers and clusterers; a restarted clusterer replays nothing,
one without its files restores only from the changelog, and closing works.
"""

from __future__ import annotations

import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.bus import Bus, open_bus
from pipeline.clusterer import PartitionStates, make_clusterer
from pipeline.events import (
    CRAWL_STATS_TOPIC,
    DLQ_TOPIC,
    NORMALIZED_TOPIC,
    CrawlStats,
    Opportunity,
    RawOpportunity,
    opportunity_id,
    parse_event,
)
from pipeline.normalize.dedupe import Deduplicator
from pipeline.normalizer import make_normalizer
from pipeline.worker import Worker
from tests.support.events import drain, publish_raw, raw_event, run_until_idle


def _events(n: int) -> list[RawOpportunity]:
    """Real texts, each listed by a second source: duplicates across sources."""
    from devtools.corpus import repeated_events

    base = repeated_events(n)
    return base + [e.model_copy(update={"source_id": f"{e.source_id}-mirror"}) for e in base]


def _latest(bus: Bus, group: str, n: int) -> dict[str, Opportunity | None]:
    """The last version of each listing on the normalized topic (None: closed)."""
    reader = bus.consumer(group, [NORMALIZED_TOPIC])
    messages = drain(reader, n, timeout=60)
    reader.close()
    return {m.key.decode(): parse_event(Opportunity, m.value) if m.value is not None else None
            for m in messages if m.key}


def _groups(latest: dict[str, Opportunity | None]) -> set[frozenset[str]]:
    clusters: dict[str, set[str]] = {}
    for opp_id, opp in latest.items():
        if opp is not None:
            clusters.setdefault(opp.cluster_id or opp_id, set()).add(opp_id)
    return {frozenset(ids) for ids in clusters.values()}


def _unambiguous(groups: set[frozenset[str]], latest: dict[str, Opportunity | None]) -> set[frozenset[str]]:
    """The groups whose members duplicate nothing outside the group: incremental
    clustering is greedy, so where a listing duplicates several clusters the
    one it joins depends on arrival order; these groups do not."""
    from pipeline.normalize.dedupe import THRESHOLD, jaccard, signature

    words = {i: signature(o) for i, o in latest.items() if o is not None}
    return {g for g in groups
            if not any(jaccard(words[a], words[b]) >= THRESHOLD for a in g for b in words if b not in g)}


def _start(workers: list[Worker], idle: float = 6.0) -> list[threading.Thread]:
    """Workers of one group drain side by side, as separate instances would."""
    threads = [threading.Thread(target=run_until_idle_for, args=(w, idle)) for w in workers]
    for t in threads:
        t.start()
    return threads


def _join(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.join(timeout=300)


def run_until_idle_for(worker: Worker, idle: float) -> None:
    try:
        worker.drain(idle=idle)
    finally:
        worker.close()


def _publish(bus: Bus, events: list[RawOpportunity]) -> None:
    for e in events:
        publish_raw(bus, e)
    bus.flush()


def test_stage_clusters_like_one_process_with_two_of_each_on_kafka(
        kafka_servers: str, unique: str, tmp_path: Path) -> None:
    events = _events(120)
    third = [e.model_copy(update={"source_id": f"{e.source_id}-third",
                                  "fetched_at": datetime(2030, 1, 1, tzinfo=UTC)})
             for e in events[:120]]
    inline = open_bus(f"kafka://{kafka_servers}", prefix=f"{unique}-inline.", partitions=3)
    inline.ensure_topics()
    _publish(inline, events)
    run_until_idle(make_normalizer(inline, group="n", warm=False))
    first = _latest(inline, "out", len(events))
    expected = _unambiguous(_groups(first), first)
    _publish(inline, third)
    run_until_idle(make_normalizer(inline, group="n"))
    after = _latest(inline, "out2", len(events) + len(third))
    expected_after = _unambiguous(_groups(after), after)
    inline.close()
    assert sum(len(g) == 2 for g in expected) > len(events) // 4  # most mirrors found, unambiguously
    assert sum(len(g) == 3 for g in expected_after) > len(third) // 3  # and the third source's copies

    buses = [open_bus(f"kafka://{kafka_servers}", prefix=f"{unique}-stage.", partitions=3) for _ in range(5)]
    buses[0].ensure_topics()
    # the clusterers join their group first, so both own partitions when listings come
    states = [PartitionStates(b, tmp_path / f"c{i}", "clusters") for i, b in enumerate(buses[3:])]
    clusterers = _start([make_clusterer(b, group="c", states=s) for b, s in zip(buses[3:], states, strict=True)],
                        idle=20.0)
    time.sleep(8)
    _publish(buses[0], events)
    _join(_start([make_normalizer(buses[1], group="n", clustering="stage"),
                  make_normalizer(buses[2], group="n", clustering="stage")]))
    _join(clusterers)
    latest = _latest(buses[0], "out", len(events))
    assert len(latest) == len(events) and all(latest.values())
    assert expected <= _groups(latest)
    # each partition was clustered by one of the two, and both had work
    owned = [set(s.restored) for s in states]
    assert owned[0] | owned[1] == {0, 1, 2} and all(owned)

    # A new instance on another machine (no state files) takes every
    # partition: it restores them from the changelog, and a third source's
    # copies join the clusters made before, as in one process.
    _publish(buses[0], third)
    run_until_idle(make_normalizer(buses[1], group="n", clustering="stage"))
    fresh = PartitionStates(buses[3], tmp_path / "new-machine", "clusters")
    run_until_idle(make_clusterer(buses[3], group="c", states=fresh))
    assert sum(fresh.restored.values()) == len(events)
    assert expected_after <= _groups(_latest(buses[0], "out2", len(events) + len(third)))
    for b in buses:
        b.close()


@pytest.fixture
def local(tmp_path: Path, unique: str) -> Bus:
    bus = open_bus(f"sqlite:///{tmp_path / 'bus.sqlite3'}", prefix=f"{unique}.")
    bus.ensure_topics()
    return bus


def test_a_restarted_clusterer_replays_nothing_and_keeps_clusters(local: Bus, tmp_path: Path) -> None:
    listing = {"title": "Nature Ranger", "organisation_name": "Ekološko društvo AAG",
               "city": "Jesenice", "country": "SI", "start_date": "2026-10-07", "end_date": "2026-10-21"}
    first = raw_event(1, source_id="european-youth-portal", fetched_at=datetime(2026, 9, 1, tzinfo=UTC),
                      url="https://youth.europa.eu/solidarity/opportunity/53489_en", **listing)
    _publish(local, [first, raw_event(2), raw_event(3, title="   ")])
    run_until_idle(make_normalizer(local, group="n", clustering="stage"))
    state_dir = tmp_path / "state"
    states = PartitionStates(local, state_dir, "clusters")
    run_until_idle(make_clusterer(local, states=states))
    assert states.restored == {0: 0}  # nothing to restore the first time

    # restarted with its files: goes on where it was, nothing replayed
    mirror = raw_event(7, source_id="aag-slovenia", fetched_at=datetime(2026, 9, 5, tzinfo=UTC),
                       url="https://www.aag.si/en/event/nature-ranger/",
                       **{**listing, "title": "Nature Ranger – volunteering team in Jesenice"})
    _publish(local, [mirror])
    run_until_idle(make_normalizer(local, group="n", clustering="stage"))
    states = PartitionStates(local, state_dir, "clusters")
    run_until_idle(make_clusterer(local, states=states))
    assert states.restored == {}

    # the files lost: restored from the changelog; the founder, crawled again,
    # keeps its cluster, its first-seen time, and learns of its duplicate
    shutil.rmtree(state_dir)
    _publish(local, [raw_event(1, source_id="european-youth-portal", fetched_at=datetime(2026, 9, 9, tzinfo=UTC),
                               url="https://youth.europa.eu/solidarity/opportunity/53489_en", **listing)])
    run_until_idle(make_normalizer(local, group="n", clustering="stage"))
    states = PartitionStates(local, state_dir, "clusters")
    run_until_idle(make_clusterer(local, states=states))
    assert states.restored == {0: 3}
    latest = _latest(local, "out", 4)
    first_id, mirror_id = opportunity_id("european-youth-portal", "1"), opportunity_id("aag-slovenia", "7")
    founder, copy = latest[first_id], latest[mirror_id]
    assert founder is not None and copy is not None
    assert copy.cluster_id == founder.cluster_id == first_id
    assert founder.provenance.first_seen == datetime(2026, 9, 1, tzinfo=UTC)
    assert founder.provenance.also_listed_on == ["https://www.aag.si/en/event/nature-ranger/"]
    # the blank title was dead-lettered by the normalizer, not lost
    letters = drain(local.consumer("dlq", [DLQ_TOPIC]), 1)
    assert [(m.key, m.header("dlq-stage")) for m in letters] == [(b"src:3", b"normalize")]


def test_closing_through_the_stage(local: Bus, tmp_path: Path) -> None:
    _publish(local, [raw_event(1), raw_event(2)])
    started = datetime(2026, 11, 5, tzinfo=UTC)
    report = CrawlStats(source_id="src", crawl_id="c5", started_at=started, finished_at=started,
                        duration_seconds=0, pages=1, items=0, errors=0, complete=True,
                        unchanged=1, missing=["2", "never-seen"])
    local.publish(CRAWL_STATS_TOPIC, "src", report.to_bytes())
    local.flush()
    run_until_idle(make_normalizer(local, group="n", clustering="stage"))
    states = PartitionStates(local, tmp_path / "state", "clusters")
    run_until_idle(make_clusterer(local, states=states))
    reader = local.consumer("close-reader", [NORMALIZED_TOPIC])
    messages = drain(reader, 4)
    reader.close()
    closed = [m.key for m in messages if m.value is None]
    # partition 0's owner closes even what it never held (it may predate the stage)
    assert closed == [opportunity_id("src", "2").encode(), opportunity_id("src", "never-seen").encode()]
    kept = Deduplicator(path=states.path(0), durable=True)  # the state the clusterer left
    assert kept.membership(opportunity_id("src", "2")) is None
    assert kept.membership(opportunity_id("src", "1")) is not None
    kept.close()


def test_a_broken_event_on_the_clustering_topic_is_dead_lettered(local: Bus, tmp_path: Path) -> None:
    from pipeline.events import CLUSTERING_TOPIC

    local.publish(CLUSTERING_TOPIC, "LV", b"{not json")
    local.flush()
    worker = make_clusterer(local, state_dir=tmp_path / "state")
    run_until_idle(worker)
    assert worker.dead_lettered == 1
    letters = drain(local.consumer("dlq", [DLQ_TOPIC]), 1)
    assert [m.header("dlq-stage") for m in letters] == [b"cluster"]
