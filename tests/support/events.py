"""Raw events for the pipeline tests: make, publish, drain."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from pipeline.bus import Bus, Consumer, Message
from pipeline.events import RAW_TOPIC, RawOpportunity
from pipeline.worker import Worker


def raw_event(n: int, **over: object) -> RawOpportunity:
    data: dict[str, object] = {
        "source_id": "src", "external_id": str(n), "url": f"https://ngo.example/o/{n}",
        "crawl_id": "c1", "fetched_at": datetime(2026, 11, 20, tzinfo=UTC),
        "extraction_method": "json-ld", "title": f"Opportunity {n}", "country": "LV",
        "description_html": "<p>Help out.</p>",
    }
    data.update(over)
    return RawOpportunity.model_validate(data)


def run_until_idle(worker: Worker) -> int:
    try:
        return worker.drain(idle=4.0)
    finally:
        worker.close()  # leave the group, as a stopped worker does


def publish_raw(bus: Bus, event: RawOpportunity) -> None:
    bus.publish(RAW_TOPIC, event.key, event.to_bytes(), event.headers())


def drain(consumer: Consumer, expected: int, timeout: float = 30.0) -> list[Message]:
    """Poll until ``expected`` messages arrived (Kafka needs a moment to join the group)."""
    out: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(out) < expected and time.monotonic() < deadline:
        out += consumer.poll(max_records=500, timeout=0.5)
    return out
