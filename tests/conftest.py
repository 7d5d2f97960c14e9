"""Shared fixtures: real services (Kafka, Elasticsearch) and both backends.

Kafka and Elasticsearch come from ``KAFKA_BOOTSTRAP_SERVERS`` and
``ELASTICSEARCH_URL`` (``./scripts/test`` starts them with ``tilts services``).
When one is absent, its tests skip with the reason; under
``REQUIRE_SERVICES=1`` (CI) they fail instead. Every test gets its own topic
prefix and index alias, so tests never see each other's data.
"""

from __future__ import annotations

import os
import socket
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from pipeline.bus import Bus, open_bus
from pipeline.bus.kafka import delete_topics
from search.backends import SearchBackend, open_backend
from tests.support.services import unavailable
from tests.support.smtp import SmtpSink


def _reachable(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((host, port)) == 0


def _need(env: str, default_port: int) -> str:
    value = os.environ.get(env)
    if not value:
        reason = f"{env} is not set (start services with `tilts services up`)"
    else:
        first = value.split(",")[0]
        parsed = urlparse(first if "://" in first else f"tcp://{first}")
        if _reachable(parsed.hostname or "127.0.0.1", parsed.port or default_port):
            return value
        reason = f"{env}={value} is not reachable"
    unavailable(reason)


# The markers say which real services a test talks to (``-m "not kafka"``, ...),
# set from the fixtures it uses and the backends it is parametrized with.
SERVICE_MARKERS = {
    "kafka": ({"kafka_servers"}, {"kafka"}),
    "elasticsearch": ({"es_url"}, {"elasticsearch"}),
    "postgres": ({"postgres_url"}, {"postgres"}),
    "browser": ({"browser"}, set()),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        params = set(map(str, getattr(getattr(item, "callspec", None), "params", {}).values()))
        for marker, (needs, values) in SERVICE_MARKERS.items():
            if fixtures & needs or params & values:
                item.add_marker(marker)


@pytest.fixture(scope="session")
def kafka_servers() -> str:
    return _need("KAFKA_BOOTSTRAP_SERVERS", 9092)


@pytest.fixture(scope="session")
def es_url() -> str:
    return _need("ELASTICSEARCH_URL", 9200)


class _Leftovers:
    """Deletes what a test created on the shared services under its name.

    Tests name their topics, indices and index templates after ``unique``;
    without this, every run of the suite left them on the developer's broker
    and node (thousands of topics after a few runs, each slowing the broker).
    Cleaning up never fails a test; what could not be deleted is a warning.
    """

    def __init__(self) -> None:
        self._es: Any = None
        self._kafka: Any = None
        self._failed: set[str] = set()  # a service once unreachable is not waited for again

    def drop(self, name: str) -> None:
        es_url, servers = os.environ.get("ELASTICSEARCH_URL"), os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if es_url and "es" not in self._failed:
            try:
                from elasticsearch import Elasticsearch, NotFoundError

                self._es = self._es or Elasticsearch(es_url, request_timeout=30)
                # by name: wildcard deletes may be refused (destructive_requires_name)
                for index in self._es.indices.get(index=f"{name}*", allow_no_indices=True):
                    self._es.indices.delete(index=index, ignore_unavailable=True)
                try:
                    found = self._es.indices.get_index_template(name=f"{name}*")["index_templates"]
                except NotFoundError:
                    found = []
                for template in found:
                    self._es.indices.delete_index_template(name=template["name"])
            except Exception as exc:
                self._failed.add("es")
                warnings.warn(f"test indices {name}* left on {es_url}: {exc!r}", stacklevel=1)
        if servers and "kafka" not in self._failed:
            try:
                self._drop_topics(servers, name)
            except Exception as exc:
                self._failed.add("kafka")
                warnings.warn(f"test topics {name}* left on {servers}: {exc!r}", stacklevel=1)

    def _drop_topics(self, servers: str, name: str) -> None:
        from kafka import KafkaAdminClient

        for attempt in (1, 2):  # a broker restarted by the test broke the old connection
            try:
                self._kafka = self._kafka or KafkaAdminClient(
                    bootstrap_servers=servers, client_id="tilts-tests", request_timeout_ms=15000)
                delete_topics(servers, name, self._kafka)
                return
            except Exception:
                if self._kafka is not None:
                    self._kafka.close()
                    self._kafka = None
                if attempt == 2:
                    raise

    def close(self) -> None:
        for client in (self._es, self._kafka):
            if client is not None:
                client.close()


@pytest.fixture(scope="session")
def _leftovers() -> Iterator[_Leftovers]:
    cleaner = _Leftovers()
    yield cleaner
    cleaner.close()


@pytest.fixture
def unique(_leftovers: _Leftovers) -> Iterator[str]:
    name = f"t{uuid.uuid4().hex[:10]}"
    yield name
    _leftovers.drop(name)


@pytest.fixture(params=["local", "kafka"])
def bus(request: pytest.FixtureRequest, tmp_path: Path, unique: str) -> Iterator[Bus]:
    if request.param == "kafka":
        servers = request.getfixturevalue("kafka_servers")
        b = open_bus(f"kafka://{servers}", prefix=f"{unique}.", partitions=3)
    else:
        b = open_bus(f"sqlite:///{tmp_path / 'bus.sqlite3'}", prefix=f"{unique}.")
    b.ensure_topics()
    yield b
    b.close()


@pytest.fixture(params=["sqlite", "elasticsearch"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, unique: str) -> Iterator[SearchBackend]:
    if request.param == "elasticsearch":
        url = request.getfixturevalue("es_url")
        be = open_backend(url, alias=unique)
    else:
        be = open_backend(f"sqlite:///{tmp_path / 'search.sqlite3'}")
    be.setup()
    yield be
    be.close()  # ``unique`` deletes its indices and template


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Expose each phase's report on the item (browser tests screenshot failures)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return _need("POSTGRES_URL", 5432)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, unique: str) -> Iterator[str]:
    """A fresh, empty database: SQLite in tmp, or a new database on the real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tilts.sqlite3'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(request.getfixturevalue("postgres_url"))
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{unique}"'))
    yield server.set(database=unique).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{unique}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    yield sink
    sink.stop()


