"""Inspect and re-drive dead letters (``tilts dlq list|replay``).

A dead letter keeps the original bytes and key; its headers name the stage,
the error and the topic it came from. ``replay`` publishes each letter back
to its original topic, unchanged, once: the consumer group
``tilts-dlq-replay`` remembers how far it got, so running it again after the
next fix only re-drives what failed since. A letter that fails again simply
lands in the DLQ again, with the new reason. Letters of stage ``crawl`` hold
the page a spider could not read, not an event; they are re-driven only when
asked for by stage (a re-crawl is usually the fix).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pipeline.bus import Bus, Message, read_to_end
from pipeline.events import DLQ_TOPIC, DeadLetter

REPLAY_GROUP = "tilts-dlq-replay"


def _text(msg: Message, header: str) -> str:
    value = msg.header(header)
    return value.decode("utf-8", "replace") if value else ""


def describe(msg: Message) -> DeadLetter:
    failed = _text(msg, "dlq-failed-at")
    return DeadLetter(
        original_topic=_text(msg, "dlq-original-topic") or "?",
        key=msg.key.decode("utf-8", "replace") if msg.key else None,
        stage=_text(msg, "dlq-stage") or "?",
        error_class=_text(msg, "dlq-error-class") or "?",
        error_message=_text(msg, "dlq-error-message"),
        failed_at=datetime.fromisoformat(failed) if failed else datetime.fromtimestamp(
            msg.timestamp_ms / 1000),
        payload=(msg.value or b"")[:2000].decode("utf-8", "replace"),
    )


def list_letters(bus: Bus, *, stage: str | None = None, limit: int = 100) -> list[DeadLetter]:
    """The latest ``limit`` dead letters (read with a throwaway group: nothing is consumed)."""
    out: list[DeadLetter] = []

    def keep(msg: Message) -> None:
        letter = describe(msg)
        if stage is None or letter.stage == stage:
            out.append(letter)

    read_to_end(bus, f"tilts-dlq-list-{uuid.uuid4().hex[:12]}", DLQ_TOPIC, keep, quiet_seconds=3.0)
    return out[-limit:]


def replay(bus: Bus, *, stage: str | None = None, dry_run: bool = False) -> list[DeadLetter]:
    """Re-publish dead letters to their original topics (each once); returns them."""
    replayed: list[DeadLetter] = []

    def send(msg: Message) -> None:
        letter = describe(msg)
        if (stage is not None and letter.stage != stage) or letter.original_topic == "?":
            return  # another stage's letter, or not a tilts dead letter
        if stage is None and letter.stage == "crawl":
            return  # page bytes, not an event: fixed by re-crawling (or --stage crawl)
        replayed.append(letter)
        if not dry_run:
            headers = [(k, v) for k, v in msg.headers if not k.startswith("dlq-") and k != "content-type"]
            original_type = msg.header("dlq-original-content-type")
            if original_type:
                headers.append(("content-type", original_type))
            bus.publish(letter.original_topic, msg.key, msg.value, headers)
            bus.flush()  # durable on its topic before the group moves past it

    group = f"tilts-dlq-dry-{uuid.uuid4().hex[:12]}" if dry_run else REPLAY_GROUP
    read_to_end(bus, group, DLQ_TOPIC, send, commit=not dry_run, quiet_seconds=3.0)
    return replayed
