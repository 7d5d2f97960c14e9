"""``unv``: UN Volunteers assignments (country, duty station, onsite/online,
duration, expertise areas, eligibility, entitlements).

The start URL is the search endpoint; pages are requested with ``take`` and
``skip`` (option ``page_size``; GET parameters, or a JSON body with
``request: post``) until the total; with ``detail_api`` (a URL template with
``{id}``) each assignment's detail response is fetched for the description,
duty stations, languages and the rest, and merged over the search result.
Field names come from ``UNV_FIELDS`` below (the envelope
``{value: {total, result}}`` public code shows, and flat names) and can be
renamed in ``options.fields``.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import scrapy
from scrapy.http import JsonRequest, Response

from crawlers.parsing import (
    Fields,
    Result,
    absolute_url,
    first_present,
    load_json,
    name_of,
    names_of,
    structured_of,
    text_of,
    yes_no,
)
from crawlers.spider import OffsetPagedSpider

# Publicly known: a JSON search behind app.unv.org with take/skip paging and a
# detail endpoint per assignment (../shared/data/README.md). Public code that
# reads it shows an envelope ``{isSuccess, value: {total, result: [...]}}``
# (search) and ``{value: {...}}`` (detail) with ``name``, ``hostEntity``,
# ``country {label, props.codeISO2}``, ``workLocation`` and, in a detail,
# ``assignmentsList[].dutyStation`` (duty stations), ``isOnsite``,
# ``startDate``, ``duration`` (days), ``publishDate``, ``sourcingEndDate`` (the
# application deadline). Each field below is a list of dotted paths, the first
# present wins; a registry entry can replace any of them in ``options.fields``
# (a dotted path or a list of them) once a real response has been inspected.

UNV_FIELDS: dict[str, tuple[str, ...]] = {
    "items": ("items", "value.result", "result"),
    "total": ("totalCount", "value.total", "total"),
    "record": ("value",),  # a detail response's envelope
    "id": ("id", "doaRequestNo"),
    "title": ("title", "name"),
    "country": ("countryName", "country"),
    "country_code": ("countryCode", "country.props.codeISO2"),
    "duty_stations": ("assignmentsList", "dutyStations"),
    "city": ("dutyStation", "workLocation", "dutyStationName"),
    "remote": ("isOnline",),
    "onsite": ("isOnsite",),
    "arrangement": ("workArrangement",),
    "duration": ("duration", "assignmentDuration"),
    "extension": ("possibilityOfExtension",),
    "expertise": ("expertiseAreas",),
    "deadline": ("applicationDeadline", "sourcingEndDate"),
    "start": ("startDate", "expectedStartDate"),
    "end": ("endDate", "expectedEndDate"),
    "posted": ("publishDate", "publishedDate"),
    "organisation": ("hostEntity",),
    "category": ("volunteersCategory", "volunteerType", "categoryName"),
    "languages": ("languages",),
    "description": ("description", "taskDescription"),
    "mission": ("organizationMission",),
    "context": ("context",),
    "eligibility": ("eligibility",),
    "experience": ("requiredSkillExperience",),
    "entitlements": ("entitlements",),
    "url": ("url",),
}


def _path(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(data, list) and part.isdigit():
            data = data[int(part)] if int(part) < len(data) else None
        elif isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


def unv_fields(options: dict[str, Any] | None) -> dict[str, tuple[str, ...]]:
    fields = dict(UNV_FIELDS)
    for key, paths in ((options or {}).get("fields") or {}).items():
        fields[key] = (paths,) if isinstance(paths, str) else tuple(str(p) for p in paths or ())
    return fields


def _pick(data: Any, paths: tuple[str, ...]) -> Any:
    return first_present(*(_path(data, p) for p in paths)) if isinstance(data, dict) else None


def _days(value: Any) -> str | None:
    """UN Volunteers' ``duration`` is a number of days; a text stays as published."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return f"{value:g} days"
    return name_of(value)


def _unv_stations(value: Any) -> list[str]:
    """``assignmentsList``: ``[{dutyStation: {label}}, ...]`` (or names) → duty stations."""
    out: list[str] = []
    for station in value if isinstance(value, list) else []:
        name = name_of(station.get("dutyStation") if isinstance(station, dict) and "dutyStation" in station
                     else station)
        if name and name not in out:
            out.append(name)
    return out


