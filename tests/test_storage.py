"""Processes that start together on a new database all get their tables.

``tilts run``'s workers or a compose stack's services may each open the
scheduler database first: each saw a table missing and created it, and all
but one failed ("table already exists", PostgreSQL's duplicate type, SQLite's
"database is locked"). Real processes, the real SQLite file and PostgreSQL."""

from __future__ import annotations

import multiprocessing

from sqlalchemy import inspect

from storage.db import connect, metadata

ROUNDS = 6
PROCESSES = 3


def _connect_when_told(url: str, go) -> str | None:  # type: ignore[no-untyped-def]
    go.wait()
    try:
        connect(url).dispose()
    except Exception as exc:  # reported to the test, which names it
        return f"{type(exc).__name__}: {exc}"[:300]
    return None


def test_processes_starting_together_on_a_new_database_all_start(database_url: str) -> None:
    failures: list[str] = []
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(PROCESSES) as pool:
        for round_ in range(ROUNDS):
            url = database_url.replace("tilts.sqlite3", f"tilts-{round_}.sqlite3")
            go = manager.Event()
            pending = [pool.apply_async(_connect_when_told, (url, go)) for _ in range(PROCESSES)]
            go.set()
            failures += [f for f in (p.get(timeout=120) for p in pending) if f]
            engine = connect(url)
            assert set(inspect(engine).get_table_names()) >= set(metadata.tables)
            if "postgresql" in url:
                metadata.drop_all(engine)  # a new database again for the next round
            engine.dispose()
    assert failures == []
