"""Poison events in a stream of good ones: each poison lands in the DLQ once, with
the reason it was sent for; every good event is indexed; a valid listing with a
10 MB description is indexed, shortened with a visible marker, not lost and not
dead-lettered (both buses, real services).

Each poison is rejected for exactly the reason its case names (a case that
failed for another reason would exercise nothing): the assertions name the
reason, not just a field that happens to appear in any rejection.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from pipeline.bus import Bus
from pipeline.bus.kafka import MAX_MESSAGE_BYTES
from pipeline.dlq import list_letters
from pipeline.events import RAW_TOPIC, opportunity_id
from pipeline.indexer import make_indexer
from pipeline.normalize.text import MAX_HTML_CHARS, MAX_TEXT_CHARS
from pipeline.normalizer import make_normalizer
from search.backends import SearchBackend
from tests.support.events import publish_raw, raw_event, run_until_idle

GOOD = 300
HUGE_BYTES = 10 * 1024 * 1024
MARKER = "[…] (shortened; see the source)"
_PARAGRAPH = "<p>Sort donated clothes and food parcels at the Riga community centre on weekdays.</p>"


@pytest.mark.timeout(300)  # a stream stuck on one record must fail, not hang
def test_poison_events_are_dead_lettered_once_and_good_events_flow(bus: Bus,
                                                                    backend: SearchBackend) -> None:
    valid = raw_event(0).model_dump(mode="json")
    # A valid listing (title, URL, everything) whose only excess is a ~10 MB
    # description: below the bus's message limit on both buses, so the
    # normalizer's bounds (MAX_HTML_CHARS / MAX_TEXT_CHARS) are what it meets.
    huge = json.dumps({**valid, "external_id": "huge", "title": "Warehouse volunteer, long description",
                       "description_html": _PARAGRAPH * (HUGE_BYTES // len(_PARAGRAPH) + 1)}).encode()
    assert HUGE_BYTES < len(huge) < MAX_MESSAGE_BYTES
    poison = {
        "src:bad-json": b'{"title": "unterminated',
        "src:bad-utf8": b'{"title": "\xff\xfe\xfd"}',
        # valid but for fetched_at, under an id of its own: accepted by mistake, it would be counted
        "src:schema": json.dumps({**valid, "external_id": "schema", "fetched_at": "yesterday"}).encode(),
        "src:no-title": json.dumps({**valid, "external_id": "no-title", "title": " "}).encode(),
        "src:empty": b"",
    }
    reasons = {  # the exact reason each case exercises
        "src:bad-json": "RawOpportunity: invalid JSON: Unterminated string",
        "src:bad-utf8": "RawOpportunity: payload is not UTF-8",
        "src:schema": "RawOpportunity: field 'fetched_at': Input should be a valid datetime",
        "src:no-title": "RawOpportunity: field 'title': missing or empty after cleaning",
        "src:empty": "RawOpportunity: invalid JSON: Expecting value at 0",
    }
    mixed_in = [*poison, "src:huge"]
    for n in range(GOOD):
        publish_raw(bus, raw_event(n, title=f"Good listing {n}",
                                   fetched_at=datetime(2026, 11, 20, tzinfo=UTC)))
        if n % 50 == 0:
            key = mixed_in[n // 50]
            bus.publish(RAW_TOPIC, key, poison.get(key, huge))
    bus.flush()
    run_until_idle(make_normalizer(bus, group="n-poison"))
    run_until_idle(make_indexer(bus, backend, group="i-poison"))
    backend.refresh()

    letters = list_letters(bus, limit=1000)
    assert Counter(letter.key for letter in letters) == Counter(poison.keys())  # each poison once, nothing else
    for letter in letters:
        assert letter.stage == "normalize", letter
        assert letter.error_class == "InvalidEvent", letter
        assert letter.error_message.startswith(reasons[letter.key]), (letter.key,
                                                                      letter.error_message)
        assert "(and " not in letter.error_message, letter.error_message  # that reason only

    good_ids = {opportunity_id("src", str(n)) for n in range(GOOD)}
    huge_id = opportunity_id("src", "huge")
    assert backend.count() == GOOD + 1  # every good listing and the huge one, nothing else
    missing = sorted(i for i in good_ids | {huge_id} if backend.get(i) is None)
    assert not missing, f"{len(missing)} listings not indexed, e.g. {missing[:3]}"

    doc = backend.get(huge_id)
    assert doc is not None
    assert doc["title"] == "Warehouse volunteer, long description"
    text, html = doc["description_text"], doc["description_html"]
    assert text.startswith("Sort donated clothes and food parcels")
    assert len(text) <= MAX_TEXT_CHARS
    assert text.endswith(MARKER), text[-200:]  # shortened, and says so
    assert 0 < len(html) <= MAX_HTML_CHARS + 1000  # the sanitizer may close a cut tag
    assert "Sort donated clothes" in doc["summary"]
