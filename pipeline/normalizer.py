"""The normalizer worker: ``opportunities.raw.v1`` → ``opportunities.normalized.v1``.

Consumer group ``tilts-normalizer``. Each raw event is validated and
normalized; the Opportunity is published keyed by its id. A raw event that is
not valid JSON, breaks the contract or cannot be normalized goes to
``opportunities.dlq.v1`` with stage ``normalize`` and the reason.
"""

from __future__ import annotations

from pipeline.bus import Bus, Message
from pipeline.events import NORMALIZED_TOPIC, RAW_TOPIC, InvalidEvent, RawOpportunity, parse_event
from pipeline.normalize import normalize
from pipeline.worker import Worker

GROUP = "tilts-normalizer"


def normalize_bytes(value: bytes | None) -> bytes:
    """One raw event's bytes → the normalized event's bytes (raises InvalidEvent)."""
    raw = parse_event(RawOpportunity, value)
    return normalize(raw).to_bytes()


def make_normalizer(bus: Bus, group: str = GROUP) -> Worker:
    worker: Worker

    def process(batch: list[Message]) -> None:
        for msg in batch:
            try:
                raw = parse_event(RawOpportunity, msg.value)
                opp = normalize(raw)
            except (InvalidEvent, ValueError) as exc:
                worker.dead_letter(msg, exc)
                continue
            bus.publish(NORMALIZED_TOPIC, opp.id, opp.to_bytes(), opp.headers())

    worker = Worker(bus, group, [RAW_TOPIC], "normalize", process)
    return worker
