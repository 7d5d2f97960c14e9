"""The two real corpora the replay serves, read as published.

- European Solidarity Corps opportunities (European Youth Portal, CC BY 4.0):
  ``esc-opportunities-2026-08.json``, gathered on 2026-08-22.
- NYC Service volunteer opportunities (NYC Open Data):
  ``nyc-service-volunteer-opportunities.csv``.

Gzipped copies are bundled in ``devtools/replay/data/`` (source and licence in its
README). Every function takes an optional path, so the benchmarks can read the
same files from ``../shared/data`` (``devtools/corpus.py`` uses these parsers).
"""

from __future__ import annotations

import ast
import csv
import gzip
import io
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("data")
ESC_FILE = "esc-opportunities-2026-08.json"
NYC_FILE = "nyc-service-volunteer-opportunities.csv"
# The day the ESC records were gathered (their ``source_date``).
ESC_SNAPSHOT = date(2026, 8, 22)


def _read_text(path: Path | None, name: str) -> str:
    """``path`` (plain or ``.gz``), or the bundled gzipped copy of ``name``."""
    path = path or DATA / f"{name}.gz"
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8-sig")


def esc_records(path: Path | None = None) -> list[dict[str, Any]]:
    """The ESC opportunity records as published (``opid``, ``title``, ``location``,
    ``country``, ``town``, ``activity_type``, ``start_date``, ``end_date``,
    ``deadline``, ``eligible_countries``, ``topics``, ``project_code``, ``created``, ``url``)."""
    return list(json.loads(_read_text(path, ESC_FILE))["opportunities"])


def nyc_rows(path: Path | None = None) -> list[dict[str, str]]:
    """The NYC Service rows as published (41 columns, every value a string)."""
    return list(csv.DictReader(io.StringIO(_read_text(path, NYC_FILE), newline="")))


@dataclass(frozen=True)
class NycPlace:
    """What a NYC Service row's ``locality`` says: a Python-dict string with
    ``latitude``, ``longitude`` and a JSON ``human_address``."""

    latitude: str | None = None
    longitude: str | None = None
    address: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None


def nyc_place(row: dict[str, str]) -> NycPlace:
    try:
        loc = ast.literal_eval(row["locality"]) if row.get("locality") else {}
        human = json.loads(loc.get("human_address", "{}"))
    except (ValueError, SyntaxError):
        return NycPlace()
    return NycPlace(latitude=loc.get("latitude") or None, longitude=loc.get("longitude") or None,
                    address=(human.get("address") or "").strip() or None,
                    city=(human.get("city") or "").strip() or None,
                    state=(human.get("state") or "").strip() or None,
                    zip=(human.get("zip") or "").strip() or None)


def nyc_date(value: str | None) -> date | None:
    """``January 22 2011`` (the file's date form) → a date."""
    try:
        return datetime.strptime((value or "").strip(), "%B %d %Y").date()
    except ValueError:
        return None


def iso_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat((value or "")[:10])
    except ValueError:
        return None
