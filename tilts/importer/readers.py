"""Reading files of records: the format from the name, the input (gzip, stdin),
JSON lines and CSV with the line each record starts on."""

from __future__ import annotations

import csv
import gzip
import json
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tilts.importer.mapping import FORMATS, ImportFailed, Mapping

MAX_FIELD_CHARS = 16 * 1024 * 1024  # one CSV field; the bus's message limit is 16 MB


STDIN = "-"


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
def open_input(name: str) -> Iterator[tuple[Iterable[bytes], int | None]]:
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
                yield _Counting(unzipped, raw), size
        else:
            yield raw, size
    finally:
        raw.close()


class _Counting:
    """Iterate the decompressed lines; ``tell`` reports the compressed position."""

    def __init__(self, inner: Iterable[bytes], outer: IO[bytes]) -> None:
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
            yield Record(start, dict(zip(self.header, row, strict=True)), text)


def _sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","
