"""`tilts reindex`: a new index from the normalized topic, switched to with no downtime."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sized
from datetime import timedelta

import pytest

import search.reindex
from pipeline.bus import Bus, BusError, Consumer, Message
from pipeline.events import NORMALIZED_TOPIC, Opportunity
from search.backends import SearchBackend, SearchRequest
from search.reindex import reindex
from tests.support.corpus import corpus


def publish(bus: Bus, docs: list[Opportunity]) -> None:
    for d in docs:
        bus.publish(NORMALIZED_TOPIC, d.id, d.to_bytes(), d.headers())
    bus.flush()


@pytest.mark.parametrize("bus", ["local", "kafka"], indirect=True)
def test_reindex_rebuilds_from_the_topic_without_downtime(bus: Bus, backend: SearchBackend) -> None:
    bus.ensure_topics()
    docs = corpus()
    publish(bus, docs)
    # the topic has an update, a tombstone and one invalid event
    publish(bus, [docs[0].model_copy(update={"title": "Renamed listing"})])
    bus.publish(NORMALIZED_TOPIC, docs[1].id, None)
    bus.publish(NORMALIZED_TOPIC, "broken", b"{not json")
    bus.flush()
    # the live index holds an old, partial state
    backend.upsert_many(docs[:5])
    backend.refresh()

    errors: list[Exception] = []
    seen_totals: list[int] = []
    stop = threading.Event()

    def keep_searching() -> None:
        while not stop.is_set():
            try:
                seen_totals.append(backend.search(SearchRequest(status=["open", "closed"], size=0)).total)
            except Exception as exc:
                errors.append(exc)

    reader = threading.Thread(target=keep_searching)
    reader.start()
    try:
        report = reindex(bus, backend, quiet_seconds=2)
    finally:
        stop.set()
        reader.join()
    backend.refresh()

    assert errors == []
    assert seen_totals and min(seen_totals) >= 4  # never an empty or half-built index
    assert report.documents == len(docs) - 1 and report.tombstones == 1 and report.invalid == 1
    assert backend.count() == len(docs) - 1
    assert backend.get(docs[1].id) is None
    assert backend.get(docs[0].id)["title"] == "Renamed listing"  # type: ignore[index]
    assert [h.id for h in backend.search(SearchRequest(q="renamed")).hits] == [docs[0].id]
    # a listing published before its duplicates is rebuilt knowing them
    for doc in docs[2:]:
        members = [d for d in docs[2:] if d.cluster_id == doc.cluster_id]
        got = backend.get(doc.id)["provenance"]["also_listed_on"]  # type: ignore[index]
        assert set(got) == {d.url for d in members if d.url != doc.url}, doc.id

    if backend.name == "elasticsearch":  # how it names its versions (rollback: test_backend_contract)
        es = backend.es  # type: ignore[attr-defined]
        alias = backend.alias  # type: ignore[attr-defined]
        assert list(es.indices.get_alias(name=alias)) == [f"{alias}-v2"]
        # a second reindex keeps one previous version for rollback, deletes the rest
        second = reindex(bus, backend, quiet_seconds=2)
        assert second.index == f"{alias}-v3" and second.deleted == [f"{alias}-v1"]
        assert sorted(es.indices.get(index=f"{alias}-v*")) == [f"{alias}-v2", f"{alias}-v3"]


def test_catch_up_writes_what_arrived_during_the_rebuild(bus: Bus, backend: SearchBackend) -> None:
    bus.ensure_topics()
    docs = corpus()
    publish(bus, docs[:10])
    rebuild = backend.rebuild

    def rebuild_while_new_events_arrive(stream: Iterable[Opportunity], keep: int = 1, amend=None):
        def read_then_publish() -> Iterator[Opportunity]:
            yield from stream
            publish(bus, docs[10:])  # the topic is read; the indexer would write these to the old index
            bus.publish(NORMALIZED_TOPIC, docs[0].id, None)  # and delete this one there
            bus.flush()

        return rebuild(read_then_publish(), keep=keep, amend=amend)

    backend.rebuild = rebuild_while_new_events_arrive  # type: ignore[method-assign]
    report = reindex(bus, backend, quiet_seconds=2)
    assert report.documents == 10 and report.caught_up == len(docs) - 10 + 1
    backend.refresh()
    assert backend.count() == len(docs) - 1 and backend.get(docs[0].id) is None


class _CountingConsumer:
    def __init__(self, consumer: Consumer, polled: list[int]) -> None:
        self.consumer, self.polled = consumer, polled

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Message]:
        batch = self.consumer.poll(max_records=max_records, timeout=timeout)
        self.polled.append(len(batch))
        return batch

    def commit(self) -> None:
        self.consumer.commit()

    def close(self) -> None:
        self.consumer.close()


@pytest.mark.parametrize("bus", ["local"], indirect=True)
def test_listings_reach_the_new_index_while_the_topic_is_read(
        bus: Bus, backend: SearchBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    """No snapshot: the backend gets the first listing after one small batch of the topic was read."""
    monkeypatch.setattr(search.reindex, "POLL", 4)
    docs = corpus()
    publish(bus, docs)
    polled: list[int] = []
    consumer = bus.consumer
    monkeypatch.setattr(bus, "consumer", lambda group, topics: _CountingConsumer(consumer(group, topics), polled))
    rebuild = backend.rebuild
    read_at_first: list[int] = []

    def rebuild_noting_what_was_read(stream: Iterable[Opportunity], keep: int = 1, amend=None):
        assert not isinstance(stream, Sized)

        def first_noted() -> Iterator[Opportunity]:
            for n, doc in enumerate(stream):
                if n == 0:
                    read_at_first.append(sum(polled))
                yield doc

        return rebuild(first_noted(), keep=keep, amend=amend)

    backend.rebuild = rebuild_noting_what_was_read  # type: ignore[method-assign]
    report = reindex(bus, backend, quiet_seconds=2)
    assert read_at_first == [4] and sum(polled) == len(docs)
    assert report.documents == len(docs) and backend.count() == len(docs)


@pytest.mark.parametrize("bus", ["local", "kafka"], indirect=True)
def test_the_latest_version_of_each_listing_wins_and_links_follow_it(bus: Bus, backend: SearchBackend) -> None:
    """Versions arrive in any order relative to their cluster: what the new index
    shows is each listing's latest event, linked to its cluster's live members."""
    bus.ensure_topics()
    docs = corpus()
    by_id = {d.id: d for d in docs}
    a, b = by_id["dup-a"], by_id["dup-b"]
    later = b.provenance.first_seen + timedelta(days=1)
    c = b.model_copy(update={"id": "dup-c", "url": "https://example.org/dup-c",
                             "provenance": b.provenance.model_copy(update={"first_seen": later})})
    back = next(d for d in docs if d.cluster_id == d.id and d.id not in ("dup-a", "dup-b"))
    publish(bus, [*docs, c])
    moved = b.model_copy(update={"url": "https://example.org/dup-b-moved"})
    publish(bus, [moved])  # dup-b's latest version has another URL
    for key in ("dup-c", back.id, "never-published"):
        bus.publish(NORMALIZED_TOPIC, key, None)  # dup-c is gone; a tombstone for nothing written
    bus.flush()
    publish(bus, [back])  # republished after its tombstone: it is back

    report = reindex(bus, backend, quiet_seconds=2)
    backend.refresh()
    assert report.tombstones == 3 and report.documents == len(docs) == backend.count()
    assert backend.get("dup-c") is None and backend.get(back.id) is not None
    assert backend.get("dup-b")["url"] == moved.url  # type: ignore[index]
    also = {i: backend.get(i)["provenance"]["also_listed_on"] for i in ("dup-a", "dup-b")}  # type: ignore[index]
    assert also == {"dup-a": [moved.url], "dup-b": [a.url]}


@pytest.mark.parametrize("bus", ["local"], indirect=True)
def test_a_reindex_failing_part_way_leaves_the_old_index_serving(
        bus: Bus, backend: SearchBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    """The new index is filled while the topic is read: a failure then (here the
    bus, after the first batch) must not leave readers a half-built index."""
    monkeypatch.setattr(search.reindex, "POLL", 4)
    docs = corpus()
    publish(bus, docs)
    backend.upsert_many(docs[:3])
    backend.refresh()
    note = search.reindex.Ledger.note
    calls: list[int] = []

    def note_then_fail(self: search.reindex.Ledger, rows: list) -> None:
        calls.append(len(rows))
        if len(calls) == 2:
            raise BusError("the broker went away")
        note(self, rows)

    monkeypatch.setattr(search.reindex.Ledger, "note", note_then_fail)
    with pytest.raises(BusError):
        reindex(bus, backend, quiet_seconds=2)
    backend.refresh()
    shown = backend.search(SearchRequest(status=["open", "closed"], size=10, collapse=False)).hits
    assert backend.count() == 3 and sorted(h.id for h in shown) == sorted(d.id for d in docs[:3])
    if backend.name == "elasticsearch":
        es, alias = backend.es, backend.alias  # type: ignore[attr-defined]
        assert sorted(es.indices.get(index=f"{alias}-v*")) == [f"{alias}-v1"]
