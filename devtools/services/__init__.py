"""`tilts services up|down|status`: real Kafka, Elasticsearch and PostgreSQL without Docker.

Provisions from Maven Central with the machine's Maven and Java 17:

- Apache Kafka ``KAFKA_VERSION`` (KRaft, one node in combined broker+controller
  mode): ``org.apache.kafka:kafka_2.13`` and its runtime dependencies, plus the
  reload4j SLF4J binding, run as ``kafka.Kafka`` after ``StorageTool format``.
- Elasticsearch ``ELASTICSEARCH_VERSION``: Elastic's own distribution archive
  ``org.elasticsearch.distribution.integ-test-zip:elasticsearch`` (the server
  with the transport-netty4 module, no bundled JDK; security off). Elasticsearch
  refuses to run as root, so as root it runs as the system user
  ``tiltsvc`` (created when missing). That archive lacks the analysis-common
  module, so ``provision`` compiles ``devtools/es_analysis`` (the language
  analyzers and token filters tilts' index template uses, under the
  distribution's own names, built from the Lucene jars in the server's lib/)
  into the plugin ``analysis-tilts``; the official image needs no plugin.

Everything lives under the services folder (``TILTS_SERVICES_DIR``; default
``~/.cache/tilts/services``, or ``/var/lib/tilts/services`` as root so the
unprivileged Elasticsearch user can read it): jars, data, logs and pid files.
A second ``up`` downloads nothing. Only loopback addresses are bound.

- PostgreSQL from Debian's ``postgresql`` package (``scripts/test`` installs
  it when missing): a private cluster made by ``initdb`` in the services
  folder, trust authentication on 127.0.0.1 only, database ``tilts`` (the
  scheduler's job store, subscriptions, digests, coverage snapshots).

Ports: ``TILTS_KAFKA_PORT`` (19092; controller on +1),
``TILTS_ELASTICSEARCH_PORT`` (19200; transport on +100) and
``TILTS_POSTGRES_PORT`` (15432).
"""

from __future__ import annotations

from devtools.services import cluster
from devtools.services.elasticsearch import ELASTICSEARCH_VERSION, Elasticsearch, es_port
from devtools.services.kafka import KAFKA_VERSION, Kafka, kafka_port
from devtools.services.postgres import Postgres, pg_port
from devtools.services.process import ServiceError, services_dir

__all__ = [
    "ELASTICSEARCH_VERSION",
    "KAFKA_VERSION",
    "Elasticsearch",
    "Kafka",
    "Postgres",
    "ServiceError",
    "all_services",
    "cluster",
    "down",
    "env_exports",
    "es_port",
    "kafka_port",
    "pg_port",
    "services_dir",
    "status",
    "up",
]


def all_services() -> list[Kafka | Elasticsearch | Postgres]:
    base = services_dir()
    return [Kafka(base), Elasticsearch(base), Postgres(base)]


def up(names: list[str] | None = None) -> dict[str, str]:
    """Provision and start the named services (default: all). Returns addresses."""
    base = services_dir()
    base.mkdir(parents=True, exist_ok=True)
    out: dict[str, str] = {}
    chosen = [s for s in all_services() if not names or s.name in names]
    for svc in chosen:
        svc.provision()
    for svc in chosen:
        svc.start()
        out[svc.name] = svc.address
    return out


def down(names: list[str] | None = None) -> list[str]:
    return [s.name for s in all_services() if (not names or s.name in names) and s.stop()]


def status() -> list[tuple[str, str, int | None, bool]]:
    return [(s.name, s.address, s.pid(), s.healthy()) for s in all_services()]


def env_exports() -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": Kafka(services_dir()).address,
        "ELASTICSEARCH_URL": Elasticsearch(services_dir()).address,
        "TILTS_DATABASE_URL": Postgres(services_dir()).address,
    }
