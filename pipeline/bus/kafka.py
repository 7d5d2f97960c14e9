"""KafkaBus: the distributed bus on Apache Kafka, via kafka-python.

Producer: ``acks=all`` with idempotence on, so a retried send is written once
per partition; keyed messages go to ``murmur2(key) % partitions`` like the
Java client. Consumer: a group member with auto-commit off; the worker commits
after its batch is safely written downstream.

Topics are created with ``partitions`` partitions (setting
``TILTS_KAFKA_PARTITIONS``, default 6: room for six normalizers or indexers per
group), replication factor ``TILTS_KAFKA_REPLICATION_FACTOR`` (default 1; 3 on a
cluster) and ``TILTS_KAFKA_MIN_INSYNC_REPLICAS`` (default: the broker's; 2 on
a cluster of 3, so a write survives losing a broker); the normalized
topic is log-compacted so replaying it rebuilds the index. Consumer groups carry
the topic prefix too (`<prefix>tilts-normalizer`), so deployments or tests
sharing a cluster under different prefixes never rebalance each other.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, NoBrokersAvailable, TopicAlreadyExistsError

from pipeline.bus.base import BusError, Headers, Message, as_key_bytes
from pipeline.events import ALL_TOPICS, COMPACTED_TOPICS

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
FETCH_BYTES = 2 * 1024 * 1024


class KafkaBus:
    def __init__(
        self,
        bootstrap_servers: str,
        prefix: str = "",
        partitions: int = 6,
        replication_factor: int = 1,
        min_insync_replicas: int | None = None,
        client_id: str = "tilts",
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.prefix = prefix
        self.partitions = partitions
        self.replication_factor = replication_factor
        self.min_insync_replicas = min_insync_replicas
        self.client_id = client_id
        self._producer: KafkaProducer | None = None
        # Sends the broker finally refused (after the producer's own retries):
        # ``flush`` reports them, so the caller retries instead of losing them.
        self._failures: list[BaseException] = []

    def _failed(self, exc: BaseException) -> None:
        self._failures.append(exc)

    def _t(self, topic: str) -> str:
        return self.prefix + topic

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            try:
                self._producer = KafkaProducer(
                    bootstrap_servers=self.bootstrap_servers,
                    client_id=self.client_id,
                    acks="all",
                    enable_idempotence=True,
                    retries=10,
                    retry_backoff_ms=200,
                    linger_ms=5,
                    max_request_size=MAX_MESSAGE_BYTES,
                    request_timeout_ms=30000,
                )
            except (NoBrokersAvailable, KafkaError) as exc:
                raise BusError(f"Kafka at {self.bootstrap_servers} unreachable: {exc}") from exc
        return self._producer

    def ensure_topics(self) -> None:
        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers, client_id=self.client_id)
        except (NoBrokersAvailable, KafkaError) as exc:
            raise BusError(f"Kafka at {self.bootstrap_servers} unreachable: {exc}") from exc
        try:
            existing = set(admin.list_topics())
            wanted = []
            for topic in ALL_TOPICS:
                name = self._t(topic)
                if name in existing:
                    continue
                configs: dict[str, str] = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}
                if self.min_insync_replicas:  # acks=all then needs this many copies written
                    configs["min.insync.replicas"] = str(self.min_insync_replicas)
                if topic in COMPACTED_TOPICS:
                    configs.update({"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"})
                wanted.append(NewTopic(name, self.partitions, self.replication_factor, topic_configs=configs))
            if wanted:
                with contextlib.suppress(TopicAlreadyExistsError):  # another process won the race
                    admin.create_topics(wanted)
                log.info("created topics %s", [t.name for t in wanted])
        finally:
            admin.close()

    def publish(
        self, topic: str, key: str | bytes | None, value: bytes | None, headers: Headers | None = None,
        partition: int | None = None,
    ) -> None:
        try:
            future = self.producer.send(self._t(topic), key=as_key_bytes(key), value=value,
                                        headers=headers or [], partition=partition)
        except KafkaError as exc:
            raise BusError(f"Kafka send to {topic} failed: {exc}") from exc
        future.add_errback(self._failed)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything published so far is acknowledged; raise BusError
        if anything was not (the caller publishes it again: at least once)."""
        if self._producer is None:
            return
        try:
            self._producer.flush(timeout=timeout)
        except KafkaError as exc:
            raise BusError(f"Kafka flush failed: {exc}") from exc
        if self._failures:
            failures, self._failures = self._failures, []
            raise BusError(f"Kafka did not acknowledge {len(failures)} message(s): {failures[0]}")

    def _g(self, group: str) -> str:
        """Consumer groups carry the topic prefix too: deployments (or tests) that share a
        cluster under different prefixes never join, and rebalance, each other's groups."""
        return self.prefix + group

    def consumer(self, group: str, topics: list[str]) -> KafkaGroupConsumer:
        return KafkaGroupConsumer(self.bootstrap_servers, self._g(group), [self._t(t) for t in topics],
                                  self.prefix)

    def end_offsets(self, topic: str) -> dict[int, int]:
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap_servers, client_id=self.client_id)
        try:
            parts = consumer.partitions_for_topic(self._t(topic)) or set()
            tps = [TopicPartition(self._t(topic), p) for p in parts]
            return {tp.partition: off for tp, off in consumer.end_offsets(tps).items()}
        finally:
            consumer.close()

    def partition_count(self, topic: str) -> int:
        try:
            found = self.producer.partitions_for(self._t(topic))
        except KafkaError as exc:
            raise BusError(f"Kafka: partitions of {topic} unknown: {exc}") from exc
        if not found:
            raise BusError(f"Kafka: topic {self._t(topic)} has no partitions")
        return len(found)

    def replay(self, topic: str, partition: int) -> Iterator[Message]:
        try:
            consumer = KafkaConsumer(bootstrap_servers=self.bootstrap_servers, client_id=self.client_id,
                                     enable_auto_commit=False, max_partition_fetch_bytes=FETCH_BYTES,
                                     fetch_max_bytes=FETCH_BYTES)
        except (NoBrokersAvailable, KafkaError) as exc:
            raise BusError(f"Kafka at {self.bootstrap_servers} unreachable: {exc}") from exc
        tp = TopicPartition(self._t(topic), partition)
        try:
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            end = consumer.end_offsets([tp])[tp]
            while consumer.position(tp) < end:
                for records in consumer.poll(timeout_ms=1000, max_records=1000).values():
                    for r in records:
                        if r.offset < end:
                            yield Message(topic, partition, r.offset, r.key, r.value, list(r.headers or []),
                                          r.timestamp)
        except KafkaError as exc:
            raise BusError(f"Kafka: replaying {topic}/{partition} failed: {exc}") from exc
        finally:
            consumer.close(autocommit=False)

    def committed(self, group: str, topic: str) -> dict[int, int]:
        """The group's committed position per partition (consumer lag = end - committed)."""
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers, client_id=self.client_id)
        try:
            offsets = admin.list_consumer_group_offsets(self._g(group))
        finally:
            admin.close()
        return {tp.partition: meta.offset for tp, meta in offsets.items()
                if tp.topic == self._t(topic) and meta.offset >= 0}

    def close(self) -> None:
        if self._producer is not None:
            # Callers that must know call flush() first; closing never hangs
            # on, or raises for, a dead broker.
            try:
                self._producer.flush(timeout=30)
                self._producer.close(timeout=10)
            except KafkaError as exc:
                log.warning("closing the producer with unacknowledged messages: %s", exc)
                with contextlib.suppress(KafkaError):
                    self._producer.close(timeout=0)
            self._producer = None


