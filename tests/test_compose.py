"""docker-compose.yml cannot run here (no Docker engine); check what can be checked."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.main import get_command

from devtools import services
from tilts.cli import app

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_tilts_service_runs_a_real_subcommand() -> None:
    commands = get_command(app).commands  # type: ignore[attr-defined]
    tilts_services = {n: s for n, s in compose()["services"].items() if s.get("build") == "."}
    assert set(tilts_services) == {"scheduler", "normalizer", "clusterer", "indexer", "api"}
    for name, svc in tilts_services.items():
        sub = svc["command"][0]
        assert sub in commands, f"{name}: `tilts {sub}` does not exist"
        ctx = commands[sub].make_context(f"tilts {sub}", list(svc["command"][1:]))
        assert ctx is not None
        assert svc["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert svc["environment"]["ELASTICSEARCH_URL"] == "http://elasticsearch:9200"
        assert svc["environment"]["TILTS_DATABASE_URL"].startswith("postgresql+psycopg://tilts:tilts@postgres:")
        assert svc["depends_on"]["postgres"] == {"condition": "service_healthy"}
        assert svc["environment"]["TILTS_CLUSTERING"] == "stage"  # every stage agrees


def test_normalizers_scale_out_beside_a_clustering_stage_with_kept_state() -> None:
    svcs = compose()["services"]
    assert svcs["normalizer"]["deploy"]["replicas"] >= 2
    clusterer = svcs["clusterer"]
    assert clusterer["command"] == ["cluster"]
    state = clusterer["environment"]["TILTS_CLUSTER_STATE_DIR"]
    volume, _, mount = clusterer["volumes"][0].partition(":")
    assert mount == state and volume in compose()["volumes"]


def test_versions_match_the_services_script() -> None:
    svcs = compose()["services"]
    assert svcs["kafka"]["image"] == f"apache/kafka:{services.KAFKA_VERSION}"
    assert svcs["elasticsearch"]["image"].endswith(f"/elasticsearch:{services.ELASTICSEARCH_VERSION}")
    assert svcs["elasticsearch"]["environment"]["xpack.security.enabled"] == "false"


def test_dockerfile_copies_every_package() -> None:
    import tomllib

    dockerfile = (ROOT / "Dockerfile").read_text()
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    assert len(packages) >= 9
    for package in (p.rstrip("*") for p in packages):
        assert f"COPY {package} ./{package}" in dockerfile


def cluster() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.cluster.yml").read_text())


def merged(name: str) -> dict:
    """A service as `docker compose -f docker-compose.yml -f docker-compose.cluster.yml` sees it
    (environment and depends_on mappings merge, other keys of the override win)."""
    base, over = compose()["services"].get(name, {}), cluster()["services"].get(name, {})
    out = {**base, **over}
    for key in ("environment", "depends_on"):
        out[key] = {**base.get(key, {}), **over.get(key, {})}
    return out


def test_the_cluster_override_has_the_cluster_of_tilts_services_up() -> None:
    from devtools.services import cluster as local

    services_ = {**compose()["services"], **cluster()["services"]}
    kafkas = sorted(n for n in services_ if n.startswith("kafka"))
    nodes = sorted(n for n in services_ if n.startswith("elasticsearch"))
    assert len(kafkas) == local.KAFKA_NODES and len(nodes) == local.ES_NODES
    voters = {merged(k)["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"] for k in kafkas}
    assert voters == {",".join(f"{i}@{k}:9093" for i, k in enumerate(kafkas, 1))}
    for i, name in enumerate(kafkas, 1):
        env = merged(name)["environment"]
        assert merged(name)["image"] == f"apache/kafka:{services.KAFKA_VERSION}"
        assert env["KAFKA_NODE_ID"] == i and env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        assert (env["KAFKA_DEFAULT_REPLICATION_FACTOR"], env["KAFKA_MIN_INSYNC_REPLICAS"]) == (3, 2)
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 3
    roles = {merged(n)["environment"]["node.name"]: merged(n)["environment"]["node.roles"] for n in nodes}
    assert roles == {"es-1": "master,data,ingest", "es-2": "data,ingest"}  # losing the data node keeps a master
    for name in nodes:
        env = merged(name)["environment"]
        assert merged(name)["image"].endswith(f"/elasticsearch:{services.ELASTICSEARCH_VERSION}")
        assert env["discovery.type"] == "multi-node" and env["discovery.seed_hosts"] == ",".join(nodes)
    want = local.env_exports()
    for name in ("scheduler", "normalizer", "clusterer", "indexer", "api"):
        env = merged(name)["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == ",".join(f"{k}:9092" for k in kafkas)
        assert env["ELASTICSEARCH_URL"] == ",".join(f"http://{n}:9200" for n in nodes)
        for key in ("TILTS_KAFKA_REPLICATION_FACTOR", "TILTS_KAFKA_MIN_INSYNC_REPLICAS", "TILTS_INDEX_REPLICAS"):
            assert str(env[key]) == want[key]
        assert set(merged(name)["depends_on"]) >= {*kafkas, *nodes, "postgres"}
