"""The bus: one interface, two backends, chosen by URL scheme.

``open_bus("kafka://host:9092[,host2:9092]")`` gives a :class:`KafkaBus`,
``open_bus("sqlite:///path/bus.sqlite3")`` a :class:`LocalBus`.
"""

from __future__ import annotations

from pipeline.bus.base import Bus, BusError, Consumer, Headers, Message

__all__ = ["Bus", "BusError", "Consumer", "Headers", "Message", "open_bus"]


def open_bus(url: str, prefix: str = "", partitions: int = 6) -> Bus:
    scheme, _, rest = url.partition("://")
    if scheme == "kafka":
        from pipeline.bus.kafka import KafkaBus

        return KafkaBus(rest, prefix=prefix, partitions=partitions)
    if scheme == "sqlite":
        from pipeline.bus.local import LocalBus

        # SQLAlchemy's convention: sqlite:///relative/path, sqlite:////absolute/path
        return LocalBus(rest[1:] if rest.startswith("/") else rest, prefix=prefix)
    raise BusError(f"unknown bus URL scheme {scheme!r} in {url!r} (expected kafka:// or sqlite:///)")
