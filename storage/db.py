"""The scheduler's database: job store, leader lock, subscriptions, digests,
crawl runs and coverage snapshots (SQLAlchemy Core).

``TILTS_DATABASE_URL``: SQLite in the data dir by default (embedded mode);
PostgreSQL in docker compose and in the tests (``postgresql+psycopg://...``).
APScheduler keeps its jobs in the same database (table ``apscheduler_jobs``).
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

metadata = MetaData()


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(name: str, **kw: object) -> Column:
    return Column(name, DateTime(timezone=True), **kw)  # type: ignore[arg-type]


# One row per lock name; the holder renews its lease, another process takes
# the lock only once the lease has run out.
locks = Table(
    "tilts_locks", metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(200), nullable=False),
    _ts("expires_at", nullable=False),
)

# A subscriber: an email, a saved search, a language and a frequency. Nothing
# more personal is stored; deleting the row deletes everything about them.
subscriptions = Table(
    "tilts_subscriptions", metadata,
    Column("id", String(32), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("search", JSON, nullable=False),
    Column("lang", String(5), nullable=False),
    Column("frequency", String(10), nullable=False),  # weekly | daily
    Column("timezone", String(64), nullable=False),
    _ts("created_at", nullable=False),
    _ts("confirmed_at"),
    _ts("last_sent_at"),
)

# Idempotency: one row per (subscription, period), claimed before sending.
digest_sends = Table(
    "tilts_digest_sends", metadata,
    Column("subscription_id", String(32), nullable=False),
    Column("period", String(20), nullable=False),  # e.g. 2026-W48 or 2026-11-25
    Column("status", String(10), nullable=False),  # claimed | sent
    Column("items", Integer, nullable=False, default=0),
    Column("message_id", String(200)),
    _ts("claimed_at", nullable=False),
    _ts("sent_at"),
    UniqueConstraint("subscription_id", "period", name="tilts_digest_once"),
)

# Every opportunity ever sent to a subscriber (never sent twice).
sent_items = Table(
    "tilts_sent_items", metadata,
    Column("subscription_id", String(32), nullable=False),
    Column("opportunity_id", String(300), nullable=False),
    Column("period", String(20), nullable=False),
    UniqueConstraint("subscription_id", "opportunity_id", name="tilts_item_once"),
)

# One row per crawl the scheduler ran: source health and back-off.
crawl_runs = Table(
    "tilts_crawl_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_id", String(100), nullable=False, index=True),
    _ts("started_at", nullable=False),
    _ts("finished_at", nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("exit_code", Integer),
    Column("items", Integer, nullable=False, default=0),
    Column("errors", Integer, nullable=False, default=0),
    Column("duration_seconds", Float, nullable=False, default=0.0),
    Column("message", Text),
    Column("runner", String(200)),  # the scheduler instance that ran it
)

# The facts of each scheduled crawl (one row per tilts_crawl_runs row).
crawl_reports = Table(
    "tilts_crawl_reports", metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=False),  # tilts_crawl_runs.id
    Column("source_id", String(100), nullable=False, index=True),
    _ts("finished_at", nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("has_stats", Boolean, nullable=False, default=False),
    Column("pages", Integer, nullable=False, default=0),
    Column("items", Integer, nullable=False, default=0),
    Column("new", Integer, nullable=False, default=0),
    Column("changed", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("errors", Integer, nullable=False, default=0),
    Column("errors_by_kind", JSON, nullable=False, default=dict),
    Column("reason", Text),
    _ts("next_run"),
    Column("backoff", Boolean, nullable=False, default=False),
    Column("line", Text, nullable=False),
)

# The daily coverage snapshot: counts of open listings per dimension.
coverage_snapshots = Table(
    "tilts_coverage_snapshots", metadata,
    Column("day", String(10), primary_key=True),  # ISO date
    _ts("taken_at", nullable=False),
    Column("counts", JSON, nullable=False),
)


def connect(url: str) -> Engine:
    """An engine with the tables created (idempotent)."""
    engine = create_engine(url, pool_pre_ping=True, future=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn, _record) -> None:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")

    _create_tables(engine)
    return engine


def _create_tables(engine: Engine, attempts: int = 6) -> None:
    """``create_all``, when other processes may be creating the same tables.

    Several processes started together on a new database (``tilts run``'s
    workers, a compose stack's services) each see a table missing and create
    it: all but one fail ("table ... already exists", PostgreSQL's duplicate
    type; SQLite's "database is locked" while the file turns to WAL). Tried
    again, the tables are there and ``create_all`` passes them by; an error
    that stays is raised."""
    for attempt in range(attempts):
        try:
            metadata.create_all(engine)
            return
        except DBAPIError:
            if attempt == attempts - 1:
                raise
            engine.dispose()  # no connection half set up is kept
            time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))
