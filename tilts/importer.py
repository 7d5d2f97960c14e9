"""Loading files of listings: ``tilts import`` and ``tilts index --stdin``.

``tilts import FILE`` reads RawOpportunity JSON lines, or CSV with a column
mapping (:class:`Mapping`), validates each record against the event contract
and publishes the good ones to ``opportunities.raw.v1`` exactly as a crawl
does (key ``source_id:external_id``, the event's bytes and headers). A bad
record is never published: it is reported as ``FILE:LINE: reason`` (for CSV
the line the record starts on), optionally copied to a rejects file, and the
command exits 1. It is not dead-lettered: the person importing sees the
reason at once and still has the file to fix and import again (the DLQ is for
unattended stages; ``--rejects`` keeps the bad records for a second run).

Defaults for what a dump usually lacks: ``crawl_id`` an import id
(``import-<UTC time>-<random>``, one per run), ``fetched_at`` the time the
import started, ``source_id`` ``--source-id`` (or the mapping's
``source_id``), ``extraction_method`` ``api``. A record's own values win.

``--wait`` then processes what was published: on the embedded bus it drives
the normalizer and indexer (the worker code ``tilts run`` uses) until their
consumer groups have committed everything up to the end of the raw and then
the normalized topic; on Kafka it watches the running workers' committed
offsets reach those ends, up to a timeout. Either way it then counts how
many of the imported listings the search backend holds.
"""

from __future__ import annotations

import ast
import csv
import gzip
import json
import logging
import os
import secrets
import string
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Self, get_origin

from pipeline.bus import Bus, BusError, retrying
from pipeline.events import (
    NORMALIZED_TOPIC,
    RAW_TOPIC,
    InvalidEvent,
    Opportunity,
    RawOpportunity,
    opportunity_id,
    parse_event,
)

FORMATS = ("jsonl", "csv")
LIST_FIELDS = frozenset(name for name, info in RawOpportunity.model_fields.items()
                        if get_origin(info.annotation) is list)  # categories, eligible_countries
DEFAULT_EXTRACTION_METHOD = "api"
FLUSH_EVERY = 1000  # records held for re-publishing until the bus acknowledges them
MAX_FIELD_CHARS = 16 * 1024 * 1024  # one CSV field; the bus's message limit is 16 MB
MAX_LITERAL_CHARS = 100_000  # a column parsed as JSON or a Python literal (``path``)
STDIN = "-"

Say = Callable[[str], None]


class ImportFailed(ValueError):
    """The import cannot start (a bad mapping, an unknown format, a header
    missing mapped columns): one clear message, nothing published."""


class RecordError(ValueError):
    """One record cannot be published; the message is the reason shown."""


# --------------------------------------------------------------------- mapping


@dataclass(frozen=True)
class Spec:
    """Where one RawOpportunity field comes from in a record."""

    column: str | None = None
    value: Any = None
    template: str | None = None
    path: tuple[str, ...] = ()
    split: str | None = None

    def columns(self) -> list[str]:
        if self.column is not None:
            return [self.column]
        if self.template is not None:
            return [name for _, name, _, _ in string.Formatter().parse(self.template) if name]
        return []

    def get(self, row: dict[str, Any]) -> Any:
        if self.template is not None:
            values = {name: row.get(name) for name in self.columns()}
            if any(v is None or (isinstance(v, str) and not v.strip()) for v in values.values()):
                return None  # a link needs every part
            return self.template.format_map({k: str(v).strip() for k, v in values.items()})
        if self.column is None:
            return self.value
        value = row.get(self.column)
        if self.path and not _empty(value):
            value = _dig(value, self.path, self.column)
        if self.split is not None and isinstance(value, str):
            value = [part for part in (p.strip() for p in value.split(self.split)) if part]
        return value


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _structure(value: Any, column: str) -> Any:
    """A string holding JSON or a Python literal (NYC's ``locality``) → its value."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if len(text) > MAX_LITERAL_CHARS:
        raise RecordError(f"column {column!r}: too long to read as a structure")
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)  # literals only: never evaluates code
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise RecordError(f"column {column!r}: not JSON or a literal ({type(exc).__name__})") from exc


def _dig(value: Any, path: tuple[str, ...], column: str) -> Any:
    for step in path:
        value = _structure(value, column)
        if not isinstance(value, dict):
            raise RecordError(f"column {column!r}: no {step!r} in {type(value).__name__}")
        value = value.get(step)
        if _empty(value):
            return None
    return value


def _spec(field_name: str, raw: Any, where: str) -> list[Spec]:
    """One field's mapping entry → alternatives, the first non-empty wins."""
    if isinstance(raw, str):
        return [Spec(column=raw)]
    if isinstance(raw, list) and raw:
        return [alt for item in raw for alt in _spec(field_name, item, where)]
    if isinstance(raw, dict):
        sources = [k for k in ("column", "value", "template") if k in raw]
        unknown = set(raw) - {"column", "value", "template", "path", "split"}
        if len(sources) != 1 or unknown:
            raise ImportFailed(
                f"{where}: field {field_name!r}: give exactly one of column, value, template"
                + (f" (unknown keys: {', '.join(sorted(unknown))})" if unknown else ""))
        path = raw.get("path") or []
        if isinstance(path, str):
            path = [path]
        if "path" in raw and "column" not in raw:
            raise ImportFailed(f"{where}: field {field_name!r}: path needs a column")
        if "split" in raw and field_name not in LIST_FIELDS:
            raise ImportFailed(f"{where}: field {field_name!r}: split is for list fields "
                               f"({', '.join(sorted(LIST_FIELDS))})")
        spec = Spec(column=raw.get("column"), value=raw.get("value"), template=raw.get("template"),
                    path=tuple(str(p) for p in path), split=raw.get("split"))
        if spec.template is not None:
            try:
                spec.columns()
                spec.template.format_map({c: "" for c in spec.columns()})
            except (ValueError, KeyError, IndexError) as exc:
                raise ImportFailed(f"{where}: field {field_name!r}: bad template: {exc}") from exc
        return [spec]
    raise ImportFailed(f"{where}: field {field_name!r}: expected a column name, a list of "
                       f"alternatives or {{column|value|template: ...}}, not {raw!r}")


