"""The hourly expiry sweep: listings whose deadline has passed are closed.

The normalizer marks a listing expired when it is (re)normalized after its
deadline; this sweep covers the passage of time between crawls. It finds open
listings with a past deadline in the search index and republishes each, with
``status: expired``, to the normalized topic, the source of truth, so the
indexer (and a later reindex) agree.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pipeline.bus import Bus, make_bus
from pipeline.config import Settings
from pipeline.events import NORMALIZED_TOPIC, Opportunity, Status
from search.backends import SearchBackend, SearchRequest, make_backend
from search.request import Sort


def expire_past_deadlines(settings: Settings, *, today: date | None = None, bus: Bus | None = None,
                          backend: SearchBackend | None = None) -> int:
    today = today or datetime.now(UTC).date()
    own_bus, own_backend = bus is None, backend is None
    bus = bus or make_bus(settings)
    backend = backend or make_backend(settings)
    expired = 0
    try:
        req = SearchRequest(deadline_to=today - timedelta(days=1), status=["open"], collapse=False,
                            size=100, sort=Sort.deadline)
        while True:
            result = backend.search(req)
            for hit in result.hits:
                doc = Opportunity.model_validate(hit.opportunity)
                doc = doc.model_copy(update={"status": Status.expired})
                bus.publish(NORMALIZED_TOPIC, doc.id, doc.to_bytes(), doc.headers())
                expired += 1
            if not result.next_cursor:
                break
            req = req.model_copy(update={"cursor": result.next_cursor})
        bus.flush()
    finally:
        if own_bus:
            bus.close()
        if own_backend:
            backend.close()
    return expired
