"""Poison events in a stream of good ones: each poison lands in the DLQ once, with
its reason; every good event is indexed (both buses, real services)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pipeline.bus import Bus
from pipeline.dlq import list_letters
from pipeline.events import RAW_TOPIC
from pipeline.indexer import make_indexer
from pipeline.normalizer import make_normalizer
from search.backends import SearchBackend
from tests.pipeline.test_workers import publish_raw, raw_event, run_until_idle

GOOD = 300


def test_poison_events_are_dead_lettered_once_and_good_events_flow(bus: Bus,
                                                                    backend: SearchBackend) -> None:
    valid = raw_event(0).model_dump(mode="json")
    poison = {
        "src:bad-json": b'{"title": "unterminated',
        "src:bad-utf8": b'{"title": "\xff\xfe\xfd"}',
        "src:schema": json.dumps({**valid, "fetched_at": "yesterday"}).encode(),
        "src:no-title": json.dumps({**valid, "external_id": "no-title", "title": " "}).encode(),
        "src:huge": json.dumps({**valid, "external_id": "huge", "title": "",
                                "description_html": "<p>x</p>" * (10 * 1024 * 1024 // 8)}).encode(),
        "src:empty": b"",
    }
    assert len(poison["src:huge"]) > 10 * 1024 * 1024
    for n in range(GOOD):
        publish_raw(bus, raw_event(n, title=f"Good listing {n}",
                                   fetched_at=datetime(2026, 11, 20, tzinfo=UTC)))
        if n % 50 == 0:
            key = list(poison)[n // 50]
            bus.publish(RAW_TOPIC, key, poison[key])
    bus.flush()
    run_until_idle(make_normalizer(bus, group="n-poison"))
    run_until_idle(make_indexer(bus, backend, group="i-poison"))
    backend.refresh()
    assert backend.count() == GOOD
    letters = {letter.key: letter for letter in list_letters(bus, limit=1000)}
    assert set(letters) == set(poison)  # each poison once, nothing else
    assert all(letter.stage == "normalize" and letter.error_message for letter in letters.values())
    assert "invalid JSON" in letters["src:bad-json"].error_message
    assert "UTF-8" in letters["src:bad-utf8"].error_message
    assert "fetched_at" in letters["src:schema"].error_message
    assert "title" in letters["src:huge"].error_message
