"""Leader election in the database: only one scheduler acts at a time.

A lease row per lock name (``tilts_locks``): the holder renews it every
``lease / 3`` seconds; another process takes it over only once the lease has
run out (the holder died or lost the database). Works the same on SQLite and
PostgreSQL, which is what the job store runs on.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from storage.db import locks, utcnow


class LeaderLock:
    def __init__(self, engine: Engine, name: str = "scheduler", lease: float = 30.0,
                 holder: str | None = None) -> None:
        self.engine = engine
        self.name = name
        self.lease = timedelta(seconds=lease)
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    def try_acquire(self) -> bool:
        """Take or renew the lease; True while this process is the leader."""
        now = utcnow()
        with self.engine.begin() as conn:
            renewed = conn.execute(
                update(locks)
                .where(locks.c.name == self.name,
                       or_(locks.c.holder == self.holder, locks.c.expires_at < now))
                .values(holder=self.holder, expires_at=now + self.lease)
            ).rowcount
            if renewed:
                return True
            try:
                with conn.begin_nested():
                    conn.execute(insert(locks).values(name=self.name, holder=self.holder,
                                                      expires_at=now + self.lease))
                return True
            except IntegrityError:
                return False

    def release(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(locks).where(locks.c.name == self.name, locks.c.holder == self.holder)
                         .values(expires_at=utcnow() - timedelta(seconds=1)))

    def current_holder(self) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(locks.c.holder, locks.c.expires_at)
                               .where(locks.c.name == self.name)).first()
        return row[0] if row else None
