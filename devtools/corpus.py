"""Realistic RawOpportunity events from real published data.

Sources, mapped field for field as their spiders would: the European Solidarity
Corps listings (European Youth Portal, CC BY 4.0), the Hamburg volunteer
agencies' listings (German HTML descriptions) and NYC Service listings, all in
``../shared/data``; plus the hand-labelled gold set (11 languages, free-text
dates). Without the shared data folder only the gold set is used.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devtools.replay.corpus import ESC_FILE, NYC_FILE, esc_records, nyc_place, nyc_rows
from pipeline.evaluation import load_gold
from pipeline.events import RawOpportunity

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TILTS_SHARED_DATA", ROOT.parent / "shared" / "data"))
FETCHED = datetime(2026, 8, 22, 6, 0, tzinfo=UTC)


def _esc() -> Iterator[RawOpportunity]:
    path = DATA / ESC_FILE
    if not path.exists():
        return
    for o in esc_records(path):
        yield esc_raw(o, "bench", FETCHED)


def esc_raw(o: dict[str, Any], crawl_id: str, fetched_at: datetime) -> RawOpportunity:
    """One European Youth Portal record (``esc_records``) as the API spider publishes it."""
    return RawOpportunity(
        source_id="european-youth-portal", external_id=str(o["opid"]), url=o["url"],
        crawl_id=crawl_id, fetched_at=fetched_at, extraction_method="api",
        programme="European Solidarity Corps", source_language="en", title=o["title"],
        country=o["country"], city=o["town"], location_text=o["location"],
        start_date=o["start_date"], end_date=o["end_date"], deadline=o["deadline"],
        employment_type=o["activity_type"], categories=o["topics"],
        eligible_countries=o.get("eligible_countries") or [],
        posted_date=o["created"], attribution="European Youth Portal, CC BY 4.0",
    )


def _hamburg() -> Iterator[RawOpportunity]:
    path = DATA / "hamburg-ehrenamt.csv"
    if not path.exists():
        return
    with path.open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f, delimiter=";"):
            if not row.get("_angebotsId"):
                continue
            yield RawOpportunity(
                source_id="hamburg-freiwilligenagenturen", external_id=row["_angebotsId"],
                url=f"https://www.hamburg.de/ehrenamt/angebote/{row['_angebotsId']}",
                crawl_id="bench", fetched_at=FETCHED, extraction_method="api",
                source_language="de", default_country="DE", title=row["angebotsname"] or None,
                organisation_name=row["einrichtungsname"], description_html=row["beschreibung"],
                postal_code=row["plz"], city=row["ortsteil"] or "Hamburg",
                latitude=row["latitude"], longitude=row["longitude"],
                posted_date=row["erstellt"], updated_date=row["bearbeitet"],
            )


def _nyc() -> Iterator[RawOpportunity]:
    path = DATA / NYC_FILE
    if not path.exists():
        return
    for row in nyc_rows(path):
        place = nyc_place(row)
        yield RawOpportunity(
            source_id="nyc-service", external_id=row["opportunity_id"],
            url=f"https://www.nycservice.org/opportunities/{row['opportunity_id']}",
            crawl_id="bench", fetched_at=FETCHED, extraction_method="api",
            source_language="en", default_country="US", title=row["title"] or None,
            organisation_name=row["org_title"], description_html=row["summary"],
            city=place.city, region=row["region"], postal_code=row["Postcode"], latitude=place.latitude,
            longitude=place.longitude, start_date=row["start_date_date"], end_date=row["end_date_date"],
            posted_date=row["created_date"], duration_text=row["recurrence_type"],
            categories=[row["category_desc"]] if row["category_desc"] else [],
        )


def realistic_events() -> list[RawOpportunity]:
    gold = [r.raw for r in load_gold(ROOT / "tests" / "gold")]
    return [*_esc(), *_hamburg(), *_nyc(), *gold]


# Where relocated repeats are put (see ``repeated_events``).
_COUNTRIES = ["LV", "EE", "LT", "PL", "DE", "FR", "ES", "IT", "PT", "FI", "SE", "DK", "NL", "BE", "AT",
              "CZ", "SK", "HU", "RO", "BG", "GR", "HR", "SI", "IE", "CY", "MT", "LU"]


def repeated_events(n: int, *, relocate: bool = False) -> list[RawOpportunity]:
    """``n`` events: the corpus (titled records only) repeated, each repeat as
    listings of other sources, so every event is a distinct listing whatever
    the corpus size (4,214 records with ../shared/data, the gold set without).
    With ``relocate`` repeats also move to other countries, so the duplicate
    detector (which rejects pairs in different countries) does not cluster
    them: realistic volumes without unrealistic duplicate clusters."""
    base = [e for e in realistic_events() if e.title and e.title.strip()]
    out = []
    for i, e in enumerate((base * (n // len(base) + 1))[:n]):
        copy = i // len(base)
        update: dict = {"source_id": f"{e.source_id}-{copy}"}
        if copy and relocate:
            update.update(country=_COUNTRIES[copy % len(_COUNTRIES)], default_country=None, city=None,
                          location_text=None, postal_code=None, latitude=None, longitude=None)
        out.append(e.model_copy(update=update))
    return out


def _records(n: int) -> list[dict]:
    path = DATA / "esc-opportunities-2026-08.json"
    base = json.loads(path.read_text(encoding="utf-8"))["opportunities"] if path.exists() else [
        {"opid": 1, "title": "Volunteer", "town": "Rīga", "country": "LV", "start_date": "2027-01-01",
         "end_date": "2027-06-30", "deadline": None, "topics": ["Education and training"]}]
    return [base[i % len(base)] | {"opid": f"{base[i % len(base)]['opid']}-{i}"} for i in range(n)]


def build_site(root: Path, pages: int) -> None:
    """A static site of ``pages`` schema.org JSON-LD listing pages (from the real ESC
    records, repeated) and index pages linking to them, written to ``root``."""
    (root / "o").mkdir(parents=True)
    (root / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    links = []
    for i, rec in enumerate(_records(pages)):
        node = {"@context": "https://schema.org", "@type": "JobPosting", "employmentType": "VOLUNTEER",
                "title": rec["title"], "identifier": str(rec["opid"]),
                "description": f"<p>{rec['title']}: {', '.join(rec.get('topics') or [])}.</p>" * 20,
                "datePosted": "2026-08-01", "validThrough": rec.get("deadline") or "2027-06-30",
                "jobLocation": {"@type": "Place", "address": {"@type": "PostalAddress",
                                "addressLocality": rec.get("town"), "addressCountry": rec.get("country")}},
                "hiringOrganization": {"@type": "Organization", "name": f"Host {i}"}}
        body = (f"<!doctype html><html><head><title>{rec['title']}</title><script type=\"application/ld+json\">"
                f"{json.dumps(node, ensure_ascii=False)}</script></head><body><h1>{rec['title']}</h1>"
                + "<p>Lorem ipsum dolor sit amet.</p>" * 40 + "</body></html>")
        (root / "o" / f"{i}.html").write_text(body, encoding="utf-8")
        links.append(f'<a href="/o/{i}.html">{i}</a>')
    chunks = [links[i:i + 100] for i in range(0, len(links), 100)]
    index = "".join(f'<a href="/list-{n}.html">page {n}</a>' for n in range(len(chunks)))
    (root / "index.html").write_text(f"<html><body>{index}</body></html>")
    for n, chunk in enumerate(chunks):
        (root / f"list-{n}.html").write_text(f"<html><body>{''.join(chunk)}</body></html>")
