"""The bus interface shared by Kafka and the embedded SQLite log.

Concepts, as in Kafka:

- A *topic* is an append-only log split into *partitions*; a message's key
  decides its partition, so all versions of one listing stay in order.
- A *consumer group* shares the work of reading topics; each group has its own
  committed *offset* per partition: the position of the next message to read
  after a restart.
- Delivery is at-least-once: a worker polls a batch, writes its results
  downstream, flushes, and only then commits. A worker killed before the
  commit re-reads the batch after a restart; idempotent writes downstream make
  that harmless.

``Message.value`` is ``None`` for a tombstone (a deleted key on a compacted
topic).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

Headers = list[tuple[str, bytes]]


class BusError(RuntimeError):
    """The bus cannot be reached or refused an operation; retrying may help."""


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)
    timestamp_ms: int = 0

    def header(self, name: str) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None


@runtime_checkable
class Consumer(Protocol):
    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Message]:
        """Return up to ``max_records`` messages after the current position.

        Blocks up to ``timeout`` seconds when nothing is available.
        """

    def commit(self) -> None:
        """Commit the position reached by the messages returned so far."""

    def close(self) -> None: ...


@runtime_checkable
class Bus(Protocol):
    """Produce to and consume from topics. Topic names given here are logical
    (e.g. ``opportunities.raw.v1``); a backend applies its prefix itself."""

    def ensure_topics(self) -> None:
        """Create the contract's topics if missing (idempotent)."""

    def publish(
        self, topic: str, key: str | bytes | None, value: bytes | None, headers: Headers | None = None,
        partition: int | None = None,
    ) -> None:
        """Queue a message; it is durable once :meth:`flush` returns. ``partition``
        overrides the key's (a stage's state kept beside its input partition)."""

    def partition_count(self, topic: str) -> int:
        """How many partitions ``topic`` has."""

    def replay(self, topic: str, partition: int) -> Iterator[Message]:
        """Every message of one partition, from its start to the end it had
        when called, outside any consumer group (a stage restoring its state)."""

    def flush(self, timeout: float = 30.0) -> None:
        """Block until every queued message is acknowledged, or raise BusError."""

    def consumer(self, group: str, topics: list[str]) -> Consumer:
        """A member of ``group`` reading ``topics`` from the committed offsets
        (from the beginning when the group has none)."""

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Next offset to be written, per partition."""

    def committed(self, group: str, topic: str) -> dict[int, int]:
        """``group``'s committed position per partition (empty when it has none)."""

    def close(self) -> None: ...


def as_key_bytes(key: str | bytes | None) -> bytes | None:
    if key is None or isinstance(key, bytes):
        return key
    return key.encode("utf-8")
