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
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
from parsel import Selector

from crawlers.extract import iter_opportunities, jsonld_blocks, to_raw_fields
from crawlers.eyp_detail import parse_detail

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
    except Exception as exc:
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

EYP_HOST = "https://youth.europa.eu"
EYP_DETAIL = "/solidarity/opportunity/{opid}_{lang}"
_EYP_OPID = re.compile(r"/opportunity/(\d+)_([a-z]{2})")


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


def eyp_detail_url(opid: Any, options: dict[str, Any] | None = None) -> str:
    """A listing's page on the portal (``options.detail_base``: the portal's origin)."""
    options = options or {}
    return urljoin(options.get("detail_base") or EYP_HOST,
                   EYP_DETAIL.format(opid=opid, lang=options.get("lang", "en")))


def parse_eyp(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """European Youth Portal: a search API page (Elasticsearch-shaped ``hits.hits[]._source``)
    or, when the body is HTML, one opportunity's detail page (crawlers/eyp_detail.py)."""
    if body.lstrip()[:1] == b"<":
        return parse_eyp_page(body, url)
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
        countries = _eyp_list(src.get("countries"))
        items.append({
            "external_id": str(opid),
            "url": eyp_detail_url(opid, options),
            "title": _text(src.get("title")),
            "description_html": description,
            "organisation_name": _text(src.get("organisation_name")),
            "city": _text(src.get("town")),
            "country": _text(src.get("country")) or (countries[0] if len(countries) == 1 else None),
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


def parse_eyp_page(body: bytes, url: str) -> Result:
    """One detail page alone (``tilts extract --kind eyp page.html``)."""
    found = _EYP_OPID.search(url)
    try:
        page = parse_detail(body, url, found.group(1) if found else None)
    except Exception as exc:
        return [], [f"unreadable European Youth Portal page {url}: {exc}"]
    if not page.fields.get("title"):
        return [], [f"no title on European Youth Portal page {url}"]
    return [{"external_id": found.group(1) if found else url, "url": url, **page.fields}], []


def eyp_total(body: bytes) -> int:
    try:
        total = json.loads(body)["hits"]["total"]
    except (ValueError, KeyError, TypeError):
        return 0
    return int(total.get("value", 0) if isinstance(total, dict) else total)


# ------------------------------------------------------------------ selectors

# Where an element selected for a link field keeps its link, in this order.
_LINK_ATTRS = ("href", "src", "content", "data-href", "data-url")
_LINK_FIELDS = frozenset({"url", "image", "logo"})


def is_url_field(name: str) -> bool:
    """RawOpportunity fields (and structured keys) that hold a link: ``url``,
    ``apply_url``, ``organisation_url``, an image."""
    return name in _LINK_FIELDS or name.endswith("_url")


def absolute_url(value: Any, base: str | None, *, text: bool = False) -> str | None:
    """A link as published (relative, ``//host/x``, ``../x``, absolute) → an
    absolute http(s) URL resolved against ``base``, or None for anything else
    (``javascript:``, ``data:``, no host): :func:`pipeline.events.web_url`.

    ``text``: the value is a page's visible text, where ``www.example.org``
    names a host; in an attribute it would be a relative path, as a browser reads it.
    """
    from pipeline.events import web_url

    link = _text(value)
    if link is None:
        return None
    if text and link[:4].lower() == "www.":
        link = "http://" + link
    return web_url(link, base)


def _is_element(node: Selector) -> bool:
    return isinstance(getattr(node.root, "tag", None), str)


def _absolute_links(node: Selector, base: str) -> None:
    """Relative ``href``/``src`` inside a selected element → absolute, in place
    (what else a link says, ``javascript:`` included, is left to the sanitizer)."""
    for element in node.root.iter():
        if not isinstance(element.tag, str):  # comments, processing instructions
            continue
        for attr in ("href", "src"):
            value = element.get(attr)
            resolved = absolute_url(value, base) if value is not None else None
            if resolved:
                element.set(attr, resolved)


def page_base(sel: Selector, url: str) -> str:
    """The URL relative links on a page are resolved against: its first
    ``<base href>`` (as browsers and Scrapy's ``response.follow`` do), else its own."""
    declared = sel.xpath("//base[@href][1]/@href").get()
    base = absolute_url(declared, url) if declared and declared.strip() else None
    return base or url


def select(sel: Selector, query: str, *, html: bool = False, link: bool = False,
           base_url: str | None = None) -> list[str]:
    """Values for one registry selector (CSS, or XPath after ``xpath:``).

    A selector ending in ``::text``/``::attr(name)`` (or an XPath to text or an
    attribute) gives those values; one selecting elements gives their HTML
    (``html``), their link (``link``: ``href``, ``src``, ``content``, else the
    text) or their text. With ``link`` every value is an absolute http(s) URL
    resolved against ``base_url``; anything else is left out. With ``html`` and
    ``base_url``, relative links inside the HTML are made absolute.
    """
    if query.startswith("xpath:"):
        nodes = sel.xpath(query[len("xpath:"):])
    else:
        nodes = sel.css(query)
    attribute = "::attr(" in query or (query.startswith("xpath:") and "@" in query.rsplit("/", 1)[-1])
    values: list[str] = []
    for node in nodes:
        from_text = True
        if not _is_element(node):
            value = str(node.get() if node.root is not None else "").strip()
            from_text = not attribute
        elif html:
            if base_url:
                _absolute_links(node, base_url)
            value = node.get()
        elif link and (attr := next((a for a in _LINK_ATTRS if node.root.get(a)), None)):
            value, from_text = node.root.get(attr).strip(), False
        else:
            value = " ".join(" ".join(node.css("::text").getall()).split())
        if link:
            value = absolute_url(value, base_url, text=from_text) or ""
        if value.strip():
            values.append(value)
    return values


def parse_listing_detail(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """A detail page read with the registry's ``selectors.fields``.

    Link fields (``apply_url``, ``organisation_url``…) are resolved against the
    page (its ``<base href>`` when it has one): ``/org/903``, ``../x`` and
    ``//host/x`` become absolute; a ``javascript:`` or ``data:`` link is left out.
    """
    selectors = (options or {}).get("fields") or {}
    if not selectors:
        return [], ["no selectors.fields given"]
    sel = Selector(text=body.decode("utf-8", "replace"), base_url=url)
    base = page_base(sel, url)
    fields: Fields = {"external_id": url, "url": url, "_method": "selectors"}
    errors = []
    for name, query in selectors.items():
        try:
            values = select(sel, query, html=name == "description_html", link=is_url_field(name),
                            base_url=base)
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
# to these services; fields beyond those are read when present. Every field a
# partner publishes lands in a RawOpportunity field, as published (dates too:
# the normalizer parses them); what has no RawOpportunity field is kept in
# ``structured``. Links are resolved against the response URL and refused when
# they are not http(s) (``absolute_url``).


def _json(body: bytes, url: str) -> tuple[Any, list[str]]:
    try:
        return json.loads(body), []
    except ValueError as exc:
        return None, [f"invalid JSON from {url}: {exc}"]


def _name(value: Any) -> str | None:
    """A name as published: a string, or an object's name/title/label."""
    if isinstance(value, dict):
        for key in ("name", "title", "label", "shortName", "value"):
            if isinstance(value.get(key), str | int | float) and _text(value.get(key)):
                return _text(value.get(key))
        return None
    if isinstance(value, list | tuple | set):
        return None
    return _text(value)


def _names(*groups: Any) -> list[str]:
    """Names from lists of strings or objects, in order, each once."""
    out: list[str] = []
    for group in groups:
        for value in group if isinstance(group, list) else [group] if group else []:
            name = _name(value)
            if name and name not in out:
                out.append(name)
    return out


def _flag(value: Any) -> bool | None:
    """A published yes/no (``true``, ``"false"``, ``1``, ``"yes"``) → bool; None when unknown."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        word = value.strip().lower()
        if word in {"true", "yes", "y", "1", "on"}:
            return True
        if word in {"false", "no", "n", "0", "off"}:
            return False
    return None


def _first(*values: Any) -> Any:
    """The first value that is not None or empty."""
    return next((v for v in values if v not in (None, "", [], {})), None)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _structured(**values: Any) -> dict[str, Any] | None:
    kept = {k: v for k, v in values.items() if v not in (None, "", [], {})}
    return kept or None


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
    import re  # (the patterns are compiled once, by re's cache)

    if isinstance(value, dict):
        start = _text(_first(value.get("start"), value.get("start_date"), value.get("from")))
        end = _text(_first(value.get("end"), value.get("end_date"), value.get("to")))
        return start, end, None
    text = _text(value)
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
    organization = _obj(result.get("organization"))
    audience = _obj(result.get("audience"))
    activities = result.get("activities") if isinstance(result.get("activities"), list) else []
    regions = _names(audience.get("regions"))
    countries = _names(audience.get("countries"), audience.get("country"))
    scope = _text(audience.get("scope"))
    regional = scope == "regional" and len(regions) == 1
    start, end, words = date_span(_first(result.get("dates"), {k: result.get(k) for k in
                                                             ("start_date", "end_date") if result.get(k)}))
    remote = _flag(result.get("remote_or_online"))
    if remote is None and scope and scope.lower() in {"remote", "online", "virtual"}:
        remote = True
    logo = organization.get("logo")
    return {
        "external_id": str(ident),
        "url": absolute_url(result.get("url"), url) or urljoin(url, f"/opportunities/{ident}/"),
        "title": _text(result.get("title")),
        "description_html": _text(result.get("description")),
        "organisation_name": _name(organization) or _name(result.get("organization")),
        "organisation_url": absolute_url(organization.get("url"), url),
        "remote": "true" if remote else None,
        "categories": _names(activities, [a.get("category") for a in activities if isinstance(a, dict)]),
        "start_date": start,
        "end_date": end,
        "duration_text": words,
        # A regional audience names provinces or states ("Alberta"), a local one places.
        "location_text": None if regional else ", ".join(regions) or (
            ", ".join(countries) if scope == "national" else None),
        "region": regions[0] if regional else None,
        "country": countries[0] if len(countries) == 1 else None,
        "latitude": _text(audience.get("latitude")),
        "longitude": _text(audience.get("longitude")),
        "posted_date": _text(_first(result.get("created"), result.get("created_at"))),
        "updated_date": _text(_first(result.get("updated"), result.get("updated_at"),
                                     result.get("modified"))),
        "structured": _structured(
            audience_scope=scope, audience_regions=regions, audience_countries=countries,
            activities=[{k: a.get(k) for k in ("name", "category") if a.get(k)}
                        for a in activities if isinstance(a, dict)],
            organisation_logo_url=absolute_url(logo.get("url") if isinstance(logo, dict) else logo, url),
            time_commitment=_text(result.get("duration")),
            dates=_text(result.get("dates")) if isinstance(result.get("dates"), str) else None,
        ),
        "_method": "api",
    }


def parse_volunteer_connector(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """Volunteer Connector ``/api/search/``: ``{count, next, results: [...]}``."""
    data, errors = _json(body, url)
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


DOIT_PAGE = "https://do-it.org/opportunities/{id}"


def _largest_image(value: Any, base: str) -> str | None:
    """Do-it's images: ``[{absolute_url, width, height}, ...]`` → the widest one."""
    def width(image: dict[str, Any]) -> float:
        w = image.get("width")
        return w if isinstance(w, int | float) and not isinstance(w, bool) else 0

    images = sorted((i for i in value if isinstance(i, dict)), key=width, reverse=True) \
        if isinstance(value, list) else []
    for image in images:
        link = absolute_url(_first(image.get("absolute_url"), image.get("url")), base)
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
    recruiter = _obj(_first(_obj(entry.get("for_recruiter")), _obj(entry.get("owner_recruiter")),
                            _obj(entry.get("recruiter"))))
    location = _obj(entry.get("location"))
    wfh = _flag(entry.get("working_from_home"))
    city = _text(entry.get("city"))
    address = [_text(entry.get("address_1")), _text(entry.get("address_2")), city,
               _text(entry.get("location_name"))]
    seen: list[str] = []
    for part in address:
        part = part.strip(" ,") if part else None
        if part and part.lower() not in (s.lower() for s in seen):
            seen.append(part)
    page = (options or {}).get("page_url", DOIT_PAGE)
    return {
        "external_id": str(ident),
        "url": absolute_url(entry.get("url"), url) or page.format(id=ident),
        "title": _text(entry.get("title")),
        "description_html": _text(entry.get("description")),
        "organisation_name": _name(recruiter) or _name(entry.get("recruiter_name")),
        "organisation_url": absolute_url(_first(recruiter.get("website"), recruiter.get("url"),
                                                entry.get("recruiter_url")), url),
        "apply_url": absolute_url(entry.get("apply_url"), url),
        "start_date": _text(_first(entry.get("specific_start_date"), entry.get("start_date"))),
        "end_date": _text(_first(entry.get("specific_end_date"), entry.get("end_date"))),
        "posted_date": _text(_first(entry.get("created_at"), entry.get("created"))),
        "updated_date": _text(_first(entry.get("updated_at"), entry.get("updated"))),
        "latitude": _text(_first(entry.get("lat"), location.get("lat"))),
        "longitude": _text(_first(entry.get("lng"), location.get("lng"))),
        "postal_code": _text(entry.get("postcode")),
        "city": city,
        "region": _text(_first(location.get("admin_2"), location.get("admin_1"))),
        "location_text": ", ".join(seen) or None,
        "places_available": _text(entry.get("places_available")),
        "remote": "true" if wfh else None,
        "categories": _names(entry.get("interests"), entry.get("activities")),
        "country": "GB",  # Do-it lists UK opportunities only (its location API is /v1/location/uk)
        "structured": _structured(
            suitable_for=_names(entry.get("suitable_for")),
            status=_text(entry.get("status")),
            location_type=_text(entry.get("location_type")),
            working_from_home=wfh,
            recruiter_id=_text(_first(recruiter.get("id"), entry.get("for_recruiter_id"))),
            recruiter_slug=_text(recruiter.get("slug")),
            organisation_logo_url=_largest_image(recruiter.get("logo"), url),
            image_url=_largest_image(entry.get("photo"), url),
        ),
        "_method": "api",
    }


def parse_doit(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """Do-it ``/v1/opportunities``: ``{data: {items: [...]}, links: {next: {href}}}``."""
    data, errors = _json(body, url)
    if data is None:
        return [], errors
    try:
        entries = data["data"]["items"]
    except (KeyError, TypeError):
        return [], errors + [f"unexpected Do-it response from {url}"]
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
    following = _obj(_obj(_obj(data).get("links")).get("next"))
    return _text(following.get("href"))


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
        link = volop.get("url").get("en") if isinstance(volop.get("url"), dict) else volop.get("url")
        items.append({
            "external_id": str(volop["id"]),
            "url": absolute_url(link, url)
            or f"https://www.idealist.org/en/volunteer-opportunity/{volop['id']}",
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
    return _first(*(_path(data, p) for p in paths)) if isinstance(data, dict) else None


def _days(value: Any) -> str | None:
    """UN Volunteers' ``duration`` is a number of days; a text stays as published."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return f"{value:g} days"
    return _name(value)


def _unv_stations(value: Any) -> list[str]:
    """``assignmentsList``: ``[{dutyStation: {label}}, ...]`` (or names) → duty stations."""
    out: list[str] = []
    for station in value if isinstance(value, list) else []:
        name = _name(station.get("dutyStation") if isinstance(station, dict) and "dutyStation" in station
                     else station)
        if name and name not in out:
            out.append(name)
    return out


def _unv_languages(value: Any) -> list[dict[str, Any]]:
    out = []
    for entry in value if isinstance(value, list) else []:
        if isinstance(entry, dict):
            lang = {"language": _name(entry.get("language")), "level": _name(entry.get("level")),
                    "required": _flag(entry.get("isRequired"))}
            out.append({k: v for k, v in lang.items() if v is not None})
        elif _name(entry):
            out.append({"language": _name(entry)})
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
            value = "<ul>" + "".join(f"<li>{html.escape(_name(v) or '')}</li>" for v in value
                                     if _name(v)) + "</ul>"
        if value:
            sections.append(f"<h3>{label}</h3>{value}" if label else str(value))
    declared = _pick(entry, f["remote"])
    online = True if str(declared).strip().lower() == "online" else _flag(declared)
    onsite = _flag(_pick(entry, f["onsite"]))
    arrangement = _name(_pick(entry, f["arrangement"]))  # e.g. "Hybrid": the normalizer reads it
    remote = "online" if online or onsite is False else arrangement
    stations = _unv_stations(_pick(entry, f["duty_stations"])) or _names(_pick(entry, f["city"]))
    country = _pick(entry, f["country"])
    expertise = _pick(entry, f["expertise"])
    duration = _pick(entry, f["duration"])
    page = (options or {}).get("page_url", "https://app.unv.org/opportunities/{id}")
    return {
        "external_id": str(ident),
        "url": absolute_url(_pick(entry, f["url"]), url) or page.format(id=ident),
        "title": _text(_pick(entry, f["title"])),
        "description_html": "".join(sections) or None,
        "organisation_name": _name(_pick(entry, f["organisation"])),
        "country": _text(_pick(entry, f["country_code"])) or _name(country),
        "city": stations[0] if stations else None,
        "location_text": "; ".join(stations) if len(stations) > 1 else None,
        "remote": remote,
        "start_date": _text(_pick(entry, f["start"])),
        "end_date": _text(_pick(entry, f["end"])),
        "deadline": _text(_pick(entry, f["deadline"])),
        "posted_date": _text(_pick(entry, f["posted"])),
        "duration_text": _days(duration),
        "categories": _names(expertise),
        "structured": _structured(
            duty_stations=stations, country=_name(country),
            duration_days=duration if isinstance(duration, int | float)
            and not isinstance(duration, bool) else None,
            possibility_of_extension=_flag(_pick(entry, f["extension"])),
            volunteer_category=_name(_pick(entry, f["category"])),
            languages=_unv_languages(_pick(entry, f["languages"])),
            work_arrangement=arrangement,
        ),
        "_method": "api",
    }


def parse_unv(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """A search page (a list under ``items``/``value.result``) or one detail
    response (an object, or one under ``value``)."""
    data, errors = _json(body, url)
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
    data, _errors = _json(body, "")
    value = _pick(data, unv_fields(options)["total"]) if isinstance(data, dict) else None
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


PARSERS["unv"] = parse_unv
