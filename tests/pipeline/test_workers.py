"""Normalizer and indexer workers on both buses: DLQ, idempotence, no commit on failure."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.bus import Bus
from pipeline.events import DLQ_TOPIC, NORMALIZED_TOPIC, RAW_TOPIC
from pipeline.indexer import make_indexer
from pipeline.normalizer import make_normalizer
from pipeline.worker import Retryable
from search.backends import SearchBackend, SearchRequest, open_backend
from search.backends.elastic import ElasticsearchBackend
from tests.support.events import drain, publish_raw, raw_event, run_until_idle


def test_pipeline_indexes_and_dead_letters(bus: Bus, tmp_path: Path) -> None:
    backend = open_backend(f"sqlite:///{tmp_path / 's.sqlite3'}")
    backend.setup()
    for n in range(5):
        publish_raw(bus, raw_event(n))
    publish_raw(bus, raw_event(5, title="   "))
    bus.publish(RAW_TOPIC, "src:bad-json", b"{not json")
    bus.publish(RAW_TOPIC, "src:bad-utf8", b"\xff\xfe")
    bus.publish(RAW_TOPIC, "src:bad-schema", b'{"schema_version": 1, "source_id": "src"}')
    bus.publish(NORMALIZED_TOPIC, "bad-doc", b'{"id": "x"}')
    bus.flush()

    assert run_until_idle(make_normalizer(bus, group="n1")) == 9
    assert run_until_idle(make_indexer(bus, backend, group="i1")) == 6
    assert backend.count() == 5

    dlq = bus.consumer("dlq-reader", [DLQ_TOPIC])
    letters = drain(dlq, 5)
    dlq.close()
    reasons = {m.key: (m.header("dlq-stage"), m.header("dlq-error-message")) for m in letters}
    assert len(letters) == 5
    assert reasons[b"src:5"][0] == b"normalize" and b"title" in reasons[b"src:5"][1]
    assert b"invalid JSON" in reasons[b"src:bad-json"][1]
    assert b"UTF-8" in reasons[b"src:bad-utf8"][1]
    assert b"external_id" in reasons[b"src:bad-schema"][1]
    assert reasons[b"bad-doc"][0] == b"index"
    # The original bytes are kept for replay.
    assert next(m.value for m in letters if m.key == b"src:bad-json") == b"{not json"


def test_replay_does_not_duplicate_and_tombstone_deletes(bus: Bus, tmp_path: Path) -> None:
    backend = open_backend(f"sqlite:///{tmp_path / 's.sqlite3'}")
    backend.setup()
    for _ in range(3):  # the same crawl three times (re-crawls, redeliveries)
        for n in range(4):
            publish_raw(bus, raw_event(n))
    bus.flush()
    run_until_idle(make_normalizer(bus, group="n2"))
    run_until_idle(make_indexer(bus, backend, group="i2"))
    assert backend.count() == 4
    gone = raw_event(2)
    from pipeline.events import opportunity_id

    bus.publish(NORMALIZED_TOPIC, opportunity_id("src", "2"), None)
    bus.flush()
    run_until_idle(make_indexer(bus, backend, group="i2"))  # resumes after the committed offset
    assert backend.count() == 3
    assert backend.get(opportunity_id(gone.source_id, gone.external_id)) is None


def test_indexer_commits_nothing_while_backend_is_down(bus: Bus) -> None:
    """Elasticsearch unreachable (a closed loopback port): retry, never commit."""
    from pipeline.normalize import normalize

    opp = normalize(raw_event(1))
    bus.publish(NORMALIZED_TOPIC, opp.id, opp.to_bytes())
    bus.flush()
    stop = threading.Event()
    sleeps: list[float] = []

    def fake_clock_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) >= 3:
            stop.set()

    down = ElasticsearchBackend("http://127.0.0.1:9", alias="down")
    down.es = down.es.options(max_retries=0, request_timeout=2)  # fail fast
    indexer = make_indexer(bus, down, group="i-down")
    indexer._sleep = fake_clock_sleep  # time is injected so the test controls backoff
    with pytest.raises(Retryable):
        deadline = 60
        while not stop.is_set() and deadline:
            indexer.run_once(timeout=1.0, stop=stop)
            deadline -= 1
    assert sleeps[:3] == [0.5, 1.0, 2.0]  # exponential backoff
    assert indexer.degraded
    indexer.close()
    # Nothing was committed: the same group still sees the message.
    again = bus.consumer("i-down", [NORMALIZED_TOPIC])
    assert [m.key for m in drain(again, 1)] == [opp.id.encode()]
    again.close()


def test_restarted_normalizer_keeps_clusters_and_first_seen(bus: Bus) -> None:
    """Duplicates across sources share a cluster, also after a restart."""
    from pipeline.events import Opportunity, opportunity_id, parse_event

    listing = {"title": "Nature Ranger", "organisation_name": "Ekološko društvo AAG",
               "city": "Jesenice", "country": "SI", "start_date": "2026-10-07",
               "end_date": "2026-10-21"}
    first = raw_event(1, source_id="european-youth-portal", fetched_at=datetime(2026, 9, 1, tzinfo=UTC),
                      url="https://youth.europa.eu/solidarity/opportunity/53489_en", **listing)
    publish_raw(bus, first)
    bus.flush()
    run_until_idle(make_normalizer(bus, group="n-dup"))

    # A fresh process: the clustering state comes back from the normalized topic.
    listing["title"] = "Nature Ranger – volunteering team in Jesenice"
    mirror = raw_event(7, source_id="aag-slovenia", fetched_at=datetime(2026, 9, 5, tzinfo=UTC),
                       url="https://www.aag.si/en/event/nature-ranger/", **listing)
    recrawl = raw_event(1, source_id="european-youth-portal",
                        fetched_at=datetime(2026, 9, 9, tzinfo=UTC),
                        url="https://youth.europa.eu/solidarity/opportunity/53489_en",
                        **{**listing, "title": "Nature Ranger"})
    publish_raw(bus, mirror)
    bus.flush()
    run_until_idle(make_normalizer(bus, group="n-dup"))
    # The first listing learns of its duplicate when it is next crawled.
    publish_raw(bus, recrawl)
    bus.flush()
    run_until_idle(make_normalizer(bus, group="n-dup"))

    reader = bus.consumer("dup-reader", [NORMALIZED_TOPIC])
    docs = [parse_event(Opportunity, m.value) for m in drain(reader, 3)]
    reader.close()
    first_id = opportunity_id("european-youth-portal", "1")
    latest = {d.id: d for d in docs}  # the last version of each listing
    assert latest[opportunity_id("aag-slovenia", "7")].cluster_id == first_id
    assert latest[opportunity_id("aag-slovenia", "7")].provenance.also_listed_on == [
        "https://youth.europa.eu/solidarity/opportunity/53489_en"]
    assert latest[first_id].cluster_id == first_id
    assert latest[first_id].provenance.first_seen == datetime(2026, 9, 1, tzinfo=UTC)
    assert latest[first_id].provenance.last_seen == datetime(2026, 9, 9, tzinfo=UTC)
    assert latest[first_id].provenance.also_listed_on == ["https://www.aag.si/en/event/nature-ranger/"]


def test_listings_reported_missing_are_closed(bus: Bus) -> None:
    from pipeline.events import CRAWL_STATS_TOPIC, CrawlStats, opportunity_id

    for n in (1, 2):
        publish_raw(bus, raw_event(n, crawl_id="c1"))
    started = datetime(2026, 11, 5, tzinfo=UTC)
    report = CrawlStats(source_id="src", crawl_id="c5", started_at=started, finished_at=started,
                        duration_seconds=0, pages=1, items=0, errors=0, complete=True,
                        unchanged=1, missing=["2"])
    bus.publish(CRAWL_STATS_TOPIC, "src", report.to_bytes())
    bus.publish(CRAWL_STATS_TOPIC, "src", b"{not a report")
    bus.flush()
    worker = make_normalizer(bus, group="n-close")
    run_until_idle(worker)
    assert worker.dead_lettered == 1  # the broken report, with its reason
    reader = bus.consumer("close-reader", [NORMALIZED_TOPIC])
    messages = drain(reader, 3)
    reader.close()
    assert [m.key for m in messages if m.value is None] == [opportunity_id("src", "2").encode()]


def _normalized_stream(bus: Bus, group: str, n: int) -> list[tuple[bytes, str, list[str]]]:
    from pipeline.events import Opportunity, parse_event

    reader = bus.consumer(group, [NORMALIZED_TOPIC])
    docs = [parse_event(Opportunity, m.value) for m in drain(reader, n)]
    reader.close()
    return [(d.id.encode(), d.cluster_id, d.provenance.also_listed_on) for d in docs]


@pytest.mark.parametrize("kind", ["local", "kafka"])
def test_normalizer_pool_gives_the_same_stream_as_one_process(
        kind: str, request: pytest.FixtureRequest, tmp_path: Path, unique: str) -> None:
    """Normalizing in child processes changes neither the order, the clusters nor the dead letters."""
    from devtools.corpus import repeated_events
    from pipeline.bus import open_bus

    # Real texts, each listed by two sources: duplicates across sources.
    base = repeated_events(150)
    events = base + [e.model_copy(update={"source_id": f"{e.source_id}-mirror"}) for e in base]
    outputs = []
    for processes in (1, 2):
        if kind == "kafka":  # one partition: the same order in both runs
            bus = open_bus(f"kafka://{request.getfixturevalue('kafka_servers')}",
                           prefix=f"{unique}-p{processes}.", partitions=1)
        else:
            bus = open_bus(f"sqlite:///{tmp_path / f'bus{processes}.sqlite3'}", prefix=f"{unique}.")
        bus.ensure_topics()
        for e in events:
            publish_raw(bus, e)
        bus.publish(RAW_TOPIC, "src:bad-json", b"{not json")
        publish_raw(bus, raw_event(5, title="   "))
        bus.flush()
        assert run_until_idle(make_normalizer(bus, group="n", processes=processes, warm=False)) == 302
        letters = drain(bus.consumer("dlq", [DLQ_TOPIC]), 2)
        outputs.append((_normalized_stream(bus, "out", 300),
                        sorted((m.key, m.header("dlq-error-class")) for m in letters)))
        bus.close()
    assert outputs[0] == outputs[1]
    stream, letters = outputs[0]
    assert any(cluster != key.decode() for key, cluster, _ in stream)  # some listings clustered
    assert letters == [(b"src:5", b"InvalidEvent"), (b"src:bad-json", b"InvalidEvent")]


def test_a_killed_normalizer_child_means_retry_not_loss() -> None:
    import os
    import signal

    from pipeline.normalizer import NormalizePool
    from pipeline.worker import Retryable

    pool = NormalizePool(2)
    try:
        values = [raw_event(n).to_bytes() for n in range(20)]
        assert all(out is not None for out, _, _ in pool.map(values))
        for pid in list(pool._pool()._processes):
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(Retryable):
            pool.map(values)
        # the worker retries the batch: a new pool does it whole
        results = pool.map(values)
        assert [out is not None for out, _, _ in results] == [True] * 20
    finally:
        pool.close()


@pytest.mark.parametrize("bus", ["local"], indirect=True)  # the indexer's doing, whatever the bus
def test_an_earlier_listing_shows_its_duplicates_once_they_are_indexed(bus: Bus, backend: SearchBackend) -> None:
    """"Also listed on" does not wait for the earlier listing's next crawl: the
    indexer tells every indexed member of a cluster of the others."""
    from pipeline.events import opportunity_id

    listing = {"title": "Nature Ranger", "organisation_name": "Ekološko društvo AAG",
               "city": "Jesenice", "country": "SI", "start_date": "2027-10-07", "end_date": "2027-10-21"}
    urls = {"european-youth-portal": "https://youth.europa.eu/solidarity/opportunity/53489_en",
            "aag-slovenia": "https://www.aag.si/en/event/nature-ranger/",
            "zavod-voluntariat": "https://www.zavod-voluntariat.si/nature-ranger"}
    ids = {source: opportunity_id(source, str(n)) for n, source in enumerate(urls, 1)}

    def crawl(source: str, day: int, title: str) -> None:
        publish_raw(bus, raw_event(list(urls).index(source) + 1, source_id=source, url=urls[source],
                                   fetched_at=datetime(2026, 9, day, tzinfo=UTC), **{**listing, "title": title}))
        bus.flush()
        run_until_idle(make_normalizer(bus, group="n-links"))
        run_until_idle(make_indexer(bus, backend, group="i-links"))
        backend.refresh()

    def also(source: str) -> list[str]:
        doc = backend.get(ids[source])
        assert doc is not None, source
        return sorted(doc["provenance"]["also_listed_on"])

    crawl("european-youth-portal", 1, "Nature Ranger")
    assert also("european-youth-portal") == []
    crawl("aag-slovenia", 5, "Nature Ranger – volunteering team in Jesenice")
    assert also("european-youth-portal") == [urls["aag-slovenia"]]  # before its own next crawl
    assert also("aag-slovenia") == [urls["european-youth-portal"]]
    crawl("zavod-voluntariat", 6, "Nature Ranger in Jesenice")
    assert {ids[s]: also(s) for s in urls} == {ids[s]: sorted(set(urls.values()) - {urls[s]}) for s in urls}
    # the card of the cluster says so too
    hits = backend.search(SearchRequest(q="nature ranger", collapse=True)).hits
    assert [sorted(h.opportunity["provenance"]["also_listed_on"]) for h in hits] == [
        sorted(set(urls.values()) - {h.opportunity["url"] for h in hits})]
