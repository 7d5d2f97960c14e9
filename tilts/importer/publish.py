"""Validating records against the event contract and publishing the good ones
to the raw topic (``tilts import``)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from pipeline.bus import Bus, BusError, retrying
from pipeline.events import (
    RAW_TOPIC,
    InvalidEvent,
    RawOpportunity,
    opportunity_id,
    parse_event,
)
from tilts.importer.mapping import ImportFailed, Mapping, RecordError, Say, empty
from tilts.importer.readers import STDIN, CsvReader, Record, guess_format, open_input, read_jsonl

DEFAULT_EXTRACTION_METHOD = "api"
FLUSH_EVERY = 1000  # records held for re-publishing until the bus acknowledges them


@dataclass
class ImportReport:
    name: str
    crawl_id: str
    records: int = 0
    published: int = 0
    bad: int = 0
    duplicates: int = 0  # records whose key came earlier in the file: the last one wins
    seconds: float = 0.0
    dry_run: bool = False
    # opportunity id → (bus key, line) of each listing published (the last record of a key)
    listings: dict[str, tuple[str, int]] = field(default_factory=dict)

    def summary(self) -> str:
        verb = "valid (nothing published: --dry-run)" if self.dry_run else f"published to {RAW_TOPIC}"
        parts = [f"{self.name}: {self.published} {verb}", f"{self.bad} bad"]
        if self.duplicates:
            parts.append(f"{self.duplicates} repeated keys (the last record wins)")
        return ", ".join(parts) + f"; {self.records} records in {self.seconds:.1f}s (crawl id {self.crawl_id})"


def new_crawl_id(now: datetime) -> str:
    return f"import-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


class Importer:
    """Validate records and publish the good ones to the raw topic.

    ``bus`` None (a dry run) only validates. ``say`` gets one line per bad
    record; ``rejects`` (a binary file) gets each bad record's original bytes
    (for CSV after the header), to fix and import again.
    """

    def __init__(self, bus: Bus | None, *, source_id: str | None = None, crawl_id: str | None = None,
                 fetched_at: datetime | None = None, say: Say = print,
                 rejects: IO[bytes] | None = None, retry_seconds: float = 120.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.bus = bus
        self.fetched_at = fetched_at or datetime.now(UTC)
        self.crawl_id = crawl_id or new_crawl_id(self.fetched_at)
        self.source_id = source_id
        self.say = say
        self.rejects = rejects
        self.retry_seconds = retry_seconds
        self._sleep = sleep
        self._unacked: list[tuple[str, bytes, list[tuple[str, bytes]]]] = []
        self._keys: set[str] = set()

    def run(self, name: str, *, fmt: str | None = None, mapping: Mapping | None = None,
            progress: Callable[[int, int], None] | None = None) -> ImportReport:
        """Import ``name`` (a path or ``-``); ``progress(position, records)`` as it goes."""
        started = time.monotonic()
        fmt = guess_format(name, fmt, mapping)
        shown = "<stdin>" if name == STDIN else name
        report = ImportReport(shown, self.crawl_id, dry_run=self.bus is None)
        default_source = self.source_id or (mapping.source_id if mapping else None)
        with open_input(name) as (stream, _size):
            records: Iterable[Record]
            if fmt == "csv":
                reader = CsvReader(stream, delimiter=mapping.delimiter if mapping else None,
                                   encoding=mapping.encoding if mapping else "utf-8",
                                   tsv=name.lower().removesuffix(".gz").endswith(".tsv"))
                records = reader
                if reader.header:
                    mapping = mapping or Mapping.for_header(reader.header, self.say, shown)
                    mapping.check_header(reader.header, shown)
                    if "source_id" not in mapping.fields and not default_source:
                        raise ImportFailed(f"{shown}: no source_id column is mapped; "
                                           "give --source-id (or source_id in the mapping)")
                    if self.rejects is not None:
                        self.rejects.write(reader.header_bytes)
            else:
                records = read_jsonl(stream, mapping.encoding if mapping else "utf-8")
            position = getattr(stream, "tell", None)
            for record in records:
                report.records += 1
                self._one(record, mapping, default_source, shown, report)
                if progress is not None:
                    progress(_tell(position), report.records)
            self._flush()
        report.seconds = time.monotonic() - started
        return report

    def _one(self, record: Record, mapping: Mapping | None, default_source: str | None, name: str,
             report: ImportReport) -> None:
        try:
            if record.error is not None or record.data is None:
                raise RecordError(record.error or "unreadable")
            data = mapping.apply(record.data) if mapping is not None else dict(record.data)
            raw = self._validate(data, default_source)
        except (RecordError, InvalidEvent) as exc:
            report.bad += 1
            reason = str(exc).removeprefix("RawOpportunity: ")
            self.say(f"{name}:{record.line}: {reason}")
            if self.rejects is not None:
                self.rejects.write(record.text if record.text.endswith(b"\n") else record.text + b"\n")
            return
        key = raw.key
        if key in self._keys:
            report.duplicates += 1
        self._keys.add(key)
        report.listings[opportunity_id(raw.source_id, raw.external_id)] = (key, record.line)
        report.published += 1
        if self.bus is not None:
            self._publish(key, raw.to_bytes(), raw.headers())

    def _validate(self, data: dict[str, Any], default_source: str | None) -> RawOpportunity:
        if empty(data.get("source_id")):
            if not default_source:
                raise RecordError("no source_id (give --source-id)")
            data["source_id"] = default_source
        if empty(data.get("crawl_id")):
            data["crawl_id"] = self.crawl_id
        if empty(data.get("fetched_at")):
            data["fetched_at"] = self.fetched_at.isoformat()
        if empty(data.get("extraction_method")):
            data["extraction_method"] = DEFAULT_EXTRACTION_METHOD
        try:
            payload = json.dumps(data, ensure_ascii=False, default=str)
        except (TypeError, ValueError) as exc:
            raise RecordError(f"not serializable: {exc}") from exc
        return parse_event(RawOpportunity, payload)

    def _publish(self, key: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        assert self.bus is not None
        self._unacked.append((key, value, headers))
        self._retrying(lambda: self.bus.publish(RAW_TOPIC, key, value, headers))  # type: ignore[union-attr]
        if len(self._unacked) >= FLUSH_EVERY:
            self._flush()

    def _flush(self) -> None:
        """Everything published is acknowledged; what the bus lost is published again."""
        if self.bus is None or not self._unacked:
            return
        bus = self.bus

        def attempt() -> None:
            try:
                bus.flush()
            except BusError:
                for key, value, headers in self._unacked:  # at least once: duplicates are harmless
                    bus.publish(RAW_TOPIC, key, value, headers)
                raise

        self._retrying(attempt)
        self._unacked.clear()

    def _retrying(self, action: Callable[[], None]) -> None:
        try:
            retrying(action, self.retry_seconds, sleep=self._sleep,
                     on_retry=lambda exc, delay: self.say(f"bus unavailable ({exc}); retrying in {delay:.1f}s"))
        except BusError as exc:
            raise BusError(f"{exc} (gave up after {self.retry_seconds:.0f}s; records not "
                           "acknowledged may be missing: import the file again, it is idempotent)") from exc


def _tell(position: Callable[[], int] | None) -> int:
    if position is None:
        return 0
    try:
        return position()
    except (OSError, ValueError):
        return 0
