"""The European Youth Portal as the tests serve it: search API bodies, API
records, saved detail pages, and raw events as the spider publishes them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pipeline.events import RawOpportunity
from tests.support.fixture_site import FIXTURES

PAGES = FIXTURES / "eyp"
SEARCH = "/api/rest/eyp/v1/search_en"
FETCHED = datetime(2026, 8, 22, 6, tzinfo=UTC)


def page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def api_record(opid: int, **extra: Any) -> dict[str, Any]:
    base = {"opid": opid, "title": f"Opportunity {opid}", "town": "Jesenice", "country": "SI",
            "date_start": "2026-10-07", "date_end": "2026-10-21", "has_no_deadline": False,
            "topics": ["Environment and natural protection"], "created": "2026-08-01T10:00:00"}
    return {**base, **extra}


def search_body(records: list[dict[str, Any]], offset: int, size: int) -> str:
    hits = [{"_id": str(r["opid"]), "_source": r} for r in records[offset:offset + size]]
    return json.dumps({"hits": {"total": {"value": len(records), "relation": "eq"}, "hits": hits}})


def raw(fields: dict[str, Any]) -> RawOpportunity:
    fields = {k: v for k, v in fields.items() if not k.startswith("_")}
    return RawOpportunity.model_validate({
        "source_id": "european-youth-portal", "crawl_id": "t", "fetched_at": FETCHED,
        "extraction_method": "api", "programme": "European Solidarity Corps",
        "source_language": "en", **fields})
