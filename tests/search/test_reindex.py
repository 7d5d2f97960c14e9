"""`tilts reindex`: a new index from the normalized topic, switched to with no downtime."""

from __future__ import annotations

import threading

import pytest

from pipeline.bus import Bus
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

    def rebuild_while_new_events_arrive(snapshot: list[Opportunity], keep: int = 1):
        publish(bus, docs[10:])  # the indexer would have written these to the old index
        return rebuild(snapshot, keep=keep)

    backend.rebuild = rebuild_while_new_events_arrive  # type: ignore[method-assign]
    report = reindex(bus, backend, quiet_seconds=2)
    assert report.documents == 10 and report.caught_up == len(docs) - 10
    assert backend.count() == len(docs)
