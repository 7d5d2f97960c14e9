"""A listing's detail page says what it is in schema.org JSON-LD (a
``JobPosting`` with ``employmentType: VOLUNTEER``, the form volunteering
portals and search engines read), so other aggregators and search engines can
read tilts as tilts reads the sources. Only normalized fields go in; the JSON
is escaped so no value can close the script element."""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup

from pipeline.events import web_url

MAX_DESCRIPTION = 5000  # characters of plain text


def job_posting(o: dict[str, Any]) -> dict[str, Any]:
    """The schema.org JobPosting of a normalized opportunity (its JSON form)."""
    node: dict[str, Any] = {
        "@context": "https://schema.org", "@type": "JobPosting", "employmentType": "VOLUNTEER",
        "identifier": o["id"], "title": o["title"],
        "url": web_url(o.get("apply_url")) or web_url(o.get("url")),  # never a script: or data: link
        "datePosted": (o.get("provenance") or {}).get("first_seen", "")[:10] or None,
        "validThrough": o.get("deadline"), "startDate": o.get("start_date"), "endDate": o.get("end_date"),
        "description": (o.get("description_text") or o.get("summary") or "")[:MAX_DESCRIPTION] or None,
        "inLanguage": o.get("language"),
    }
    organisation = (o.get("organisation") or {}).get("name")
    if organisation:
        node["hiringOrganization"] = {"@type": "Organization", "name": organisation}
    places = [_place(loc) for loc in o.get("locations") or []]
    if places:
        node["jobLocation"] = places if len(places) > 1 else places[0]
    if o.get("work_mode") == "remote":
        node["jobLocationType"] = "TELECOMMUTE"
    return {k: v for k, v in node.items() if v not in (None, "", [])}


def _place(loc: dict[str, Any]) -> dict[str, Any]:
    address = {k: v for k, v in (("addressLocality", loc.get("city")), ("addressRegion", loc.get("region")),
                                 ("postalCode", loc.get("postal_code")), ("addressCountry", loc.get("country"))) if v}
    place: dict[str, Any] = {"@type": "Place", "address": {"@type": "PostalAddress", **address}}
    geo = loc.get("geo") or {}
    if geo.get("lat") is not None and geo.get("lon") is not None:
        place["geo"] = {"@type": "GeoCoordinates", "latitude": geo["lat"], "longitude": geo["lon"]}
    return place


def json_ld(o: dict[str, Any]) -> Markup:
    """The ``<script type="application/ld+json">`` element, safe inside HTML."""
    text = json.dumps(job_posting(o), ensure_ascii=False, separators=(",", ":"))
    text = text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return Markup(f'<script type="application/ld+json">{text}</script>')
