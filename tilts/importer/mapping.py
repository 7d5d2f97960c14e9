"""Column mappings: how the columns of a CSV file (or the keys of JSON records)
become RawOpportunity fields, and the errors of an import."""

from __future__ import annotations

import ast
import json
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_origin

from pipeline.events import (
    RawOpportunity,
)

FORMATS = ("jsonl", "csv")
LIST_FIELDS = frozenset(name for name, info in RawOpportunity.model_fields.items()
                        if get_origin(info.annotation) is list)  # categories, eligible_countries


MAX_LITERAL_CHARS = 100_000  # a column parsed as JSON or a Python literal (``path``)


Say = Callable[[str], None]


class ImportFailed(ValueError):
    """The import cannot start (a bad mapping, an unknown format, a header
    missing mapped columns): one clear message, nothing published."""


class RecordError(ValueError):
    """One record cannot be published; the message is the reason shown."""


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
        if self.path and not empty(value):
            value = _dig(value, self.path, self.column)
        if self.split is not None and isinstance(value, str):
            value = [part for part in (p.strip() for p in value.split(self.split)) if part]
        return value


def empty(value: Any) -> bool:
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
        if empty(value):
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
                if not empty(value):
                    out[name] = _as_field(name, value)
                    break
        if self.keep_row:
            out["structured"] = {k: v for k, v in row.items() if k is not None and not empty(v)}
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
        return [text(v) for v in (value if isinstance(value, list) else [value]) if not empty(v)]
    return text(value)
