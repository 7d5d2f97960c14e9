"""``doit``: the Do-it (UK) API: ``/v1/opportunities`` around each point in
``options.points``, following ``links.next.href`` (the key as a Bearer token).

Shapes from what is publicly known about the API (../shared/data/README.md);
fields beyond those are read when present. A source with ``api_key_env`` gets
its key from that environment variable in the crawl's process; without it the
registry lists the source as disabled and it is never crawled.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import scrapy
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

DOIT_PAGE = "https://do-it.org/opportunities/{id}"


def _largest_image(value: Any, base: str) -> str | None:
    """Do-it's images: ``[{absolute_url, width, height}, ...]`` → the widest one."""
    def width(image: dict[str, Any]) -> float:
        w = image.get("width")
        return w if isinstance(w, int | float) and not isinstance(w, bool) else 0

    images = sorted((i for i in value if isinstance(i, dict)), key=width, reverse=True) \
        if isinstance(value, list) else []
    for image in images:
        link = absolute_url(first_present(image.get("absolute_url"), image.get("url")), base)
        if link:
            return link
    return absolute_url(value, base) if isinstance(value, str) else None


def doit_fields(entry: dict[str, Any], url: str, options: dict[str, Any] | None = None) -> Fields:
    """One Do-it opportunity → RawOpportunity fields.

    ``specific_start_date``/``specific_end_date`` → start/end; the recruiter
    (``for_recruiter``, else ``owner_recruiter``) → organisation name and
    website; ``working_from_home`` → remote; ``places_available``; address,
    city, postcode, ``location`` (admin areas) and lat/lng → places;
    ``interests`` and ``activities`` → categories; ``suitable_for``, status,
    photo and the recruiter's ids → structured.
    """
    ident = entry["id"]
    recruiter = as_dict(first_present(as_dict(entry.get("for_recruiter")), as_dict(entry.get("owner_recruiter")),
                            as_dict(entry.get("recruiter"))))
    location = as_dict(entry.get("location"))
    wfh = yes_no(entry.get("working_from_home"))
    city = text_of(entry.get("city"))
    address = [text_of(entry.get("address_1")), text_of(entry.get("address_2")), city,
               text_of(entry.get("location_name"))]
    seen: list[str] = []
    for part in address:
        part = part.strip(" ,") if part else None
        if part and part.lower() not in (s.lower() for s in seen):
            seen.append(part)
    page = (options or {}).get("page_url", DOIT_PAGE)
    return {
        "external_id": str(ident),
        "url": absolute_url(entry.get("url"), url) or page.format(id=ident),
        "title": text_of(entry.get("title")),
        "description_html": text_of(entry.get("description")),
        "organisation_name": name_of(recruiter) or name_of(entry.get("recruiter_name")),
        "organisation_url": absolute_url(first_present(recruiter.get("website"), recruiter.get("url"),
                                                entry.get("recruiter_url")), url),
        "apply_url": absolute_url(entry.get("apply_url"), url),
        "start_date": text_of(first_present(entry.get("specific_start_date"), entry.get("start_date"))),
        "end_date": text_of(first_present(entry.get("specific_end_date"), entry.get("end_date"))),
        "posted_date": text_of(first_present(entry.get("created_at"), entry.get("created"))),
        "updated_date": text_of(first_present(entry.get("updated_at"), entry.get("updated"))),
        "latitude": text_of(first_present(entry.get("lat"), location.get("lat"))),
        "longitude": text_of(first_present(entry.get("lng"), location.get("lng"))),
        "postal_code": text_of(entry.get("postcode")),
        "city": city,
        "region": text_of(first_present(location.get("admin_2"), location.get("admin_1"))),
        "location_text": ", ".join(seen) or None,
        "places_available": text_of(entry.get("places_available")),
        "remote": "true" if wfh else None,
        "categories": names_of(entry.get("interests"), entry.get("activities")),
        "country": "GB",  # Do-it lists UK opportunities only (its location API is /v1/location/uk)
        "structured": structured_of(
            suitable_for=names_of(entry.get("suitable_for")),
            status=text_of(entry.get("status")),
            location_type=text_of(entry.get("location_type")),
            working_from_home=wfh,
            recruiter_id=text_of(first_present(recruiter.get("id"), entry.get("for_recruiter_id"))),
            recruiter_slug=text_of(recruiter.get("slug")),
            organisation_logo_url=_largest_image(recruiter.get("logo"), url),
            image_url=_largest_image(entry.get("photo"), url),
        ),
        "_method": "api",
    }


def parse_doit(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """Do-it ``/v1/opportunities``: ``{data: {items: [...]}, links: {next: {href}}}``."""
    data, errors = load_json(body, url)
    if data is None:
        return [], errors
    try:
        entries = data["data"]["items"]
    except (KeyError, TypeError):
        return [], [*errors, f"unexpected Do-it response from {url}"]
    items = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("id") in (None, ""):
            errors.append(f"opportunity without id in {url}")
            continue
        items.append(doit_fields(entry, url, options))
    return items, errors


def doit_next(body: bytes) -> str | None:
    """The next page's link (``links.next.href``, often relative), or None."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    following = as_dict(as_dict(as_dict(data).get("links")).get("next"))
    return text_of(following.get("href"))


class DoItSpider(KeyedSpider):
    """``/v1/opportunities?lat=&lng=&miles=`` around each point in ``options.points``,
    following ``links.next.href`` page after page."""

    name = "doit"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def _start_requests(self) -> Iterator[scrapy.Request]:
        points = self.options.get("points") or [{}]
        for endpoint in self.start_urls:
            for point in points:
                query = f"?{urlencode(point)}" if point else ""
                yield scrapy.Request(endpoint + query, headers=self._headers(), callback=self.parse)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        yield from self.emit(response, parse_doit(response.body, response.url, self.options))
        following = doit_next(response.body)
        if following:
            yield response.follow(following, headers=self._headers(), callback=self.parse)