def delete_topics(bootstrap_servers: str, prefix: str, admin: KafkaAdminClient | None = None) -> list[str]:
    """Delete every topic whose name starts with ``prefix``: what a benchmark
    or a test created under its own prefix. Returns the names deleted."""
    own = admin is None
    admin = admin or KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="tilts-cleanup")
    try:
        topics = sorted(t for t in admin.list_topics() if t.startswith(prefix))
        if topics:
            admin.delete_topics(topics, timeout_ms=30000)
        return topics
    finally:
        if own:
            admin.close()


class KafkaGroupConsumer:
    def __init__(self, bootstrap_servers: str, group: str, topics: list[str], prefix: str) -> None:
        self._prefix = prefix
        config: dict[str, Any] = dict(
            bootstrap_servers=bootstrap_servers,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # A fetch's size bounds what a draining backlog holds in memory; the
            # broker still returns a first message larger than this (a 10 MB
            # event), so nothing gets stuck behind it.
            max_partition_fetch_bytes=FETCH_BYTES,
            fetch_max_bytes=FETCH_BYTES,
            session_timeout_ms=10000,
            heartbeat_interval_ms=3000,
            max_poll_interval_ms=300000,
        )
        try:
            self._consumer = KafkaConsumer(*topics, **config)
        except (NoBrokersAvailable, KafkaError) as exc:
            raise BusError(f"Kafka at {bootstrap_servers} unreachable: {exc}") from exc

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Message]:
        batches = self._consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        out: list[Message] = []
        for tp, records in batches.items():
            logical = tp.topic[len(self._prefix):]
            for r in records:
                out.append(
                    Message(logical, tp.partition, r.offset, r.key, r.value, list(r.headers or []), r.timestamp)
                )
        return out

    def commit(self) -> None:
        try:
            self._consumer.commit()
        except KafkaError as exc:
            raise BusError(f"Kafka commit failed: {exc}") from exc

    def close(self) -> None:
        self._consumer.close(autocommit=False)
