"""The bus: one interface, two backends, chosen by URL scheme.

``open_bus("kafka://host:9092[,host2:9092]")`` gives a :class:`KafkaBus`,
``open_bus("sqlite:///path/bus.sqlite3")`` a :class:`LocalBus`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from pipeline.bus.base import Bus, BusError, Consumer, Headers, Message
from pipeline.config import Settings

__all__ = ["Bus", "BusError", "Consumer", "Headers", "Message", "batches_to_end", "open_bus", "read_to_end",
           "retrying"]


def retrying(action: Callable[[], None], seconds: float, *,
             on_retry: Callable[[BusError, float], None] | None = None,
             sleep: Callable[[float], None] = time.sleep) -> None:
    """``action`` until it stops raising BusError, waiting 0.5 s, 1 s, 2 s… (at most 15 s)
    between tries; the last BusError once waiting longer would pass ``seconds``.
    ``on_retry(error, delay)`` hears of each failure before the wait."""
    deadline = time.monotonic() + seconds
    delay = 0.5
    while True:
        try:
            action()
            return
        except BusError as exc:
            if time.monotonic() + delay > deadline:
                raise
            if on_retry is not None:
                on_retry(exc, delay)
            sleep(delay)
            delay = min(delay * 2, 15.0)


def read_to_end(bus: Bus, group: str, topic: str, handle: Callable[[Message], None], *,
                commit: bool = False, quiet_seconds: float = 5.0) -> None:
    """Hand every message of ``topic`` after ``group``'s position to ``handle``, up to
    the end the topic had when called (or until nothing came for ``quiet_seconds``:
    compaction may have removed the tail, or the group is already at the end).
    With ``commit`` the group's position is committed after each handled batch."""
    for batch in batches_to_end(bus, group, topic, commit=commit, quiet_seconds=quiet_seconds):
        for msg in batch:
            handle(msg)


def batches_to_end(bus: Bus, group: str, topic: str, *, commit: bool = False, quiet_seconds: float = 5.0,
                   max_records: int = 1000) -> Iterator[list[Message]]:
    """The batches of ``topic`` after ``group``'s position, up to the end the topic
    had when called (or until nothing came for ``quiet_seconds``). With ``commit``
    the group's position is committed once a batch has been handled: when the
    next one is asked for, and at the end."""
    targets = {p: o for p, o in bus.end_offsets(topic).items() if o > 0}
    if not targets:
        return
    consumer = bus.consumer(group, [topic])
    reached: dict[int, int] = {}
    last_message = time.monotonic()
    try:
        while any(reached.get(p, -1) < o - 1 for p, o in targets.items()):
            batch = consumer.poll(max_records=max_records, timeout=1.0)
            if not batch:
                if time.monotonic() - last_message > quiet_seconds:
                    break
                continue
            last_message = time.monotonic()
            for msg in batch:
                reached[msg.partition] = max(reached.get(msg.partition, -1), msg.offset)
            yield batch
            if commit:
                consumer.commit()
    finally:
        consumer.close()


def open_bus(url: str, prefix: str = "", partitions: int = 6, replication_factor: int = 1,
             min_insync_replicas: int | None = None) -> Bus:
    scheme, _, rest = url.partition("://")
    if scheme == "kafka":
        from pipeline.bus.kafka import KafkaBus

        return KafkaBus(rest, prefix=prefix, partitions=partitions, replication_factor=replication_factor,
                        min_insync_replicas=min_insync_replicas)
    if scheme == "sqlite":
        from pipeline.bus.local import LocalBus

        # SQLAlchemy's convention: sqlite:///relative/path, sqlite:////absolute/path
        return LocalBus(rest[1:] if rest.startswith("/") else rest, prefix=prefix)
    raise BusError(f"unknown bus URL scheme {scheme!r} in {url!r} (expected kafka:// or sqlite:///)")


def make_bus(settings: Settings) -> Bus:
    """The bus these settings name: Kafka, or the embedded SQLite log in the data dir."""
    if not settings.kafka_bootstrap_servers:
        settings.ensure_data_dir()
    return open_bus(settings.bus_url, prefix=settings.topic_prefix, partitions=settings.kafka_partitions,
                    replication_factor=settings.kafka_replication_factor,
                    min_insync_replicas=settings.kafka_min_insync_replicas)
