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
    assert set(tilts_services) == {"scheduler", "normalizer", "indexer", "api"}
    for name, svc in tilts_services.items():
        sub = svc["command"][0]
        assert sub in commands, f"{name}: `tilts {sub}` does not exist"
        ctx = commands[sub].make_context(f"tilts {sub}", list(svc["command"][1:]))
        assert ctx is not None
        assert svc["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert svc["environment"]["ELASTICSEARCH_URL"] == "http://elasticsearch:9200"
        assert svc["environment"]["TILTS_DATABASE_URL"].startswith("postgresql+psycopg://tilts:tilts@postgres:")
        assert svc["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_versions_match_the_services_script() -> None:
    svcs = compose()["services"]
    assert svcs["kafka"]["image"] == f"apache/kafka:{services.KAFKA_VERSION}"
    assert svcs["elasticsearch"]["image"].endswith(f"/elasticsearch:{services.ELASTICSEARCH_VERSION}")
    assert svcs["elasticsearch"]["environment"]["xpack.security.enabled"] == "false"


def test_dockerfile_copies_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("tilts", "pipeline", "crawlers", "search", "scheduler"):
        assert f"COPY {package} ./{package}" in dockerfile