def _unv_languages(value: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entry in value if isinstance(value, list) else []:
        if isinstance(entry, dict):
            lang = {"language": name_of(entry.get("language")), "level": name_of(entry.get("level")),
                    "required": yes_no(entry.get("isRequired"))}
            out.append({k: v for k, v in lang.items() if v is not None})
        elif name_of(entry):
            out.append({"language": name_of(entry)})
    return out


def unv_fields_of(entry: dict[str, Any], url: str, f: dict[str, tuple[str, ...]],
                  options: dict[str, Any] | None = None) -> Fields:
    """One assignment (search result or detail) → RawOpportunity fields."""
    ident = _pick(entry, f["id"])
    sections = []
    for label, key in (("", "description"), ("Mission and objectives", "mission"), ("Context", "context"),
                       ("Eligibility", "eligibility"), ("Required experience", "experience"),
                       ("Entitlements", "entitlements")):
        value = _pick(entry, f[key])
        if isinstance(value, list):
            value = "<ul>" + "".join(f"<li>{html.escape(name_of(v) or '')}</li>" for v in value
                                     if name_of(v)) + "</ul>"
        if value:
            sections.append(f"<h3>{label}</h3>{value}" if label else str(value))
    declared = _pick(entry, f["remote"])
    online = True if str(declared).strip().lower() == "online" else yes_no(declared)
    onsite = yes_no(_pick(entry, f["onsite"]))
    arrangement = name_of(_pick(entry, f["arrangement"]))  # e.g. "Hybrid": the normalizer reads it
    remote = "online" if online or onsite is False else arrangement
    stations = _unv_stations(_pick(entry, f["duty_stations"])) or names_of(_pick(entry, f["city"]))
    country = _pick(entry, f["country"])
    expertise = _pick(entry, f["expertise"])
    duration = _pick(entry, f["duration"])
    page = (options or {}).get("page_url", "https://app.unv.org/opportunities/{id}")
    return {
        "external_id": str(ident),
        "url": absolute_url(_pick(entry, f["url"]), url) or page.format(id=ident),
        "title": text_of(_pick(entry, f["title"])),
        "description_html": "".join(sections) or None,
        "organisation_name": name_of(_pick(entry, f["organisation"])),
        "country": text_of(_pick(entry, f["country_code"])) or name_of(country),
        "city": stations[0] if stations else None,
        "location_text": "; ".join(stations) if len(stations) > 1 else None,
        "remote": remote,
        "start_date": text_of(_pick(entry, f["start"])),
        "end_date": text_of(_pick(entry, f["end"])),
        "deadline": text_of(_pick(entry, f["deadline"])),
        "posted_date": text_of(_pick(entry, f["posted"])),
        "duration_text": _days(duration),
        "categories": names_of(expertise),
        "structured": structured_of(
            duty_stations=stations, country=name_of(country),
            duration_days=duration if isinstance(duration, int | float)
            and not isinstance(duration, bool) else None,
            possibility_of_extension=yes_no(_pick(entry, f["extension"])),
            volunteer_category=name_of(_pick(entry, f["category"])),
            languages=_unv_languages(_pick(entry, f["languages"])),
            work_arrangement=arrangement,
        ),
        "_method": "api",
    }


def parse_unv(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """A search page (a list under ``items``/``value.result``) or one detail
    response (an object, or one under ``value``)."""
    data, errors = load_json(body, url)
    if data is None:
        return [], errors
    f = unv_fields(options)
    listed = _pick(data, f["items"])
    if isinstance(listed, list):
        entries = listed
    elif isinstance(data, dict):
        record = _pick(data, f["record"])
        entries = [record] if isinstance(record, dict) and _pick(record, f["id"]) not in (None, "") \
            else [data]
    else:
        entries = data
    items = []
    for entry in entries if isinstance(entries, list) else []:
        ident = _pick(entry, f["id"]) if isinstance(entry, dict) else None
        if ident in (None, ""):
            errors.append(f"assignment without {' or '.join(f['id'])!r} in {url}")
            continue
        items.append(unv_fields_of(entry, url, f, options))
    return items, errors


def unv_total(body: bytes, options: dict[str, Any] | None = None) -> int:
    data, _errors = load_json(body, "")
    value = _pick(data, unv_fields(options)["total"]) if isinstance(data, dict) else None
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


class UnVolunteersSpider(OffsetPagedSpider):
    name = "unv"
    extraction_method = "api"
    default_page_size = 50

    def page_url(self, endpoint: str, offset: int) -> str:
        extra = self.options.get("query") or {}
        return f"{endpoint}?{urlencode({**extra, 'take': self.page_size(), 'skip': offset})}"

    def page_request(self, endpoint: str, offset: int) -> scrapy.Request:
        """With ``options.request: post`` the search is a JSON body ``{…options.query,
        take, skip}``, as app.unv.org's own page sends it (public code POSTs to
        ``/api/doa/doa/SearchDoaAsyncByAzureCognitive``); otherwise GET parameters."""
        if str(self.options.get("request", "get")).lower() != "post":
            return super().page_request(endpoint, offset)
        body = {**(self.options.get("query") or {}), "take": self.page_size(), "skip": offset}
        return JsonRequest(endpoint, data=body, callback=self.parse,
                           cb_kwargs={"endpoint": endpoint, "offset": offset})

    def total(self, body: bytes) -> int:
        return unv_total(body, self.options)

    def parse_page(self, response: Response) -> Iterator[Any]:
        items, errors = parse_unv(response.body, response.url, self.options)
        detail = self.options.get("detail_api")
        if not detail:
            yield from self.emit(response, (items, errors))
            return
        yield from self.emit(response, ([], errors))
        for fields in items:
            yield scrapy.Request(detail.format(id=fields["external_id"]), callback=self.parse_detail,
                                 cb_kwargs={"summary": fields})

    def parse_detail(self, response: Response, summary: dict[str, Any]) -> Iterator[Any]:
        items, errors = parse_unv(response.body, response.url, self.options)
        detail = items[0] if items else {}
        merged = {**summary, **{k: v for k, v in detail.items() if v}}
        if summary.get("structured") or detail.get("structured"):  # what either said, the detail first
            merged["structured"] = {**(summary.get("structured") or {}), **(detail.get("structured") or {})}
        yield from self.emit(response, ([merged], errors))
