"""The hourly expiry sweep: listings whose deadline, or whose activity, has
passed are closed.

The normalizer marks a listing expired when it is (re)normalized after its
deadline or end; this sweep covers the passage of time between crawls. It finds
open listings with a past deadline or end in the search index and republishes each, with
``status: expired``, to the normalized topic, the source of truth, so the
indexer (and a later reindex) agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from pipeline.bus import Bus, make_bus
from pipeline.config import Settings
from pipeline.events import NORMALIZED_TOPIC, Opportunity, Status
from search.backends import SearchBackend, SearchRequest, make_backend
from search.request import Sort


def expire_past_deadlines(settings: Settings, *, today: date | None = None, bus: Bus | None = None,
                          backend: SearchBackend | None = None) -> int:
    """Close every open listing whose deadline, or whose activity's end, is before
    ``today``; how many were closed."""
    today = today or datetime.now(UTC).date()
    own_bus, own_backend = bus is None, backend is None
    bus = bus or make_bus(settings)
    backend = backend or make_backend(settings)
    yesterday = today - timedelta(days=1)
    closed: set[str] = set()
    try:
        # the deadline passed
        for doc in _open_listings(backend, SearchRequest(deadline_to=yesterday, sort=Sort.deadline)):
            _close(bus, doc, closed)
        # the activity ended (its end is never before its start, so it started before today)
        for doc in _open_listings(backend, SearchRequest(start_to=yesterday, sort=Sort.newest)):
            if doc.end_date is not None and doc.end_date < today:
                _close(bus, doc, closed)
        bus.flush()
    finally:
        if own_bus:
            bus.close()
        if own_backend:
            backend.close()
    return len(closed)


def _open_listings(backend: SearchBackend, req: SearchRequest) -> Iterator[Opportunity]:
    """Every open listing matching ``req``, page by page (cursors, no duplicates collapsed)."""
    req = req.model_copy(update={"status": ["open"], "collapse": False, "size": 100})
    while True:
        result = backend.search(req)
        for hit in result.hits:
            yield Opportunity.model_validate(hit.opportunity)
        if not result.next_cursor:
            return
        req = req.model_copy(update={"cursor": result.next_cursor})


def _close(bus: Bus, doc: Opportunity, closed: set[str]) -> None:
    if doc.id in closed:
        return
    doc = doc.model_copy(update={"status": Status.expired})
    bus.publish(NORMALIZED_TOPIC, doc.id, doc.to_bytes(), doc.headers())
    closed.add(doc.id)
