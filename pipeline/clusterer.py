"""The clustering stage: ``opportunities.clustering.v1`` → ``opportunities.normalized.v1``.

Consumer group ``tilts-clusterer``. With ``TILTS_CLUSTERING=stage`` the
normalizers keep no state: any number of ``tilts normalize`` instances share
the raw topic's partitions, and each publishes its normalized listings to the
clustering topic keyed by the listing's *clustering block* (its country, or
``-`` without one). Every listing a duplicate could be found for is in the same
block, because a duplicate never contradicts its founder's country
(``pipeline.normalize.dedupe``): so the blocks, hence the clustering topic's
partitions, can be clustered independently, by any number of ``tilts
cluster`` instances, each owning some partitions.

State per partition. Each partition's clustering state (the same
``Deduplicator`` as the one-process default) lives in its own SQLite file in
``TILTS_CLUSTER_STATE_DIR`` (default: ``clusters/`` in the data dir), with a
*checkpoint*: the input offset up to which it is complete, written in the same
transaction as the batch's state. Every placement is also written to the
changelog ``opportunities.clusters.v1`` (compacted, keyed by listing id), into
the same partition number as its input. So:

- a restarted instance finds its files at its consumer position and goes on
  at once: nothing is replayed;
- an instance given a partition whose file is missing or behind the group's
  position (another instance worked on it meanwhile) restores that one
  partition from the changelog's partition of the same number: a restore
  costs the partition's share of the listings, not the whole topic;
- a batch is placed, published (normalized topic and changelog) and flushed
  before the checkpoint is written and the offsets committed. A batch seen
  again after a crash is placed again: placing a listing the state already
  holds keeps its cluster and first-seen time, so the output is the same.

Closing. The stateless normalizer cannot know a closed listing's block; it
sends the close notice (header ``tilts-close``, no value) to every partition.
The instance that holds the listing forgets it and writes the normalized
topic's tombstone; partition 0's owner writes it in any case, for a listing
no partition holds (it came before the stage did).

What this gives up against the one-process clustering, written down in
docs/architecture.md: a listing without a country no longer meets duplicates
that have one (they share no block), and a listing whose country changes
between versions leaves its old entry in its old block until it closes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pipeline.bus import Bus, Message
from pipeline.events import CLUSTERING_TOPIC, CLUSTERS_TOPIC, NORMALIZED_TOPIC, Opportunity, parse_event
from pipeline.normalize.dedupe import Deduplicator
from pipeline.worker import Worker

GROUP = "tilts-clusterer"
CLOSE_HEADER = "tilts-close"
log = logging.getLogger(__name__)


def block(opp: Opportunity) -> str:
    """The listing's clustering block: the Kafka key on the clustering topic."""
    place = opp.locations[0] if opp.locations else None
    return place.country if place and place.country else "-"


def publish_for_clustering(bus: Bus, opp: Opportunity) -> None:
    bus.publish(CLUSTERING_TOPIC, block(opp), opp.to_bytes(), opp.headers())


def publish_close(bus: Bus, opp_id: str) -> None:
    """Tell every partition's owner that ``opp_id`` closed."""
    for partition in range(bus.partition_count(CLUSTERING_TOPIC)):
        bus.publish(CLUSTERING_TOPIC, opp_id, None, [(CLOSE_HEADER, b"1")], partition=partition)


class PartitionStates:
    """The clustering state of each input partition this process has seen."""

    def __init__(self, bus: Bus, state_dir: Path | None, name: str) -> None:
        self.bus = bus
        self.state_dir = state_dir
        self.name = name
        self.states: dict[int, Deduplicator] = {}
        self.restored: dict[int, int] = {}  # partition -> listings restored from the changelog

    def path(self, partition: int) -> Path | None:
        return None if self.state_dir is None else self.state_dir / f"{self.name}-p{partition}.sqlite"

    def at(self, partition: int, offset: int) -> Deduplicator:
        """Partition ``partition``'s state, complete up to input ``offset`` (the
        first message of a batch): restored from the changelog when it is not."""
        state = self.states.get(partition)
        if state is None:
            path = self.path(partition)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            state = self.states[partition] = Deduplicator(path=path, durable=path is not None)
        checkpoint = state.checkpoint
        if checkpoint is None or checkpoint < offset:
            self._restore(partition, state, offset)
        return state

    def _restore(self, partition: int, state: Deduplicator, offset: int) -> None:
        state.clear()
        records = 0
        for msg in self.bus.replay(CLUSTERS_TOPIC, partition):
            opp_id = msg.key.decode() if msg.key else ""
            if msg.value is None:
                state.remove(opp_id)
            else:
                state.restore_membership(json.loads(msg.value))
                records += 1
        state.flush(checkpoint=offset)
        self.restored[partition] = self.restored.get(partition, 0) + records
        log.info("clusterer: partition %d restored from the changelog (%d records)", partition, records)

    def close(self) -> None:
        for state in self.states.values():
            state.close()
        self.states.clear()


def make_clusterer(bus: Bus, group: str = GROUP, *, state_dir: Path | None = None,
                   name: str = "clusters", states: PartitionStates | None = None) -> Worker:
    """The clustering stage's worker. ``state_dir=None`` keeps the state in
    temporary files (restored from the changelog at each start); ``states``
    (instead of ``state_dir`` and ``name``): states made by the caller, who
    can then see what was restored."""
    worker: Worker
    states = states or PartitionStates(bus, state_dir, name)

    def process(batch: list[Message]) -> None:
        reached: dict[int, int] = {}
        for msg in batch:
            partition = msg.partition
            state = states.at(partition, msg.offset) if partition not in reached else states.states[partition]
            reached[partition] = msg.offset + 1
            key = msg.key.decode() if msg.key else ""
            if msg.header(CLOSE_HEADER) is not None:
                known = state.membership(key) is not None
                state.remove(key)
                if known:
                    bus.publish(CLUSTERS_TOPIC, key, None, partition=partition)
                if known or partition == 0:
                    log.info("closing %s: its source no longer publishes it", key)
                    bus.publish(NORMALIZED_TOPIC, key, None)
                continue
            try:
                opp = state.place(parse_event(Opportunity, msg.value))
            except Exception as exc:  # an invalid event, or a bug: dead-lettered, never dropped
                worker.dead_letter(msg, exc)
                continue
            bus.publish(NORMALIZED_TOPIC, opp.id, opp.to_bytes(), opp.headers())
            bus.publish(CLUSTERS_TOPIC, opp.id, json.dumps(state.membership(opp.id)).encode(),
                        partition=partition)
        bus.flush()  # the output is safe before the checkpoint says so
        for partition, offset in reached.items():
            states.states[partition].flush(checkpoint=offset)

    worker = Worker(bus, group, [CLUSTERING_TOPIC], "cluster", process)
    worker.on_close(states.close)
    return worker
