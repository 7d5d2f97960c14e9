"""The source records as their sources published them, read straight from the
files in ``../shared/data`` (never through the normalizer): what judging reads."""

from __future__ import annotations

import ast
import csv
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from pipeline.events import opportunity_id

ROOT = Path(__file__).resolve().parents[2]

DEFAULT_DATA = ROOT.parent / "shared" / "data"


EVAL_NOW = datetime(2026, 8, 22, 6, 0, tzinfo=UTC)  # = devtools.corpus.FETCHED


ESC_FILE = "esc-opportunities-2026-08.json"
HAMBURG_FILE = "hamburg-ehrenamt.csv"
NYC_FILE = "nyc-service-volunteer-opportunities.csv"
DATA_FILES = (ESC_FILE, HAMBURG_FILE, NYC_FILE)
SOURCE_IDS = {"esc": "european-youth-portal", "hamburg": "hamburg-freiwilligenagenturen", "nyc": "nyc-service"}
ESC_COUNTRY_FIX = {"EL": "GR", "UK": "GB"}  # EU codes in the ESC data


def fold(text: str | None) -> str:
    """Lowercase without diacritics ("Rīga" → "riga", "Ö" → "o"), for judging only."""
    text = unicodedata.normalize("NFKD", (text or "").casefold())
    return "".join(c for c in text if not unicodedata.combining(c)).replace("ß", "ss")


@dataclass
class Record:
    """One source record as the source published it (the fields judging reads)."""

    id: str  # the tilts id the same record gets (opportunity_id(source_id, external_id))
    source: str  # esc, hamburg, nyc
    open: bool
    title: str
    country: str | None = None  # None: unknown
    places: list[str] = field(default_factory=list)  # folded town / district / city names
    topics: list[str] = field(default_factory=list)  # ESC topics, NYC category
    activity_type: str | None = None
    days: int | None = None  # end - start, when the source gives both
    description: str = ""  # folded


def _ham_city(plz: str, ortsteil: str) -> tuple[str | None, list[str]]:
    """(country, places) of a Hamburg CSV row from its postcode and district."""
    plz = plz.strip()
    places = [fold(ortsteil)] if ortsteil.strip() else []
    if re.fullmatch(r"\d{5}", plz):
        n = int(plz)
        if 20095 <= n <= 21149 or 22041 <= n <= 22769:  # the city of Hamburg's postcodes
            places.append("hamburg")
        return "DE", places
    if re.fullmatch(r"\d{4}", plz):
        return None, places  # a Swiss or Austrian postcode: not judged as Germany
    return "DE", places  # no postcode: a Hamburg agency's listing, in Germany


def _days(start: str | None, end: str | None) -> int | None:
    try:
        return (date.fromisoformat(end) - date.fromisoformat(start)).days if start and end else None
    except ValueError:
        return None


def load_records(data: Path) -> dict[str, Record]:
    """Every record of the three source files, keyed by its tilts id."""
    today = EVAL_NOW.date().isoformat()
    return {r.id: r for r in (*_esc_records(data, today), *_hamburg_records(data), *_nyc_records(data, today))}


def _esc_records(data: Path, today: str) -> list[Record]:
    out = []
    for o in json.loads((data / ESC_FILE).read_text(encoding="utf-8"))["opportunities"]:
        deadline, end = o.get("deadline"), o.get("end_date")
        rid = opportunity_id(SOURCE_IDS["esc"], str(o["opid"]))
        code = (o.get("country") or "").upper()
        out.append(Record(
            id=rid, source="esc", title=o.get("title") or "",
            open=bool((o.get("title") or "").strip()) and (not deadline or deadline >= today)
            and (not end or end >= today),
            country=ESC_COUNTRY_FIX.get(code, code) or None, places=[fold(o.get("town"))],
            topics=list(o.get("topics") or []), activity_type=o.get("activity_type"),
            days=_days(o.get("start_date"), end),
        ))
    return out


def _hamburg_records(data: Path) -> list[Record]:
    out = []
    with (data / HAMBURG_FILE).open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f, delimiter=";"):
            if not row.get("_angebotsId"):
                continue
            rid = opportunity_id(SOURCE_IDS["hamburg"], row["_angebotsId"])
            country, places = _ham_city(row.get("plz") or "", row.get("ortsteil") or "")
            out.append(Record(
                id=rid, source="hamburg", title=row.get("angebotsname") or "",
                open=bool((row.get("angebotsname") or "").strip()),  # no dates: listed = open
                country=country, places=places,
                description=fold(re.sub(r"<[^>]+>", " ", row.get("beschreibung") or "")),
            ))
    return out


_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december"]


def _nyc_date(text: str) -> str | None:
    m = re.fullmatch(r"([A-Za-z]+) (\d{1,2}) (\d{4})", (text or "").strip())
    if not m or m[1].lower() not in _MONTHS:
        return None
    return date(int(m[3]), _MONTHS.index(m[1].lower()) + 1, int(m[2])).isoformat()


def _nyc_records(data: Path, today: str) -> list[Record]:
    out = []
    with (data / NYC_FILE).open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            rid = opportunity_id(SOURCE_IDS["nyc"], row["opportunity_id"])
            places = [fold(row.get("Borough")).strip()]
            try:
                loc = ast.literal_eval(row["locality"]) if row.get("locality") else {}
                places.append(fold(json.loads(loc.get("human_address", "{}")).get("city")))
            except (ValueError, SyntaxError):
                pass
            start, end = _nyc_date(row.get("start_date_date", "")), _nyc_date(row.get("end_date_date", ""))
            last = end or start
            out.append(Record(
                id=rid, source="nyc", title=row.get("title") or "",
                open=bool((row.get("title") or "").strip()) and (last is None or last >= today),
                country="US", places=[p for p in places if p] + ["new york"],
                topics=[row["category_desc"]] if row.get("category_desc") else [],
                days=_days(start, end), description=fold(row.get("summary")),
            ))
    return out
