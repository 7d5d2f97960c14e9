"""Pure extraction: one response body → RawOpportunity fields, one function per kind.

Spiders call these on what they download; ``tilts extract FILE --kind KIND``
calls them on a saved page to debug a source without crawling it. Each
returns ``(items, errors)``: field dicts (RawOpportunity field names, strings
as published) and messages for parts that could not be read, so a broken
entry never hides the good ones next to it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
from parsel import Selector

from crawlers.extract import iter_opportunities, jsonld_blocks, to_raw_fields

Fields = dict[str, Any]
Result = tuple[list[Fields], list[str]]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


# ----------------------------------------------------------------- schema.org


def parse_schemaorg(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    if not body.strip():
        return [], []
    try:
        blocks, errors = jsonld_blocks(body.decode("utf-8", "replace"), url)
    except Exception as exc:  # noqa: BLE001 - lxml raises several kinds on broken pages
        return [], [f"unreadable page {url}: {exc}"]
    items = [to_raw_fields(node, url, i) | {"_method": "json-ld"}
             for i, node in enumerate(iter_opportunities(blocks))]
    if not items:
        items, more = _microdata_rdfa(body, url)
        errors += more
    return items, errors


def _microdata_rdfa(body: bytes, url: str) -> Result:
    """Microdata and RDFa, converted to JSON-LD-like nodes by extruct."""
    import extruct

    try:
        data = extruct.extract(body, base_url=url, syntaxes=["microdata", "rdfa"], uniform=True)
    except Exception as exc:  # noqa: BLE001 - extruct raises many kinds on bad markup
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


# ---------------------------------------------------------------------- feeds


def parse_feed(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """RSS 2.0, Atom and RDF entries (feedparser)."""
    feed = feedparser.parse(body, response_headers={"content-location": url})
    errors = []
    if feed.bozo and not feed.entries:
        errors.append(f"unreadable feed: {feed.get('bozo_exception')}")
    items = []
    for entry in feed.entries:
        link = entry.get("link")
        guid = entry.get("id") or link
        if not guid:
            errors.append(f"feed entry without id or link: {entry.get('title')!r}")
            continue
        content = entry.get("content") or []
        html = content[0].get("value") if content else entry.get("summary")
        items.append({
            "external_id": str(guid),
            "url": urljoin(url, link) if link else url,
            "title": entry.get("title"),
            "description_html": html,
            "organisation_name": entry.get("author"),
            "posted_date": entry.get("published") or entry.get("created") or entry.get("updated"),
            "updated_date": entry.get("updated"),
            "categories": [t.get("term") for t in entry.get("tags") or [] if t.get("term")],
            "_method": "feed",
        })
    return items, errors


# ------------------------------------------------------------------ WordPress


def _rendered(value: Any) -> str | None:
    if isinstance(value, dict):
        return _text(value.get("rendered"))
    return _text(value)


def _plain(value: Any) -> str | None:
    """A WordPress title: HTML-escaped text ("&#8211;") → text."""
    text = _rendered(value)
    return html.unescape(text) if text else None


def parse_wp_posts(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """``/wp-json/wp/v2/<type>`` pages (with ``_embed`` for category names and author)."""
    try:
        posts = json.loads(body)
    except ValueError as exc:
        return [], [f"invalid JSON from {url}: {exc}"]
    if not isinstance(posts, list):
        return [], [f"expected a list of posts from {url}, got {type(posts).__name__}"]
    items, errors = [], []
    for post in posts:
        if not isinstance(post, dict) or "id" not in post:
            errors.append(f"post without id in {url}")
            continue
        embedded = post.get("_embedded") or {}
        terms = [t.get("name") for group in embedded.get("wp:term") or [] for t in group or []
                 if isinstance(t, dict) and t.get("taxonomy") in ("category", "post_tag")]
        authors = embedded.get("author") or [{}]
        items.append({
            "external_id": f"post-{post['id']}",
            "url": post.get("link") or url,
            "title": _plain(post.get("title")),
            "description_html": _rendered(post.get("content")) or _rendered(post.get("excerpt")),
            "posted_date": post.get("date_gmt") or post.get("date"),
            "updated_date": post.get("modified_gmt") or post.get("modified"),
            "organisation_name": (options or {}).get("organisation") or authors[0].get("name"),
            "categories": [t for t in terms if t],
            "_method": "wordpress",
        })
    return items, errors


def parse_tribe_events(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """The Events Calendar: ``/wp-json/tribe/events/v1/events``."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        return [], [f"invalid JSON from {url}: {exc}"]
    items, errors = [], []
    for event in data.get("events") or [] if isinstance(data, dict) else []:
        if not isinstance(event, dict) or "id" not in event:
            errors.append(f"event without id in {url}")
            continue
        venue = event.get("venue") if isinstance(event.get("venue"), dict) else {}
        organizers = event.get("organizer") if isinstance(event.get("organizer"), list) else []
        items.append({
            "external_id": f"tribe-{event['id']}",
            "url": event.get("url") or url,
            "title": _plain(event.get("title")),
            "description_html": _text(event.get("description")),
            "start_date": event.get("utc_start_date") or event.get("start_date"),
            "end_date": event.get("utc_end_date") or event.get("end_date"),
            "posted_date": event.get("date_utc") or event.get("date"),
            "updated_date": event.get("modified_utc") or event.get("modified"),
            "city": _text(venue.get("city")),
            "country": _text(venue.get("country")),
            "region": _text(venue.get("province") or venue.get("state")),
            "postal_code": _text(venue.get("zip")),
            "location_text": ", ".join(filter(None, [venue.get("venue"), venue.get("address"),
                                                     venue.get("city")])) or None,
            "latitude": _text(venue.get("geo_lat")),
            "longitude": _text(venue.get("geo_lng")),
            "organisation_name": _text(organizers[0].get("organizer")) if organizers else None,
            "categories": [c.get("name") for c in event.get("categories") or [] if c.get("name")],
            "_method": "wordpress",
        })
    return items, errors


