"""``volunteer_connector``: the Volunteer Connector open API: ``/api/search/`` pages
(``{count, next, results: [...]}``), following ``next`` until it is null.

Shapes from what is publicly known about the API (../shared/data/README.md);
fields beyond those are read when present. A source with ``api_key_env`` gets
its key from that environment variable in the crawl's process; without it the
registry lists the source as disabled and it is never crawled.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

from scrapy.http import Response

from crawlers.parsing import (
    Fields,
    Result,
    absolute_url,
    as_dict,
    first_present,
    load_json,
    name_of,
    names_of,
    structured_of,
    text_of,
    yes_no,
)
from crawlers.spider import KeyedSpider

# A published date range ("Jan. 5, 2026 - Feb. 1, 2026", "5 January 2026 to 6
# January 2026"), a year, and what looks like a date rather than a word or a time.
_RANGE = r"\s+(?:-|–|—|to|until|au)\s+"
_YEAR = r"\b(?:19|20|21)\d{2}\b"
_MONTH = (r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|janv|févr|fevr|mars|avr|mai|juin"
          r"|juil|août|aout|déc)[^\W\d_]*\.?")
_DATEISH = (r"\b\d{4}-\d{1,2}-\d{1,2}|\b\d{1,2}[./]\d{1,2}[./]\d{2,4}\b"
            rf"|\b{_MONTH}\s+\d{{1,2}}\b|\b\d{{1,2}}(?:er)?\.?\s+{_MONTH}")


def date_span(value: Any) -> tuple[str | None, str | None, str | None]:
    """A partner's ``dates`` → (start, end, words), each as published.

    ``"Jan. 5, 2026 - Feb. 1, 2026"`` → both ends (the end's year is carried to a
    start written without one: ``"Jan. 5 - Feb. 1, 2026"``); one date → a
    one-day start and end (a time range after it stays out); ``{start, end}``
    objects → their values; words (``"Ongoing"``, ``"Flexible"``) → the third.
    """

    if isinstance(value, dict):
        start = text_of(first_present(value.get("start"), value.get("start_date"), value.get("from")))
        end = text_of(first_present(value.get("end"), value.get("end_date"), value.get("to")))
        return start, end, None
    text = text_of(value)
    if text is None:
        return None, None, None
    parts = [p.strip(" ,") for p in re.split(_RANGE, text, maxsplit=1, flags=re.IGNORECASE)]
    if len(parts) == 2 and re.search(_DATEISH, parts[0], re.IGNORECASE):
        start, end = parts
        if not re.search(_DATEISH, end, re.IGNORECASE):  # "April 15, 2024 9:00 a.m. - 5:00 p.m.": one day
            return start, start, None
        year = re.search(_YEAR, end)
        if year and not re.search(_YEAR, start):
            start = f"{start}, {year.group(0)}"
        return start, end, None
    if re.search(_DATEISH, text, re.IGNORECASE):
        return text, text, None
    return None, None, text


def volunteer_connector_fields(result: dict[str, Any], url: str) -> Fields:
    """One Volunteer Connector result → RawOpportunity fields.

    ``dates`` → start/end (or ``duration_text`` for "Ongoing"); ``audience``
    (scope local/regional/national, regions, countries, latitude/longitude) →
    places; ``remote_or_online`` → remote; organization name/url (logo kept).
    """
    ident = result["id"]
    organization = as_dict(result.get("organization"))
    audience = as_dict(result.get("audience"))
    activities = result.get("activities")
    if not isinstance(activities, list):
        activities = []
    regions = names_of(audience.get("regions"))
    countries = names_of(audience.get("countries"), audience.get("country"))
    scope = text_of(audience.get("scope"))
    regional = scope == "regional" and len(regions) == 1
    start, end, words = date_span(first_present(result.get("dates"), {k: result.get(k) for k in
                                                             ("start_date", "end_date") if result.get(k)}))
    remote = yes_no(result.get("remote_or_online"))
    if remote is None and scope and scope.lower() in {"remote", "online", "virtual"}:
        remote = True
    logo = organization.get("logo")
    return {
        "external_id": str(ident),
        "url": absolute_url(result.get("url"), url) or urljoin(url, f"/opportunities/{ident}/"),
        "title": text_of(result.get("title")),
        "description_html": text_of(result.get("description")),
        "organisation_name": name_of(organization) or name_of(result.get("organization")),
        "organisation_url": absolute_url(organization.get("url"), url),
        "remote": "true" if remote else None,
        "categories": names_of(activities, [a.get("category") for a in activities if isinstance(a, dict)]),
        "start_date": start,
        "end_date": end,
        "duration_text": words,
        # A regional audience names provinces or states ("Alberta"), a local one places.
        "location_text": None if regional else ", ".join(regions) or (
            ", ".join(countries) if scope == "national" else None),
        "region": regions[0] if regional else None,
        "country": countries[0] if len(countries) == 1 else None,
        "latitude": text_of(audience.get("latitude")),
        "longitude": text_of(audience.get("longitude")),
        "posted_date": text_of(first_present(result.get("created"), result.get("created_at"))),
        "updated_date": text_of(first_present(result.get("updated"), result.get("updated_at"),
                                     result.get("modified"))),
        "structured": structured_of(
            audience_scope=scope, audience_regions=regions, audience_countries=countries,
            activities=[{k: a.get(k) for k in ("name", "category") if a.get(k)}
                        for a in activities if isinstance(a, dict)],
            organisation_logo_url=absolute_url(logo.get("url") if isinstance(logo, dict) else logo, url),
            time_commitment=text_of(result.get("duration")),
            dates=text_of(result.get("dates")) if isinstance(result.get("dates"), str) else None,
        ),
        "_method": "api",
    }


def parse_volunteer_connector(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """Volunteer Connector ``/api/search/``: ``{count, next, results: [...]}``."""
    data, errors = load_json(body, url)
    if data is None:
        return [], errors
    items = []
    for result in data.get("results") or [] if isinstance(data, dict) else []:
        if not isinstance(result, dict) or result.get("id") in (None, ""):
            errors.append(f"result without id in {url}")
            continue
        items.append(volunteer_connector_fields(result, url))
    return items, errors


def volunteer_connector_next(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data.get("next") if isinstance(data, dict) else None


class VolunteerConnectorSpider(KeyedSpider):
    """``/api/search/`` pages, following ``next`` until it is null."""

    name = "volunteer_connector"

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        yield from self.emit(response, parse_volunteer_connector(response.body, response.url,
                                                                 self.options))
        following = volunteer_connector_next(response.body)
        if following:
            yield response.follow(following, callback=self.parse)