@dataclass
class Mapping:
    """How the columns of a CSV file (or the keys of JSON records) become
    RawOpportunity fields. A YAML or JSON file::

        format: csv              # optional; else from the file name
        delimiter: ";"           # optional; else guessed from the header line
        encoding: utf-8          # optional (a BOM is always skipped)
        source_id: my-source     # optional default; --source-id replaces it
        keep_row: false          # true: the whole record in ``structured``
        fields:
          external_id: id                                # a column
          url: {template: "https://example.org/o/{id}"}  # columns in a template
          city: [town, {value: Hamburg}]                 # first non-empty
          latitude: {column: locality, path: [latitude]} # inside JSON / a literal
          categories: {column: tags, split: ","}         # list fields
          source_language: {value: de}                   # a constant

    Without a mapping, columns named like RawOpportunity fields are taken as
    they are (list fields become one-item lists).
    """

    fields: dict[str, list[Spec]] = field(default_factory=dict)
    format: str | None = None
    delimiter: str | None = None
    encoding: str = "utf-8"
    source_id: str | None = None
    keep_row: bool = False
    identity: bool = False  # no mapping given: field name = column name

    @classmethod
    def load(cls, path: Path) -> Mapping:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ImportFailed(f"{path}: {exc.strerror or exc}") from exc
        if path.suffix.lower() == ".json":
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise ImportFailed(f"{path}: not valid JSON: {exc}") from exc
        else:
            import yaml

            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ImportFailed(f"{path}: not valid YAML: {exc}") from exc
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: Any, where: str = "mapping") -> Mapping:
        if not isinstance(data, dict) or not isinstance(data.get("fields"), dict):
            raise ImportFailed(f"{where}: expected an object with a 'fields' object")
        unknown = set(data) - {"format", "delimiter", "encoding", "source_id", "keep_row", "fields"}
        if unknown:
            raise ImportFailed(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        known = RawOpportunity.model_fields
        fields: dict[str, list[Spec]] = {}
        for name, raw in data["fields"].items():
            if name not in known or name in ("schema_version", "structured"):
                raise ImportFailed(f"{where}: {name!r} is not a RawOpportunity field "
                                   f"(fields: {', '.join(_field_names())})")
            fields[name] = _spec(name, raw, where)
        fmt = data.get("format")
        if fmt is not None and fmt not in FORMATS:
            raise ImportFailed(f"{where}: format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        delimiter = data.get("delimiter")
        if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
            raise ImportFailed(f"{where}: delimiter must be one character, not {delimiter!r}")
        encoding = str(data.get("encoding") or "utf-8")
        try:
            "a\n".encode(encoding)
            if "\n".encode(encoding) != b"\n":
                raise LookupError("not ASCII-compatible")
        except LookupError as exc:
            raise ImportFailed(f"{where}: encoding {encoding!r}: {exc} "
                               "(line-based encodings only, e.g. utf-8, cp1252, latin-1)") from exc
        source_id = data.get("source_id")
        return cls(fields=fields, format=fmt, delimiter=delimiter, encoding=encoding,
                   source_id=str(source_id) if source_id else None, keep_row=bool(data.get("keep_row")))

    @classmethod
    def for_header(cls, header: list[str], say: Say, name: str) -> Mapping:
        """No mapping file: the columns that are RawOpportunity fields, as they are."""
        names = set(_field_names())
        used = [c for c in header if c in names]
        unused = [c for c in header if c not in names]
        if unused:
            say(f"{name}: columns not used (no mapping; not RawOpportunity fields): {', '.join(unused)}")
        return cls(fields={c: [Spec(column=c)] for c in used}, identity=True)

    def columns(self) -> set[str]:
        return {c for specs in self.fields.values() for s in specs for c in s.columns()}

    def check_header(self, header: list[str], name: str) -> None:
        missing = sorted(self.columns() - set(header))
        if missing:
            raise ImportFailed(f"{name}: the mapping names columns the header does not have: "
                               f"{', '.join(missing)} (columns: {', '.join(header)})")

    def apply(self, row: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, specs in self.fields.items():
            for spec in specs:
                value = spec.get(row)
                if not _empty(value):
                    out[name] = _as_field(name, value)
                    break
        if self.keep_row:
            out["structured"] = {k: v for k, v in row.items() if k is not None and not _empty(v)}
        return out


def _field_names() -> list[str]:
    return [n for n in RawOpportunity.model_fields if n not in ("schema_version", "structured")]


def _as_field(name: str, value: Any) -> Any:
    """A mapped value as the contract wants it: strings, lists of strings."""
    def text(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) if isinstance(
            v, (dict, list)) else str(v)

    if name in LIST_FIELDS:
        return [text(v) for v in (value if isinstance(value, list) else [value]) if not _empty(v)]
    return text(value)


# --------------------------------------------------------------------- reading


@dataclass
class Record:
    line: int  # where the record starts (1-based)
    data: dict[str, Any] | None  # None when unreadable
    text: bytes  # the original bytes, for --rejects
    error: str | None = None


def guess_format(name: str, given: str | None, mapping: Mapping | None) -> str:
    if given:
        if given not in FORMATS:
            raise ImportFailed(f"--format must be one of {', '.join(FORMATS)}, not {given!r}")
        return given
    if mapping is not None and mapping.format:
        return mapping.format
    suffixes = [s.lower() for s in Path(name).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    last = suffixes[-1] if suffixes else ""
    if last in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if last in (".csv", ".tsv"):
        return "csv"
    if name == STDIN:
        return "csv" if mapping is not None else "jsonl"
    raise ImportFailed(f"{name}: cannot tell the format from the name; give --format jsonl or csv")


@contextmanager
def open_input(name: str) -> Iterator[tuple[IO[bytes], int | None]]:
    """The file (or stdin for ``-``) as bytes, and its size when known."""
    if name == STDIN:
        yield sys.stdin.buffer, None
        return
    path = Path(name)
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise ImportFailed(f"{name}: {exc.strerror or exc}") from exc
    size = os.fstat(raw.fileno()).st_size
    try:
        if name.lower().endswith(".gz"):
            with gzip.open(raw) as unzipped:
                yield _Counting(unzipped, raw), size  # type: ignore[arg-type]
        else:
            yield raw, size
    finally:
        raw.close()


class _Counting:
    """Iterate the decompressed lines; ``tell`` reports the compressed position."""

    def __init__(self, inner: IO[bytes], outer: IO[bytes]) -> None:
        self._inner, self._outer = inner, outer

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._inner)

    def tell(self) -> int:
        return self._outer.tell()


def read_jsonl(stream: Iterable[bytes], encoding: str = "utf-8") -> Iterator[Record]:
    for n, line in enumerate(stream, 1):
        if n == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if not line.strip():
            continue
        try:
            data = json.loads(line.decode(encoding))
        except UnicodeDecodeError as exc:
            yield Record(n, None, line, f"not {encoding} (byte {exc.start + 1}: {exc.reason})")
            continue
        except ValueError as exc:
            msg = getattr(exc, "msg", str(exc))
            col = getattr(exc, "colno", None)
            yield Record(n, None, line, f"invalid JSON: {msg}" + (f" at column {col}" if col else ""))
            continue
        if not isinstance(data, dict):
            yield Record(n, None, line, f"not a JSON object but {type(data).__name__}")
            continue
        yield Record(n, data, line)


class CsvReader:
    """CSV records with the line each starts on and its original bytes.

    Lines are decoded one at a time so that bytes in another encoding mark
    their own record bad instead of stopping the file; quoted fields may span
    lines (the Hamburg descriptions do)."""

    def __init__(self, stream: Iterable[bytes], *, delimiter: str | None, encoding: str,
                 tsv: bool = False) -> None:
        self._stream = iter(stream)
        self._encoding = encoding
        self._line = 0
        self._pending: list[bytes] = []
        self._bad_lines: list[tuple[int, str]] = []
        self._first: str | None = self._next_line()
        if delimiter is None:
            delimiter = "\t" if tsv else _sniff_delimiter(self._first or "")
        self.delimiter = delimiter
        csv.field_size_limit(MAX_FIELD_CHARS)
        self._reader = csv.reader(self._lines(), delimiter=delimiter)
        self.header: list[str] = []
        try:
            row = next(self._reader)
        except StopIteration:
            row = []
        except csv.Error as exc:
            raise ImportFailed(f"line 1: the header is unreadable: {exc}") from exc
        if self._bad_lines:
            raise ImportFailed(f"the header is not {encoding} ({self._bad_lines[0][1]})")
        self.header = [h.strip() for h in row]
        self.header_bytes = b"".join(self._pending)  # the rejects file starts with it
        self._consumed = self._reader.line_num
        self._pending = []

    def _next_line(self) -> str | None:
        try:
            raw = next(self._stream)
        except StopIteration:
            return None
        self._line += 1
        self._pending.append(raw)
        if self._line == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            return raw.decode(self._encoding)
        except UnicodeDecodeError as exc:
            self._bad_lines.append((self._line, f"byte {exc.start + 1}: {exc.reason}"))
            return raw.decode(self._encoding, "replace")

    def _lines(self) -> Iterator[str]:
        if self._first is None:
            return
        yield self._first
        while (line := self._next_line()) is not None:
            yield line

    def __iter__(self) -> Iterator[Record]:
        while True:
            start = self._consumed + 1
            try:
                row = next(self._reader)
                error = None
            except StopIteration:
                return
            except csv.Error as exc:
                row, error = [], f"unreadable CSV: {exc}"
            self._consumed = self._reader.line_num
            text = b"".join(self._pending)
            self._pending = []
            bad = [f"{'' if line == start else f'line {line} '}not {self._encoding} ({detail})"
                   for line, detail in self._bad_lines]
            self._bad_lines = []
            if not row and error is None:
                continue  # a blank line
            if error is None and bad:
                error = bad[0]
            if error is None and len(row) != len(self.header):
                error = (f"{len(row)} fields where the header has {len(self.header)}"
                         + (" (an unclosed quote?)" if len(row) < len(self.header) else ""))
            if error is not None:
                yield Record(start, None, text, error)
                continue
            yield Record(start, dict(zip(self.header, row)), text)


def _sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


# -------------------------------------------------------------------- publishing


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
        if _empty(data.get("source_id")):
            if not default_source:
                raise RecordError("no source_id (give --source-id)")
            data["source_id"] = default_source
        if _empty(data.get("crawl_id")):
            data["crawl_id"] = self.crawl_id
        if _empty(data.get("fetched_at")):
            data["fetched_at"] = self.fetched_at.isoformat()
        if _empty(data.get("extraction_method")):
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


# ------------------------------------------------------------------------ waiting


class WaitTimeout(RuntimeError):
    """The running workers did not catch up in time."""


def _behind(bus: Bus, group: str, topic: str, targets: dict[int, int]) -> int:
    """Messages below ``targets`` that ``group`` has not committed yet."""
    done = bus.committed(group, topic)
    return sum(max(0, end - done.get(p, 0)) for p, end in targets.items())


Progress = Callable[[str, int, int], None]  # (stage, done, total)


def drive_embedded(bus: Bus, backend: Any, *, processes: int = 1, progress: Progress | None = None,
                   stall_seconds: float = 300.0) -> dict[str, int]:
    """Run the normalizer, then the indexer (``tilts run``'s workers, in this
    process) until each group has committed everything written to its topic
    so far. Returns messages processed per stage."""
    from pipeline.indexer import GROUP as INDEX_GROUP
    from pipeline.indexer import make_indexer
    from pipeline.normalizer import GROUP as NORMALIZE_GROUP
    from pipeline.normalizer import make_normalizer

    counts: dict[str, int] = {}
    stages = (
        ("normalize", NORMALIZE_GROUP, RAW_TOPIC, lambda: make_normalizer(bus, processes=processes)),
        ("index", INDEX_GROUP, NORMALIZED_TOPIC, lambda: make_indexer(bus, backend)),
    )
    for stage, group, topic, make in stages:
        targets = bus.end_offsets(topic)
        total = _behind(bus, group, topic, targets)
        if progress is not None:
            progress(stage, 0, total)
        if total == 0:
            counts[stage] = 0
            continue
        worker = make()
        try:
            last_change = time.monotonic()
            left = total
            while left:
                if worker.run_once(timeout=0.5):
                    last_change = time.monotonic()
                now_left = _behind(bus, group, topic, targets)
                if now_left != left:
                    last_change = time.monotonic()
                left = now_left
                if progress is not None:
                    progress(stage, total - left, total)
                if left and time.monotonic() - last_change > stall_seconds:
                    raise WaitTimeout(f"the {stage} stage made no progress for {stall_seconds:.0f}s "
                                      f"({left} messages left)")
            counts[stage] = worker.processed
        finally:
            worker.close()
    backend.refresh()
    return counts


def wait_for_workers(bus: Bus, raw_targets: dict[int, int], *, timeout: float,
                     progress: Progress | None = None, poll: float = 1.0,
                     clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait until the running normalizer has committed the raw topic up to
    ``raw_targets`` and then the running indexer everything the normalizer
    wrote by then (their consumer groups' committed offsets); WaitTimeout after
    ``timeout`` seconds in all."""
    from pipeline.indexer import GROUP as INDEX_GROUP
    from pipeline.normalizer import GROUP as NORMALIZE_GROUP

    deadline = clock() + timeout
    plan = [("normalize", NORMALIZE_GROUP, RAW_TOPIC, raw_targets), ("index", INDEX_GROUP, NORMALIZED_TOPIC, None)]
    for stage, group, topic, targets in plan:
        targets = targets if targets is not None else bus.end_offsets(topic)
        total = _behind(bus, group, topic, targets)
        left = total
        while True:
            if progress is not None:
                progress(stage, total - left, total)
            if not left:
                break
            if clock() >= deadline:
                worker = "tilts normalize" if stage == "normalize" else "tilts index"
                raise WaitTimeout(f"timed out after {timeout:.0f}s: {left} messages on {topic} not yet "
                                  f"processed by group {group} (is `{worker}` running?)")
            sleep(poll)
            left = _behind(bus, group, topic, targets)


def missing_from_index(backend: Any, report: ImportReport) -> list[str]:
    """Ids of the imported listings the search backend does not hold."""
    return [doc_id for doc_id in report.listings if backend.get(doc_id) is None]


def explain_missing(bus: Bus, report: ImportReport, missing: Iterable[str]) -> list[str]:
    """``NAME:LINE: reason`` for each listing not searchable: the reason its dead
    letter gives (the normalizer's or the indexer's), when there is one."""
    from pipeline.dlq import list_letters

    missing = list(missing)
    by_key = {report.listings[doc_id][0]: doc_id for doc_id in missing}  # raw key (normalize letters)
    reasons: dict[str, str] = {}
    for letter in list_letters(bus, limit=sys.maxsize):  # oldest first: the latest reason wins
        doc_id = by_key.get(letter.key or "") or (letter.key if letter.key in report.listings else None)
        if doc_id is not None and letter.stage in ("normalize", "index"):
            reasons[doc_id] = f"dead-lettered by the {letter.stage} stage: {letter.error_message}"
    lines = sorted((report.listings[doc_id][1], doc_id) for doc_id in missing)
    return [f"{report.name}:{line}: {reasons.get(doc_id, 'not in the search index')}" for line, doc_id in lines]


@dataclass
class Waited:
    missing: list[str]  # ``NAME:LINE: reason`` per imported listing not searchable
    seconds: float


def wait_until_searchable(settings: Any, bus: Bus, report: ImportReport, *, timeout: float,
                          bars: Bars | None = None) -> Waited:
    """``tilts import --wait``: on the embedded bus run the normalizer and the
    indexer here until they caught up; on Kafka wait (up to ``timeout``) for
    the running ones. Then check which imported listings the index holds."""
    from search.backends import make_backend

    started = time.monotonic()
    names = {"normalize": "normalizing", "index": "indexing"}

    def progress(stage: str, done: int, total: int) -> None:
        if bars is not None:
            bars.update(names[stage], done, total, f"{done}/{total} messages")

    backend = make_backend(settings)
    backend.setup()
    try:
        if settings.kafka_bootstrap_servers:
            wait_for_workers(bus, bus.end_offsets(RAW_TOPIC), timeout=timeout, progress=progress)
            backend.refresh()
        else:
            n = settings.normalize_processes
            drive_embedded(bus, backend, processes=n if n > 0 else (os.cpu_count() or 1), progress=progress)
        missing = missing_from_index(backend, report)
    finally:
        backend.close()
    return Waited(explain_missing(bus, report, missing) if missing else [], time.monotonic() - started)


# ------------------------------------------------------------------- index --stdin


@dataclass
class IndexReport:
    indexed: int = 0
    bad: int = 0
    lines: int = 0
    seconds: float = 0.0


def index_lines(stream: Iterable[bytes], backend: Any, *, name: str = "<stdin>", say: Say = print,
                batch_size: int = 500) -> IndexReport:
    """Opportunity JSON lines → the search backend, in batches (the last line
    of an id in a batch wins); bad lines and rejected documents reported as
    ``NAME:LINE: reason``."""
    started = time.monotonic()
    report = IndexReport()
    batch: dict[str, tuple[int, Opportunity]] = {}

    def write() -> None:
        if not batch:
            return
        docs = [opp for _, opp in batch.values()]
        for rejected in backend.upsert_many(docs):
            line = batch[rejected.doc_id][0] if rejected.doc_id in batch else 0
            report.bad += 1
            report.indexed -= 1
            say(f"{name}:{line}: rejected by the search backend: {getattr(rejected, 'reason', rejected)}")
        batch.clear()

    for n, line in enumerate(stream, 1):
        if not line.strip():
            continue
        report.lines += 1
        try:
            opp = parse_event(Opportunity, line.strip())
        except InvalidEvent as exc:
            report.bad += 1
            say(f"{name}:{n}: {str(exc).removeprefix('Opportunity: ')}")
            continue
        if opp.id not in batch:
            report.indexed += 1
        batch.pop(opp.id, None)
        batch[opp.id] = (n, opp)
        if len(batch) >= batch_size:
            write()
    write()
    backend.refresh()
    report.seconds = time.monotonic() - started
    return report


# ------------------------------------------------------------------------ progress


class _Lines:
    """A stream for a logging handler that hands each line to ``say``."""

    def __init__(self, say: Say) -> None:
        self._say = say

    def write(self, text: str) -> int:
        if text.strip():
            self._say(text.rstrip("\n"))
        return len(text)

    def flush(self) -> None:
        pass


class Bars:
    """Progress bars on stderr when it is a terminal (rich, which typer brings);
    otherwise nothing. ``say`` prints a line above the bars."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._handlers: list[logging.StreamHandler] = []  # type: ignore[type-arg]

    def __enter__(self) -> Self:
        if self.enabled:
            try:
                from rich.console import Console
                from rich.progress import (
                    BarColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                    TimeRemainingColumn,
                )
            except ImportError:  # typer-slim: no bars, everything else the same
                self.enabled = False
                return self
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                console=Console(stderr=True), transient=False)
            self._progress.start()
            # Log lines (the normalizer's warnings) above the bars, not through them.
            self._handlers = [h for h in logging.getLogger().handlers
                              if isinstance(h, logging.StreamHandler) and h.stream in (sys.stderr, sys.__stderr__)]
            for handler in self._handlers:
                handler.setStream(_Lines(self.say))  # type: ignore[arg-type]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            for handler in self._handlers:
                handler.setStream(sys.stderr)
            self._progress.stop()
            self._progress = None

    def say(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message, markup=False, highlight=False, soft_wrap=True)
        else:
            print(message, file=sys.stderr, flush=True)

    def update(self, name: str, done: int, total: int | None, detail: str) -> None:
        if self._progress is None:
            return
        task = self._tasks.get(name)
        if task is None:
            task = self._tasks[name] = self._progress.add_task(name, total=total, detail=detail)
        self._progress.update(task, completed=done, total=total, detail=detail)


__all__ = [
    "Bars", "ImportFailed", "ImportReport", "Importer", "IndexReport", "Mapping", "WaitTimeout",
    "drive_embedded", "explain_missing", "guess_format", "index_lines", "missing_from_index",
    "wait_for_workers", "wait_until_searchable",
]