# ------------------------------------------------------------------ iCalendar


def _ical_value(value: Any) -> str | None:
    if value is None:
        return None
    decoded = getattr(value, "dt", value)
    if isinstance(decoded, datetime | date):
        return decoded.isoformat()
    return _text(decoded)


def parse_ical(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """VEVENTs of an iCalendar feed (``icalendar``)."""
    import icalendar

    try:
        calendar = icalendar.Calendar.from_ical(body)
    except ValueError as exc:
        return [], [f"unreadable iCalendar {url}: {exc}"]
    items, errors = [], []
    for event in calendar.walk("VEVENT"):
        uid = _ical_value(event.get("UID"))
        if not uid:
            errors.append(f"VEVENT without UID: {_ical_value(event.get('SUMMARY'))!r}")
            continue
        categories = event.get("CATEGORIES")
        cats: list[str] = []
        for group in categories if isinstance(categories, list) else [categories] if categories else []:
            cats += [str(c) for c in getattr(group, "cats", [group])]
        organizer = event.get("ORGANIZER")
        items.append({
            "external_id": uid,
            "url": _ical_value(event.get("URL")) or url,
            "title": _ical_value(event.get("SUMMARY")),
            "description_html": _ical_value(event.get("DESCRIPTION")),
            "start_date": _ical_value(event.get("DTSTART")),
            "end_date": _ical_value(event.get("DTEND")),
            "updated_date": _ical_value(event.get("LAST-MODIFIED")),
            "location_text": _ical_value(event.get("LOCATION")),
            "organisation_name": (organizer.params.get("CN") if organizer is not None
                                  and hasattr(organizer, "params") else None),
            "categories": cats,
            "_method": "ical",
        })
    return items, errors


# ---------------------------------------------------------- European Youth Portal

EYP_DETAIL = "https://youth.europa.eu/solidarity/opportunity/{opid}_{lang}"


def _eyp_list(value: Any) -> list[str]:
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        if isinstance(v, dict):
            v = v.get("name") or v.get("label") or v.get("id")
        if v not in (None, "", "all"):
            out.append(str(v))
    return out


def parse_eyp(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """European Youth Portal search API (Elasticsearch-shaped ``hits.hits[]._source``)."""
    lang = (options or {}).get("lang", "en")
    try:
        data = json.loads(body)
        hits = data["hits"]["hits"]
    except (ValueError, KeyError, TypeError) as exc:
        return [], [f"unexpected European Youth Portal response from {url}: {exc}"]
    items, errors = [], []
    for hit in hits:
        src = hit.get("_source") if isinstance(hit, dict) else None
        if not isinstance(src, dict) or not src.get("opid"):
            errors.append(f"hit without opid in {url}")
            continue
        opid = src["opid"]
        profile = _text(src.get("participant_profile"))
        description = "".join(filter(None, [
            _text(src.get("description")),
            f"<h3>Participant profile</h3>{profile}" if profile else None,
        ])) or None
        boarding = _eyp_list(src.get("boarding_arrangements"))
        if boarding:
            description = (description or "") + "<p>Provided: " + ", ".join(boarding) + ".</p>"
        items.append({
            "external_id": str(opid),
            "url": EYP_DETAIL.format(opid=opid, lang=lang),
            "title": _text(src.get("title")),
            "description_html": description,
            "organisation_name": _text(src.get("organisation_name")),
            "city": _text(src.get("town")),
            "country": _text(src.get("country")),
            "start_date": _text(src.get("date_start")),
            "end_date": _text(src.get("date_end")),
            "deadline": None if src.get("has_no_deadline") else _text(
                src.get("date_application_end") or src.get("deadline")),
            "posted_date": _text(src.get("created")),
            "updated_date": _text(src.get("changed")),
            "employment_type": ", ".join(_eyp_list(src.get("activity_type"))) or None,
            "categories": _eyp_list(src.get("topics")),
            "eligible_countries": _eyp_list(src.get("volunteer_countries")),
            "places_available": _text(src.get("number_of_places")),
            "duration_text": _text(src.get("date_flexibility")),
            "structured": {k: src.get(k) for k in ("strand", "funding_programme", "pic",
                                                   "has_no_deadline", "date_flexibility")
                           if src.get(k) is not None},
            "_method": "api",
        })
    return items, errors


def eyp_total(body: bytes) -> int:
    try:
        total = json.loads(body)["hits"]["total"]
    except (ValueError, KeyError, TypeError):
        return 0
    return int(total.get("value", 0) if isinstance(total, dict) else total)


# ------------------------------------------------------------------ selectors


def select(sel: Selector, query: str, *, html: bool = False) -> list[str]:
    """Values for one registry selector (CSS, or XPath after ``xpath:``)."""
    if query.startswith("xpath:"):
        nodes = sel.xpath(query[len("xpath:"):])
    else:
        nodes = sel.css(query)
    if query.endswith(("::text", ")")) or query.startswith("xpath:") and "/@" in query:
        return [v.strip() for v in nodes.getall() if v and v.strip()]
    if html:
        return [v for v in nodes.getall() if v.strip()]
    return [" ".join(" ".join(n.css("::text").getall()).split()) for n in nodes]


def parse_listing_detail(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """A detail page read with the registry's ``selectors.fields``."""
    selectors = (options or {}).get("fields") or {}
    if not selectors:
        return [], ["no selectors.fields given"]
    sel = Selector(text=body.decode("utf-8", "replace"), base_url=url)
    fields: Fields = {"external_id": url, "url": url, "_method": "selectors"}
    errors = []
    for name, query in selectors.items():
        try:
            values = select(sel, query, html=name == "description_html")
        except ValueError as exc:
            errors.append(f"selector for {name} failed on {url}: {exc}")
            continue
        if name == "categories":
            fields[name] = values
        elif values:
            fields[name] = "\n".join(values) if name == "description_html" else values[0]
    if not fields.get("title"):
        errors.append(f"no title found on {url} with selector {selectors.get('title')!r}")
        return [], errors
    return [fields], errors


PARSERS: dict[str, Callable[[bytes, str, dict[str, Any] | None], Result]] = {
    "schemaorg": parse_schemaorg,
    "sitemap": parse_schemaorg,
    "feed": parse_feed,
    "wordpress": parse_wp_posts,
    "tribe": parse_tribe_events,
    "ical": parse_ical,
    "eyp": parse_eyp,
    "listing": parse_listing_detail,
}


# --------------------------------------------------------------- partner APIs
# Shapes as summarized in ../shared/data/README.md from public code that talks
# to these services; fields beyond those are read when present.


def _json(body: bytes, url: str) -> tuple[Any, list[str]]:
    try:
        return json.loads(body), []
    except ValueError as exc:
        return None, [f"invalid JSON from {url}: {exc}"]


def _name(value: Any) -> str | None:
    if isinstance(value, dict):
        return _text(value.get("name") or value.get("title"))
    return _text(value)


def parse_volunteer_connector(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """Volunteer Connector ``/api/search/``: ``{count, next, results: [...]}``."""
    data, errors = _json(body, url)
    if data is None:
        return [], errors
    items = []
    for result in data.get("results") or [] if isinstance(data, dict) else []:
        if not isinstance(result, dict) or result.get("id") is None:
            errors.append(f"result without id in {url}")
            continue
        organization = result.get("organization")
        audience = result.get("audience")
        items.append({
            "external_id": str(result["id"]),
            "url": _text(result.get("url")) or urljoin(url, f"/opportunities/{result['id']}/"),
            "title": _text(result.get("title")),
            "description_html": _text(result.get("description")),
            "organisation_name": _name(organization),
            "organisation_url": _text(organization.get("url")) if isinstance(organization, dict) else None,
            "remote": "true" if result.get("remote_or_online") else None,
            "categories": [n for n in (_name(a) for a in result.get("activities") or []) if n],
            "duration_text": _text(result.get("dates")) if isinstance(result.get("dates"), str) else None,
            "location_text": _name(audience.get("regions")[0]) if isinstance(audience, dict)
            and audience.get("regions") else None,
            "_method": "api",
        })
    return items, errors


def volunteer_connector_next(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data.get("next") if isinstance(data, dict) else None


def parse_doit(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """Do-it ``/v1/opportunities``: ``{data: {items: [...]}}``."""
    data, errors = _json(body, url)
    if data is None:
        return [], errors
    try:
        entries = data["data"]["items"]
    except (KeyError, TypeError):
        return [], errors + [f"unexpected Do-it response from {url}"]
    items = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("id") is None:
            errors.append(f"opportunity without id in {url}")
            continue
        recruiter = entry.get("for_recruiter")
        items.append({
            "external_id": str(entry["id"]),
            "url": _text(entry.get("url")) or f"https://do-it.org/opportunities/{entry['id']}",
            "title": _text(entry.get("title")),
            "description_html": _text(entry.get("description")),
            "organisation_name": _name(recruiter),
            "latitude": _text(entry.get("lat")),
            "longitude": _text(entry.get("lng")),
            "postal_code": _text(entry.get("postcode")),
            "places_available": _text(entry.get("places_available")),
            "remote": "true" if entry.get("working_from_home") else None,
            "categories": [n for n in (_name(i) for i in entry.get("interests") or []) if n],
            "country": "GB",
            "_method": "api",
        })
    return items, errors


def parse_idealist(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """Idealist ``/api/v1/listings/volops?since=``: ``{volops: [...], hasMore}``."""
    data, errors = _json(body, url)
    if data is None:
        return [], errors
    items = []
    for volop in data.get("volops") or [] if isinstance(data, dict) else []:
        if not isinstance(volop, dict) or not volop.get("id"):
            errors.append(f"volop without id in {url}")
            continue
        address = volop.get("address") if isinstance(volop.get("address"), dict) else {}
        items.append({
            "external_id": str(volop["id"]),
            "url": _text((volop.get("url") or {}).get("en") if isinstance(volop.get("url"), dict)
                         else volop.get("url")) or f"https://www.idealist.org/en/volunteer-opportunity/{volop['id']}",
            "title": _text(volop.get("name") or volop.get("title")),
            "description_html": _text(volop.get("description")),
            "organisation_name": _name(volop.get("org")),
            "city": _text(address.get("city")),
            "region": _text(address.get("state")),
            "country": _text(address.get("country")),
            "remote": "true" if volop.get("remoteOk") or volop.get("isRemote") else None,
            "updated_date": _text(volop.get("updated")),
            "posted_date": _text(volop.get("published")),
            "_method": "api",
        })
    return items, errors


def idealist_page(body: bytes) -> tuple[bool, str | None]:
    """(hasMore, the newest ``updated`` seen): the next request's ``since``."""
    try:
        data = json.loads(body)
    except ValueError:
        return False, None
    volops = data.get("volops") or []
    stamps = [v.get("updated") for v in volops if isinstance(v, dict) and v.get("updated")]
    return bool(data.get("hasMore")), max(stamps) if stamps else None


PARSERS.update({
    "volunteer_connector": parse_volunteer_connector,
    "doit": parse_doit,
    "idealist": parse_idealist,
})


# ---------------------------------------------------------------- UN Volunteers
# Publicly known: a JSON search behind app.unv.org with take/skip paging and a
# detail endpoint per assignment (../shared/data/README.md). The field names
# below are the defaults; a registry entry can rename any of them in
# ``options.fields`` (dotted paths) once a real response has been inspected.

UNV_FIELDS = {
    "items": "items", "total": "totalCount", "id": "id", "title": "title",
    "country": "countryName", "city": "dutyStation", "remote": "isOnline",
    "duration": "duration", "expertise": "expertiseAreas", "deadline": "applicationDeadline",
    "start": "startDate", "organisation": "hostEntity", "description": "description",
    "eligibility": "eligibility", "entitlements": "entitlements", "url": "url",
}


def _path(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def unv_fields(options: dict[str, Any] | None) -> dict[str, str]:
    return {**UNV_FIELDS, **((options or {}).get("fields") or {})}


def parse_unv(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """A search page (a list under ``items``) or one detail response (an object)."""
    data, errors = _json(body, url)
    if data is None:
        return [], errors
    f = unv_fields(options)
    entries = _path(data, f["items"]) if isinstance(data, dict) and _path(data, f["items"]) is not None \
        else [data] if isinstance(data, dict) else data
    items = []
    for entry in entries if isinstance(entries, list) else []:
        ident = _path(entry, f["id"]) if isinstance(entry, dict) else None
        if ident in (None, ""):
            errors.append(f"assignment without {f['id']!r} in {url}")
            continue
        sections = []
        for label, key in (("Description", "description"), ("Eligibility", "eligibility"),
                           ("Entitlements", "entitlements")):
            value = _path(entry, f[key])
            if isinstance(value, list):
                value = "<ul>" + "".join(f"<li>{html.escape(str(v))}</li>" for v in value) + "</ul>"
            if value:
                sections.append(f"<h3>{label}</h3>{value}" if key != "description" else str(value))
        remote = _path(entry, f["remote"])
        expertise = _path(entry, f["expertise"]) or []
        items.append({
            "external_id": str(ident),
            "url": _text(_path(entry, f["url"]))
            or (options or {}).get("page_url", "https://app.unv.org/opportunities/{id}").format(id=ident),
            "title": _text(_path(entry, f["title"])),
            "description_html": "".join(sections) or None,
            "organisation_name": _name(_path(entry, f["organisation"])),
            "country": _name(_path(entry, f["country"])),
            "city": _name(_path(entry, f["city"])),
            "remote": "online" if remote is True or str(remote).lower() in {"online", "true"} else None,
            "duration_text": _text(_path(entry, f["duration"])),
            "deadline": _text(_path(entry, f["deadline"])),
            "start_date": _text(_path(entry, f["start"])),
            "categories": [n for n in (_name(e) for e in expertise) if n] if isinstance(expertise, list)
            else [],
            "_method": "api",
        })
    return items, errors


def unv_total(body: bytes, options: dict[str, Any] | None = None) -> int:
    data, _errors = _json(body, "")
    value = _path(data, unv_fields(options)["total"]) if isinstance(data, dict) else None
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


PARSERS["unv"] = parse_unv
