"""Processes that open a fresh data folder at the same moment all get in.

Two scheduled crawls that start together on a new machine both open the
embedded bus (and their seen-sets, and the search index); before, one of them
could fail at once with ``database is locked`` while the file was being
switched to WAL. Real processes, a real file, many rounds."""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from crawlers.seen import SeenSet
from pipeline.bus.local import LocalBus
from pipeline.events import RAW_TOPIC
from search.backends.sqlite.backend import SqliteBackend

ROUNDS = 12
PROCESSES = 3


def _bus(path: Path, n: int) -> None:
    bus = LocalBus(path)
    bus.ensure_topics()
    bus.publish(RAW_TOPIC, f"k{n}", b"v")
    bus.close()


def _seen(path: Path, n: int) -> None:
    seen = SeenSet(path, f"crawl-{n}")
    seen.observe(f"listing-{n}", {"title": "x"})
    seen.db.commit()
    seen.db.close()


def _index(path: Path, n: int) -> None:
    backend = SqliteBackend(path)
    backend.setup()


def _open_when_told(opener: Callable[[Path, int], None], path: Path, n: int, go) -> str | None:  # type: ignore[no-untyped-def]
    go.wait()
    try:
        opener(path, n)
    except Exception as exc:  # reported to the test, which names it
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.mark.parametrize("opener", [_bus, _seen, _index], ids=["bus", "seen-set", "search-index"])
def test_processes_opening_a_new_file_together_all_succeed(tmp_path: Path, opener: Callable[[Path, int], None]) -> None:
    failures: list[str] = []
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(PROCESSES) as pool:
        for round_ in range(ROUNDS):
            path = tmp_path / f"round-{round_}" / "file.sqlite"
            go = manager.Event()
            pending = [pool.apply_async(_open_when_told, (opener, path, n, go)) for n in range(PROCESSES)]
            go.set()
            failures += [f for f in (p.get(timeout=60) for p in pending) if f]
    assert failures == []


def test_the_bus_keeps_every_message_of_writers_that_opened_it_together(tmp_path: Path) -> None:
    path = tmp_path / "bus.sqlite"
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(PROCESSES) as pool:
        go = manager.Event()
        pending = [pool.apply_async(_open_when_told, (_bus, path, n, go)) for n in range(PROCESSES)]
        go.set()
        assert [p.get(timeout=60) for p in pending] == [None] * PROCESSES
    with sqlite3.connect(path) as conn:
        keys = {k for (k,) in conn.execute("SELECT key FROM messages")}
    assert keys == {f"k{n}".encode() for n in range(PROCESSES)}
