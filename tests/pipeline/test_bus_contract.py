"""One contract, two buses: the embedded SQLite log and real Kafka."""

from __future__ import annotations

import time

from pipeline.bus import Bus
from pipeline.events import DLQ_TOPIC, NORMALIZED_TOPIC, RAW_TOPIC
from tests.support.events import drain


def test_ordering_per_key_and_headers(bus: Bus) -> None:
    for i in range(60):
        bus.publish(RAW_TOPIC, f"key-{i % 6}", f"{i}".encode(), [("n", str(i).encode())])
    bus.flush()
    consumer = bus.consumer("g-order", [RAW_TOPIC])
    got = drain(consumer, 60)
    consumer.close()
    assert len(got) == 60
    per_key: dict[bytes, list[int]] = {}
    for m in got:
        assert m.topic == RAW_TOPIC
        assert m.header("n") == m.value
        per_key.setdefault(m.key or b"", []).append(int(m.value or b"-1"))
    assert set(per_key) == {f"key-{k}".encode() for k in range(6)}
    for values in per_key.values():
        assert values == sorted(values)


def test_group_resumes_from_committed_offset(bus: Bus) -> None:
    for i in range(10):
        bus.publish(RAW_TOPIC, f"k{i}", f"first-{i}".encode())
    bus.flush()
    c1 = bus.consumer("g-resume", [RAW_TOPIC])
    first = drain(c1, 10)
    assert len(first) == 10
    c1.commit()
    c1.close()
    for i in range(5):
        bus.publish(RAW_TOPIC, f"k{i}", f"second-{i}".encode())
    bus.flush()
    c2 = bus.consumer("g-resume", [RAW_TOPIC])
    second = drain(c2, 5)
    extra = c2.poll(timeout=1.0)
    c2.close()
    assert sorted(m.value for m in second) == sorted(f"second-{i}".encode() for i in range(5))
    assert extra == []


def test_no_loss_when_consumer_dies_before_commit(bus: Bus) -> None:
    for i in range(8):
        bus.publish(RAW_TOPIC, f"k{i}", f"v{i}".encode())
    bus.flush()
    dying = bus.consumer("g-crash", [RAW_TOPIC])
    assert len(drain(dying, 8)) == 8
    dying.close()  # no commit: as if killed mid-batch
    survivor = bus.consumer("g-crash", [RAW_TOPIC])
    again = drain(survivor, 8)
    survivor.close()
    assert sorted(m.value for m in again) == sorted(f"v{i}".encode() for i in range(8))


def test_groups_are_independent_and_tombstones_survive(bus: Bus) -> None:
    bus.publish(NORMALIZED_TOPIC, "opp-1", b'{"x":1}')
    bus.publish(NORMALIZED_TOPIC, "opp-1", None)
    bus.publish(DLQ_TOPIC, "other", b"not read")
    bus.flush()
    a = bus.consumer("g-a", [NORMALIZED_TOPIC])
    b = bus.consumer("g-b", [NORMALIZED_TOPIC])
    got_a, got_b = drain(a, 2), drain(b, 2)
    a.close()
    b.close()
    for got in (got_a, got_b):
        assert [(m.key, m.value) for m in got] == [(b"opp-1", b'{"x":1}'), (b"opp-1", None)]


def test_end_offsets_count_published_messages(bus: Bus) -> None:
    for i in range(7):
        bus.publish(DLQ_TOPIC, f"k{i}", b"x")
    bus.flush()
    assert sum(bus.end_offsets(DLQ_TOPIC).values()) == 7


def test_delete_topics_removes_only_the_prefix(kafka_servers: str, unique: str) -> None:
    from kafka import KafkaAdminClient

    from pipeline.bus import open_bus
    from pipeline.bus.kafka import delete_topics

    mine = open_bus(f"kafka://{kafka_servers}", prefix=f"{unique}-a.", partitions=1)
    other = open_bus(f"kafka://{kafka_servers}", prefix=f"{unique}-b.", partitions=1)
    for b in (mine, other):
        b.ensure_topics()
        b.close()
    deleted = delete_topics(kafka_servers, f"{unique}-a.")
    assert deleted and all(t.startswith(f"{unique}-a.") for t in deleted)
    admin = KafkaAdminClient(bootstrap_servers=kafka_servers)
    try:
        deadline = time.monotonic() + 30
        left = set(admin.list_topics())
        while set(deleted) & left and time.monotonic() < deadline:  # deletion is asynchronous
            time.sleep(0.2)
            left = set(admin.list_topics())
    finally:
        admin.close()
    assert not set(deleted) & left
    assert any(t.startswith(f"{unique}-b.") for t in left)


def test_consumer_groups_carry_the_prefix(kafka_servers: str, unique: str) -> None:
    """Two deployments sharing a cluster under different prefixes never share (and
    rebalance) a consumer group such as tilts-normalizer; checked with plain kafka-python."""
    from kafka import KafkaAdminClient

    from pipeline.bus import open_bus

    bus = open_bus(f"kafka://{kafka_servers}", prefix=f"{unique}.", partitions=1)
    try:
        bus.ensure_topics()
        bus.publish(RAW_TOPIC, "k", b"x")
        bus.flush()
        consumer = bus.consumer("tilts-normalizer", [RAW_TOPIC])
        assert len(drain(consumer, 1)) == 1
        consumer.commit()
        consumer.close()
        assert sum(bus.committed("tilts-normalizer", RAW_TOPIC).values()) == 1
    finally:
        bus.close()
    admin = KafkaAdminClient(bootstrap_servers=kafka_servers)
    try:
        groups = {g[0] for g in admin.list_consumer_groups()}
        offsets = admin.list_consumer_group_offsets(f"{unique}.tilts-normalizer")
    finally:
        admin.close()
    assert f"{unique}.tilts-normalizer" in groups
    assert [tp.topic for tp in offsets] == [f"{unique}.{RAW_TOPIC}"]


def test_a_partition_can_be_written_and_replayed_on_its_own(bus: Bus) -> None:
    """What a stage's changelog needs: records placed in a chosen partition, and
    that partition read back from its start, without a consumer group."""
    from pipeline.events import CLUSTERS_TOPIC

    count = bus.partition_count(CLUSTERS_TOPIC)
    assert count == (1 if type(bus).__name__ == "LocalBus" else 3)
    last = count - 1
    for i in range(5):
        bus.publish(CLUSTERS_TOPIC, f"k{i}", f"v{i}".encode(), partition=last)
    bus.publish(CLUSTERS_TOPIC, "k0", None, partition=last)
    bus.flush()
    replayed = [(m.key, m.value, m.partition) for m in bus.replay(CLUSTERS_TOPIC, last)]
    assert replayed == [(f"k{i}".encode(), f"v{i}".encode(), last) for i in range(5)] + [(b"k0", None, last)]
    if count > 1:
        assert list(bus.replay(CLUSTERS_TOPIC, 0)) == []
    bus.publish(CLUSTERS_TOPIC, "later", b"x", partition=last)
    bus.flush()
    assert len(list(bus.replay(CLUSTERS_TOPIC, last))) == 7
