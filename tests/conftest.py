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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from pipeline.bus import Bus, open_bus
from pipeline.bus.kafka import delete_topics
from pipeline.events import Location, Opportunity, Organisation, Provenance, Theme
from search.backends import SearchBackend, open_backend

REQUIRE = os.environ.get("REQUIRE_SERVICES") == "1"


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
    if REQUIRE:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


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


def make_opportunity(
    n: int,
    *,
    title: str = "Volunteer",
    country: str | None = "LV",
    city: str | None = "Riga",
    themes: tuple[Theme, ...] = (Theme.community,),
    description: str = "Help people in your community.",
    language: str = "en",
    org: str = "Red Cross",
) -> Opportunity:
    seen = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=n)
    return Opportunity(
        id=f"test-{n}",
        cluster_id=f"test-{n}",
        source_id="test",
        external_id=str(n),
        url=f"https://example.org/o/{n}",
        title=title,
        summary=description[:100],
        description_text=description,
        description_html=f"<p>{description}</p>",
        language=language,
        organisation=Organisation(name=org),
        locations=[Location(country=country, city=city)] if country else [],
        themes=list(themes),
        provenance=Provenance(first_seen=seen, last_seen=seen, content_hash=f"h{n}"),
    )


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


class SmtpSink:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""

    def __init__(self, delay: float = 0.0) -> None:
        import email
        import email.policy
        import threading

        from aiosmtpd.controller import Controller

        self.messages: list = []
        self._lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                if delay:
                    import asyncio

                    await asyncio.sleep(delay)
                msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
                with sink._lock:
                    sink.messages.append(msg)
                return "250 OK"

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def received(self, subject_contains: str = "") -> list:
        with self._lock:
            return [m for m in self.messages if subject_contains in str(m["Subject"])]

    def stop(self) -> None:
        if getattr(self, "_stopped", False):
            return
        self._stopped = True
        self.controller.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    yield sink
    sink.stop()


def wait_until(check, timeout: float, what: str, every: float = 0.3) -> None:
    """Poll ``check`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def stop_processes(procs, timeout: float = 20.0) -> None:
    """SIGTERM each still-running process, SIGKILL it if it does not exit in time."""
    import signal
    import subprocess

    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
