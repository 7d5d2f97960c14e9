"""schema.org structured data on a page (JSON-LD, Microdata, RDFa) → RawOpportunity
fields (pure functions, no Scrapy).

Handles ``JobPosting`` (volunteer postings are JobPostings with
``employmentType: VOLUNTEER``), ``VolunteerAction`` and ``Event``, found at
the top level, in lists or inside ``@graph``, with ``Organization`` and
``Place`` context. Values are kept as strings: interpretation is the
normalizer's job. The ``schemaorg`` platform reads pages with these, and the
``feed`` platform an entry's page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import extruct

from crawlers.parsing import Fields, Result

OPPORTUNITY_TYPES = {"JobPosting", "VolunteerAction", "Event"}


class MalformedJsonLd(ValueError):
    """A JSON-LD block on the page is not valid JSON."""


def jsonld_blocks(html: str, base_url: str) -> tuple[list[Any], list[str]]:
    """All JSON-LD objects on a page, plus an error message per broken block.

    extruct parses the page; when one block is broken it raises for the whole
    page, so we then fall back to block-by-block parsing to keep the good ones.
    """
    try:
        data = extruct.extract(html, base_url=base_url, syntaxes=["json-ld"], errors="strict")
        return list(data.get("json-ld", [])), []
    except (ValueError, TypeError):
        pass
    good: list[Any] = []
    errors: list[str] = []
    for i, text in enumerate(_script_blocks(html)):
        try:
            good.append(json.loads(text))
        except json.JSONDecodeError as exc:
            errors.append(f"JSON-LD block {i + 1}: {exc.msg} at line {exc.lineno} column {exc.colno}")
    return good, errors


_SCRIPT = re.compile(
    r"<script[^>]*type=[\"']application/ld\+json[\"'][^>]*>(.*?)</script>", re.IGNORECASE | re.DOTALL
)


def _script_blocks(html: str) -> list[str]:
    return [m.group(1).strip() for m in _SCRIPT.finditer(html)]


def _types(node: dict[str, Any]) -> set[str]:
    t = node.get("@type", [])
    types = t if isinstance(t, list) else [t]
    return {str(x).rsplit("/", 1)[-1] for x in types}


def iter_opportunities(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for item in data:
            yield from iter_opportunities(item)
    elif isinstance(data, dict):
        if _types(data) & OPPORTUNITY_TYPES:
            yield data
        elif "@graph" in data:
            yield from iter_opportunities(data["@graph"])


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return _text(value.get("name") or value.get("@value") or value.get("value") or value.get("url"))
    if isinstance(value, list):
        parts = [p for p in (_text(v) for v in value) if p]
        return ", ".join(parts) if parts else None
    text = str(value).strip()
    return text or None


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _place_fields(place: Any) -> dict[str, str | None]:
    place = _first(place)
    if isinstance(place, str):
        return {"location_text": place}
    if not isinstance(place, dict):
        return {}
    if "VirtualLocation" in _types(place):
        return {"remote": "true"}
    address = place.get("address") or {}
    out: dict[str, str | None] = {"location_text": _text(place.get("name"))}
    if isinstance(address, str):
        out["location_text"] = address
    elif isinstance(address, dict):
        out.update(
            country=_text(address.get("addressCountry")),
            region=_text(address.get("addressRegion")),
            city=_text(address.get("addressLocality")),
            postal_code=_text(address.get("postalCode")),
        )
    geo = place.get("geo")
    if isinstance(geo, dict):
        out.update(latitude=_text(geo.get("latitude")), longitude=_text(geo.get("longitude")))
    return out


def _organisation(node: dict[str, Any]) -> tuple[str | None, str | None]:
    for key in ("hiringOrganization", "organizer", "agent", "provider", "author"):
        org = _first(node.get(key))
        if isinstance(org, dict):
            return _text(org.get("name")), _text(org.get("url") or org.get("sameAs"))
        if isinstance(org, str):
            return org, None
    return None, None


def _external_id(node: dict[str, Any], page_url: str, index: int) -> str:
    ident = node.get("identifier")
    if isinstance(ident, dict):
        ident = ident.get("value") or ident.get("@value")
    if ident not in (None, ""):
        return str(_first(ident))
    if node.get("@id"):
        return str(node["@id"])
    if node.get("url"):
        return str(node["url"])
    return page_url if index == 0 else f"{page_url}#{index}"


def to_raw_fields(node: dict[str, Any], page_url: str, index: int = 0) -> dict[str, Any]:
    """One schema.org node → the RawOpportunity fields it provides."""
    types = _types(node)
    org_name, org_url = _organisation(node)
    fields: dict[str, Any] = {
        "external_id": _external_id(node, page_url, index),
        "url": _text(node.get("url")) or page_url,
        "title": _text(node.get("title") or node.get("name")),
        "description_html": _text(node.get("description")),
        "organisation_name": org_name,
        "organisation_url": org_url,
        "posted_date": _text(node.get("datePosted")),
        "deadline": _text(node.get("validThrough")),
        "start_date": _text(node.get("jobStartDate") or node.get("startDate") or node.get("startTime")),
        "end_date": _text(node.get("endDate") or node.get("endTime")),
        "updated_date": _text(node.get("dateModified")),
        "employment_type": _text(node.get("employmentType")),
        "places_available": _text(node.get("totalJobOpenings") or node.get("maximumAttendeeCapacity")),
        "structured": node,
    }
    if "Event" in types and not fields["employment_type"]:
        fields["employment_type"] = "VOLUNTEER"
    fields.update(_place_fields(node.get("jobLocation") or node.get("location")))
    if node.get("jobLocationType") == "TELECOMMUTE" or "Online" in str(node.get("eventAttendanceMode", "")):
        fields["remote"] = "true"
    cats = node.get("occupationalCategory") or node.get("keywords") or node.get("industry")
    if isinstance(cats, str):
        fields["categories"] = [c.strip() for c in cats.split(",") if c.strip()]
    elif isinstance(cats, list):
        fields["categories"] = [t for t in (_text(c) for c in cats) if t]
    apply = node.get("applicationContact") or node.get("potentialAction")
    if isinstance(apply, dict):
        target = apply.get("url") or apply.get("target")
        fields["apply_url"] = _text(target.get("urlTemplate") if isinstance(target, dict) else target)
    return {k: v for k, v in fields.items() if v not in (None, "", [])}


# ------------------------------------------------------- Microdata and RDFa


def microdata_rdfa(body: bytes, url: str) -> Result:
    """Microdata and RDFa, converted to JSON-LD-like nodes by extruct."""
    try:
        data = extruct.extract(body, base_url=url, syntaxes=["microdata", "rdfa"], uniform=True)
    except Exception as exc:
        return [], [f"unreadable microdata/RDFa: {exc}"]
    items: list[Fields] = []
    for syntax in ("microdata", "rdfa"):
        nodes = [n for n in data.get(syntax) or [] if isinstance(n, dict)]
        if syntax == "rdfa":
            nodes = _compact_rdfa(nodes)
        for i, node in enumerate(iter_opportunities(nodes)):
            items.append(to_raw_fields(node, url, i) | {"_method": syntax})
    return items, []


def _local(iri: str) -> str:
    return iri.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]


def _compact_rdfa(graph: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """extruct's expanded RDFa graph → JSON-LD-like nodes with schema.org short names."""
    by_id = {n.get("@id"): n for n in graph if n.get("@id")}

    def compact(node: dict[str, Any], depth: int = 0) -> dict[str, Any]:
        out: dict[str, Any] = {"@type": [_local(t) for t in node.get("@type", [])]}
        for key, values in node.items():
            if key.startswith("@") or "schema.org" not in key:
                continue
            resolved = []
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, dict) and "@value" in value:
                    resolved.append(value["@value"])
                elif isinstance(value, dict) and value.get("@id") in by_id and depth < 4:
                    resolved.append(compact(by_id[value["@id"]], depth + 1))
                elif isinstance(value, dict) and "@id" in value:
                    resolved.append(value["@id"])
            out[_local(key)] = resolved[0] if len(resolved) == 1 else resolved
        return out

    return [compact(n) for n in graph if n.get("@type")]
