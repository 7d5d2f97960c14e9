"""LocalBus: the embedded bus, an append-only log in one SQLite file.

Safe across processes: crawls run as child processes and append to the same
file while the normalizer and indexer read it. SQLite's WAL mode lets readers
proceed during writes; appends take the write lock (``BEGIN IMMEDIATE``) so
offsets are assigned without gaps or races.

Each topic has a single partition (partition 0): ordering per key follows.
Consumer groups keep committed offsets in the ``offsets`` table. The embedded
mode runs one member per group; scaling out is what Kafka is for.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from pipeline.bus.base import BusError, Headers, Message, as_key_bytes
from pipeline.events import ALL_TOPICS
from pipeline.sqlite_files import open_wal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    topic TEXT NOT NULL,
    "offset" INTEGER NOT NULL,
    key BLOB,
    value BLOB,
    headers TEXT NOT NULL DEFAULT '[]',
    ts_ms INTEGER NOT NULL,
    PRIMARY KEY (topic, "offset")
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS offsets (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    "offset" INTEGER NOT NULL,
    PRIMARY KEY (grp, topic)
);
CREATE TABLE IF NOT EXISTS topics (
    topic TEXT PRIMARY KEY,
    next_offset INTEGER NOT NULL DEFAULT 0
);
"""


def _connect(path: Path, schema: bool = False) -> sqlite3.Connection:
    def setup(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA synchronous=NORMAL")
        if schema:
            conn.executescript(_SCHEMA)

    return open_wal(path, setup, autocommit=True, threads=True)


def _encode_headers(headers: Headers | None) -> str:
    return json.dumps([[k, v.decode("latin-1")] for k, v in (headers or [])])


def _decode_headers(text: str) -> Headers:
    return [(k, v.encode("latin-1")) for k, v in json.loads(text)]


class LocalBus:
    """The embedded bus. ``path`` is the SQLite file; ``prefix`` namespaces topics."""

    def __init__(self, path: Path | str, prefix: str = "") -> None:
        self.path = Path(path)
        self.prefix = prefix
        self._lock = threading.Lock()
        self._pending: list[tuple[str, bytes | None, bytes | None, str, int]] = []
        try:
            self._conn = _connect(self.path, schema=True)
        except sqlite3.Error as exc:
            raise BusError(f"cannot open embedded bus at {self.path}: {exc}") from exc

    def _t(self, topic: str) -> str:
        return self.prefix + topic

    def ensure_topics(self) -> None:
        with self._lock:
            for topic in ALL_TOPICS:
                self._conn.execute(
                    "INSERT OR IGNORE INTO topics(topic, next_offset) VALUES (?, 0)", (self._t(topic),)
                )

    def publish(
        self, topic: str, key: str | bytes | None, value: bytes | None, headers: Headers | None = None,
        partition: int | None = None,
    ) -> None:
        if partition not in (None, 0):
            raise BusError(f"the embedded bus has one partition per topic, not {partition}")
        with self._lock:
            self._pending.append(
                (self._t(topic), as_key_bytes(key), value, _encode_headers(headers), int(time.time() * 1000))
            )
            if len(self._pending) >= 500:
                self._flush_locked()

    def flush(self, timeout: float = 30.0) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._pending:
            return
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for topic, key, value, headers, ts in self._pending:
                    conn.execute("INSERT OR IGNORE INTO topics(topic, next_offset) VALUES (?, 0)", (topic,))
                    (offset,) = conn.execute(
                        "UPDATE topics SET next_offset = next_offset + 1 WHERE topic = ? "
                        "RETURNING next_offset - 1",
                        (topic,),
                    ).fetchone()
                    conn.execute(
                        'INSERT INTO messages(topic, "offset", key, value, headers, ts_ms) '
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (topic, offset, key, value, headers, ts),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise BusError(f"embedded bus write failed ({self.path}): {exc}") from exc
        self._pending.clear()

    def consumer(self, group: str, topics: list[str]) -> LocalConsumer:
        return LocalConsumer(self.path, group, [self._t(t) for t in topics], self.prefix)

    def end_offsets(self, topic: str) -> dict[int, int]:
        row = self._conn.execute(
            "SELECT next_offset FROM topics WHERE topic = ?", (self._t(topic),)
        ).fetchone()
        return {0: row[0] if row else 0}

    def partition_count(self, topic: str) -> int:
        return 1

    def replay(self, topic: str, partition: int) -> Iterator[Message]:
        self.flush()
        end = self.end_offsets(topic)[0]
        position = 0
        conn = _connect(self.path)
        try:
            while position < end:
                rows = conn.execute(
                    'SELECT "offset", key, value, headers, ts_ms FROM messages '
                    'WHERE topic = ? AND "offset" >= ? AND "offset" < ? ORDER BY "offset" LIMIT 1000',
                    (self._t(topic), position, end)).fetchall()
                if not rows:
                    return
                for offset, key, value, headers, ts in rows:
                    yield Message(topic, 0, offset, key, value, _decode_headers(headers), ts)
                position = rows[-1][0] + 1
        finally:
            conn.close()

    def committed(self, group: str, topic: str) -> dict[int, int]:
        """The group's committed position per partition (consumer lag = end - committed)."""
        row = self._conn.execute('SELECT "offset" FROM offsets WHERE grp = ? AND topic = ?',
                                 (group, self._t(topic))).fetchone()
        return {0: row[0]} if row else {}

    def compact(self, topic: str) -> int:
        """Keep only the newest message per key (log compaction); returns rows removed."""
        with self._lock:
            cur = self._conn.execute(
                'DELETE FROM messages WHERE topic = ?1 AND key IS NOT NULL AND "offset" < '
                '(SELECT MAX(m2."offset") FROM messages m2 WHERE m2.topic = ?1 AND m2.key = messages.key)',
                (self._t(topic),),
            )
            return cur.rowcount

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._conn.close()


class LocalConsumer:
    def __init__(self, path: Path, group: str, topics: list[str], prefix: str) -> None:
        self._conn = _connect(path)
        self._group = group
        self._topics = topics
        self._prefix = prefix
        self._positions: dict[str, int] = {}
        for topic in topics:
            row = self._conn.execute(
                'SELECT "offset" FROM offsets WHERE grp = ? AND topic = ?', (group, topic)
            ).fetchone()
            self._positions[topic] = row[0] if row else 0

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while True:
            out: list[Message] = []
            for topic in self._topics:
                if len(out) >= max_records:
                    break
                rows = self._conn.execute(
                    'SELECT "offset", key, value, headers, ts_ms FROM messages '
                    'WHERE topic = ? AND "offset" >= ? ORDER BY "offset" LIMIT ?',
                    (topic, self._positions[topic], max_records - len(out)),
                ).fetchall()
                logical = topic[len(self._prefix):]
                for offset, key, value, headers, ts in rows:
                    out.append(Message(logical, 0, offset, key, value, _decode_headers(headers), ts))
                if rows:
                    self._positions[topic] = rows[-1][0] + 1
            if out or time.monotonic() >= deadline:
                return out
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def commit(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for topic, offset in self._positions.items():
                self._conn.execute(
                    'INSERT INTO offsets(grp, topic, "offset") VALUES (?, ?, ?) '
                    'ON CONFLICT(grp, topic) DO UPDATE SET "offset" = excluded."offset"',
                    (self._group, topic, offset),
                )
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._conn.close()
