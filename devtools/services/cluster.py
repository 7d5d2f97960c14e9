"""A small cluster on one machine: ``tilts services up --cluster``.

- Three Kafka nodes, each a KRaft broker and controller (a quorum of three
  voters), on ``TILTS_KAFKA_CLUSTER_PORT`` (19192), +2 and +4 (controllers one
  above each). Internal topics are replicated three times; tilts' own topics
  get replication factor 3 and ``min.insync.replicas`` 2 from the exports
  (:func:`env_exports`), so an acknowledged write survives losing a broker.
- Two Elasticsearch nodes from the single node's installation, on
  ``TILTS_ELASTICSEARCH_CLUSTER_PORT`` (19210) and +1 (transport +100): the
  first master-eligible and data, the second data only, so losing the second
  (a data node) leaves a master; indices get one replica
  (``TILTS_INDEX_REPLICAS``), so every shard has a copy on each node.

Everything lives under ``<services folder>/cluster``; the single-node services
keep running beside it.
"""

from __future__ import annotations

import os
from pathlib import Path

from devtools.services.elasticsearch import Elasticsearch
from devtools.services.kafka import Kafka
from devtools.services.process import services_dir

KAFKA_NODES = 3
ES_NODES = 2


def cluster_kafka_port() -> int:
    return int(os.environ.get("TILTS_KAFKA_CLUSTER_PORT", "19192"))


def cluster_es_port() -> int:
    return int(os.environ.get("TILTS_ELASTICSEARCH_CLUSTER_PORT", "19210"))


class KafkaNode(Kafka):
    port_setting = "TILTS_KAFKA_CLUSTER_PORT"

    def __init__(self, base: Path, node_id: int) -> None:
        super().__init__(base)  # self.lib: the single node's jars
        self.name, self.node_id = f"kafka-{node_id}", node_id
        self.root = base / "cluster" / f"kafka-{node_id}"
        self.id_file = base / "cluster" / "kafka-cluster-id"

    @property
    def port(self) -> int:
        return cluster_kafka_port() + 2 * (self.node_id - 1)

    def properties(self) -> dict[str, str]:
        first = cluster_kafka_port()
        voters = ",".join(f"{n}@127.0.0.1:{first + 2 * (n - 1) + 1}" for n in range(1, KAFKA_NODES + 1))
        return {
            **super().properties(),
            "node.id": str(self.node_id),
            "controller.quorum.voters": voters,
            "offsets.topic.replication.factor": str(KAFKA_NODES),
            "transaction.state.log.replication.factor": str(KAFKA_NODES),
            "transaction.state.log.min.isr": "2",
            "default.replication.factor": str(KAFKA_NODES),
            "min.insync.replicas": "2",
        }

    def cluster_id(self) -> str:
        """The same id for every node's storage: they form one cluster."""
        if not self.id_file.exists():
            self.id_file.parent.mkdir(parents=True, exist_ok=True)
            self.id_file.write_text(super().cluster_id())
        return self.id_file.read_text().strip()


class ElasticsearchNode(Elasticsearch):
    port_setting = "TILTS_ELASTICSEARCH_CLUSTER_PORT"

    def __init__(self, base: Path, node: int) -> None:
        super().__init__(base)  # self.install: the single node's distribution
        self.name, self.node = f"elasticsearch-{node}", node
        self.root = base / "cluster" / f"elasticsearch-{node}"

    @property
    def port(self) -> int:
        return cluster_es_port() + self.node - 1

    def node_settings(self) -> list[str]:
        first = cluster_es_port()
        seeds = ",".join(f"127.0.0.1:{first + n + 100}" for n in range(ES_NODES))
        return ["cluster.name=tilts-dev-cluster", f"node.name=tilts-dev-cluster-{self.node}",
                f"discovery.seed_hosts={seeds}", "cluster.initial_master_nodes=tilts-dev-cluster-1",
                f"node.roles={'[master,data,ingest]' if self.node == 1 else '[data,ingest]'}"]


def nodes(base: Path | None = None) -> list[Kafka | Elasticsearch]:
    base = base or services_dir()
    return [*(KafkaNode(base, n) for n in range(1, KAFKA_NODES + 1)),
            *(ElasticsearchNode(base, n) for n in range(1, ES_NODES + 1))]


def up() -> dict[str, str]:
    """Provision (the single-node installations are shared) and start every node."""
    base = services_dir()
    base.mkdir(parents=True, exist_ok=True)
    Kafka(base).provision()
    Elasticsearch(base).provision()
    chosen = nodes(base)
    kafkas = [n for n in chosen if isinstance(n, KafkaNode)]
    for kafka in kafkas:  # a KRaft quorum forms only once a majority runs: start all, then wait
        kafka.start_detached()
    for kafka in kafkas:
        kafka.wait_healthy(240)
    for es in chosen:
        if isinstance(es, ElasticsearchNode):
            es.start()
    return {n.name: n.address for n in chosen}


def down() -> list[str]:
    return [n.name for n in reversed(nodes()) if n.stop()]


def status() -> list[tuple[str, str, int | None, bool]]:
    return [(n.name, n.address, n.pid(), n.healthy()) for n in nodes()]


def env_exports() -> dict[str, str]:
    """Point tilts at the cluster: every broker, every node, replication on."""
    chosen = nodes()
    return {
        "KAFKA_BOOTSTRAP_SERVERS": ",".join(n.address for n in chosen if isinstance(n, KafkaNode)),
        "ELASTICSEARCH_URL": ",".join(n.address for n in chosen if isinstance(n, ElasticsearchNode)),
        "TILTS_KAFKA_REPLICATION_FACTOR": str(KAFKA_NODES),
        "TILTS_KAFKA_MIN_INSYNC_REPLICAS": "2",
        "TILTS_INDEX_REPLICAS": str(ES_NODES - 1),
    }
