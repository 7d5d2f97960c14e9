"""Opening the project's SQLite files when several processes open them at once.

Two scheduled crawls that start together on a fresh data directory both open
the embedded bus and create its tables. Switching a new file to WAL needs an
exclusive lock, and when two connections both wait for one SQLite answers
``database is locked`` at once instead of calling the busy handler (it would
deadlock otherwise). So the set-up is tried again, with a short random pause,
until ``timeout`` seconds have passed; after that the error is raised.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def open_wal(path: Path, setup: Callable[[sqlite3.Connection], None] | None = None, *,
             timeout: float = 30.0, autocommit: bool = False, threads: bool = False) -> sqlite3.Connection:
    """A connection to ``path`` in WAL mode, with ``setup`` (schema, pragmas) run on it.

    The file's folder is created. ``autocommit``: no implicit transactions
    (``isolation_level=None``); ``threads``: usable from other threads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        conn = sqlite3.connect(str(path), timeout=timeout, check_same_thread=not threads,
                               isolation_level=None if autocommit else "DEFERRED")
        try:
            conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            conn.execute("PRAGMA journal_mode=WAL")
            if setup is not None:
                setup(conn)
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(random.uniform(0.01, 0.1))
        except BaseException:
            conn.close()
            raise
