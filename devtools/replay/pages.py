"""What the replay serves: every response body, rendered from the world's state.

- The European Youth Portal search API (``/api/rest/eyp/v1/search_en``, GET
  with query parameters or POST with a JSON body), Elasticsearch-shaped, and
  the opportunities' detail pages (``/solidarity/opportunity/{opid}_{lang}``)
  in the portal's layout (``h6``-labelled sections, as
  ``tests/crawlers/fixtures/eyp/detail-53489_en.html``).
- An NGO site from the NYC Service records under ``/nyc/``: listing pages,
  detail pages with schema.org JSON-LD (``JobPosting`` for ongoing listings,
  ``Event`` for one-day ones), an RSS feed, an iCalendar of the one-day events
  and a sitemap.

Every page states in its footer that it is a replay, where the data come from
and under which licence. The ESC records have no description: the replay
writes a short one from the record's own fields (activity type, place, dates,
topics), and the accommodation/food/transport section states the programme's
rules for volunteering activities, saying that the host's own words are not
part of the data.
"""

from __future__ import annotations

import html
import json
import math
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pycountry

from devtools.replay.layout import ESC_DETAIL_PAGE
from devtools.replay.model import NYC_SHIFT_DAYS, Record, State

ESC_ATTRIBUTION = "European Youth Portal, CC BY 4.0"
NYC_ATTRIBUTION = "NYC Open Data: NYC Service Volunteer Opportunities"
NYC_PAGE_SIZE = 50
# European Youth Portal topic names → the short codes its API uses (where known).
TOPIC_CODES = {
    "Education and training": "edu", "Creativity and culture": "cult", "Social challenges": "socl",
    "Citizenship and democratic participation": "citz", "Environment and natural protection": "envi",
    "Health and wellbeing": "hlth", "Employment and entrepreneurship": "empl",
    "Physical education and sport": "sprt",
    "Working against discrimination (including gender discrimination)": "discr",
    "Reception and integration of refugees and migrants": "migr",
}
# ISO 3166-1 → the EU's own codes, as the portal's API writes countries.
EU_CODES = {"GR": "EL", "GB": "UK"}
ISO_CODES = {v: k for k, v in EU_CODES.items()}
_NAMES = {"XK": "Kosovo", "EL": "Greece", "UK": "United Kingdom"}
SUPPORT_TEXT = (
    "<p>Under the European Solidarity Corps rules for volunteering activities, the programme covers "
    "the volunteer's accommodation, food, travel to and from the activity and insurance, and pays "
    "pocket money.</p>"
    "<p>The host organisation's own description of these arrangements is not part of the published "
    "data this replay is built from.</p>")
# What a correct index shows for SUPPORT_TEXT.
ESC_SUPPORT = {"accommodation": True, "food": True, "travel": True, "insurance": True, "allowance": True}


def country_name(code: str) -> str:
    code = (code or "").upper()
    if code in _NAMES:
        return _NAMES[code]
    found = pycountry.countries.get(alpha_2=code)
    if found is None:
        return code
    name = getattr(found, "common_name", None) or found.name
    return name.split(",")[0]  # "Palestine, State of": a list item must not hold a comma


def iso_country(code: str | None) -> str | None:
    code = (code or "").strip().upper()
    return ISO_CODES.get(code, code) or None


def long_date(d: date) -> str:
    return f"{d.day} {d:%B %Y}"


def revision_note(n: int) -> str:
    """The sentence a simulated description edit adds (the index must show it)."""
    return f"Revision {n} of this listing (a simulated edit in the tilts replay)."


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


class Renderer:
    """Response bodies for the world's current state, served ``offset`` days later
    than the corpus calendar, with absolute links on ``base``."""

    def __init__(self, base: str, offset: int) -> None:
        self.base = base
        self.offset = timedelta(days=offset)

    def served(self, d: date | None) -> date | None:
        return d + self.offset if d else None

    def served_time(self, t: datetime | None) -> datetime | None:
        return t + self.offset if t else None

    # ------------------------------------------------------------------ ESC

    def esc_description(self, s: State) -> str:
        r, o = s.record, s.record.data
        kind = "A volunteering team" if "team" in r.kind.lower() else "An individual volunteering activity"
        where = ", ".join(x for x in (o.get("town"), country_name(o.get("country") or "")) if x)
        when = ""
        if r.start and r.end:
            when = f", from {long_date(self.served(r.start))} to {long_date(self.served(r.end))}"  # type: ignore[arg-type]
        parts = [f"<p>{_e(kind)} of the European Solidarity Corps in {_e(where)}{when}.</p>"]
        topics = [t for t in o.get("topics") or [] if t]
        if topics:
            parts.append(f"<p>Topics: {_e('; '.join(topics))}.</p>")
        if s.revision:
            parts.append(f"<p>{_e(revision_note(s.revision))}</p>")
        return "".join(parts)

    def esc_source(self, s: State) -> dict[str, Any]:
        """One hit's ``_source`` as the portal's search API gives it."""
        r, o = s.record, s.record.data
        # 1970-01-01 in the data stands for "not known": not served as a date.
        created = self.served_time(r.created) if r.created.year > 1970 else None
        changed = self.served_time(s.changed) or created
        src: dict[str, Any] = {
            "opid": int(r.key) if r.key.isdigit() else r.key,
            "title": r.title,
            "description": self.esc_description(s),
            "town": o.get("town"),
            "country": o.get("country"),
            "countries": [o.get("country")] if o.get("country") else [],
            "date_start": self.served(r.start).isoformat() if r.start else None,  # type: ignore[union-attr]
            "date_end": self.served(r.end).isoformat() if r.end else None,  # type: ignore[union-attr]
            "date_application_end": f"{self.served(s.deadline).isoformat()}T23:59:00"  # type: ignore[union-attr]
            if s.deadline else None,
            "has_no_deadline": s.deadline is None,
            "topics": [TOPIC_CODES.get(t, t) for t in o.get("topics") or []],
            "volunteer_countries": [EU_CODES.get(c, c) for c in o.get("eligible_countries") or []],
            "activity_type": r.kind or None,
            "project_code": o.get("project_code"),
            "created": created.isoformat(timespec="seconds") if created else None,
            "changed": changed.isoformat(timespec="seconds") if changed else None,
        }
        return {k: v for k, v in src.items() if v is not None}

    def esc_search(self, live: list[State], *, offset: int, size: int, status: str | None,
                   closed: list[State], order: str = "desc") -> bytes:
        pool = live if status in (None, "open") else closed if status == "closed" else []
        if status is None:
            pool = live + closed
        ordered = sorted(pool, key=lambda s: (s.record.created, s.record.key), reverse=order != "asc")
        page = ordered[offset:offset + size]
        body = {"took": 1, "timed_out": False,
                "hits": {"total": {"value": len(ordered), "relation": "eq"}, "max_score": None,
                         "hits": [{"_index": "eyp-opportunities", "_id": s.record.key, "_score": None,
                                   "_source": self.esc_source(s)} for s in page]}}
        return json.dumps(body, ensure_ascii=False).encode()

    def esc_detail(self, s: State, lang: str = "en") -> bytes:
        r, o = s.record, s.record.data
        url = f"{self.base}/solidarity/opportunity/{r.key}_{lang}"
        kind = "Volunteering Teams" if "team" in r.kind.lower() else "Individual Volunteering"
        side = []
        if r.start and r.end:
            side.append(("Activity dates", [f"{self.served(r.start):%d/%m/%Y} - {self.served(r.end):%d/%m/%Y}"]))
        if o.get("location"):
            side.append(("Activity location", [o["location"]]))
        countries = [country_name(c) for c in o.get("eligible_countries") or []]
        if countries:
            side.append(("Looking for participants from", [", ".join(countries)]))
        if o.get("topics"):
            side.append(("Activity topics", list(o["topics"])))
        if s.deadline:
            side.append(("Deadline for applications", [f"{self.served(s.deadline):%d/%m/%Y} 23:59 (Brussels time)"]))
        sidebar = "".join(f"<h6>{_e(label)}</h6>" + "".join(f"<p>{_e(p)}</p>" for p in paras)
                          for label, paras in side)
        return ESC_DETAIL_PAGE.format(
            lang=_e(lang), title=_e(r.title), url=_e(url), kind=_e(kind), description=self.esc_description(s),
            support=SUPPORT_TEXT, sidebar=sidebar, attribution=_e(ESC_ATTRIBUTION), key=_e(r.key),
            days=self.offset.days).encode()

    def esc_home(self) -> bytes:
        return self._page("European Solidarity Corps opportunities (replay)",
                          "<p>The search API of this replay is at "
                          "<code>/api/rest/eyp/v1/search_en</code>.</p>", ESC_ATTRIBUTION)

    # ------------------------------------------------------------------ NYC

    def nyc_url(self, r: Record) -> str:
        return f"{self.base}/nyc/opportunities/{r.key}"

    def nyc_address(self, r: Record) -> str:
        p = r.data["_place"]
        state_zip = " ".join(x for x in (p.state or r.data.get("region"), p.zip or r.data.get("Postcode")) if x)
        return ", ".join(x for x in (p.address, p.city, state_zip) if x)

    def nyc_text(self, s: State) -> str:
        """The listing's summary as published, plus a simulated revision, if any."""
        text = " ".join((s.record.data.get("summary") or "").split())
        if s.revision:
            text = f"{text}\n\n{revision_note(s.revision)}".strip()
        return text

    def nyc_when(self, s: State) -> str:
        r = s.record
        if r.onetime and r.start:
            return long_date(self.served(r.start))  # type: ignore[arg-type]
        parts = []
        if r.start:
            parts.append(f"from {long_date(self.served(r.start))}")  # type: ignore[arg-type]
        if s.end:
            parts.append(f"until {long_date(self.served(s.end))}")  # type: ignore[arg-type]
        return " ".join(parts) or "ongoing"

    def nyc_jsonld(self, s: State) -> dict[str, Any]:
        r, row, p = s.record, s.record.data, s.record.data["_place"]
        place: dict[str, Any] = {"@type": "Place", "address": {
            "@type": "PostalAddress", "streetAddress": p.address, "addressLocality": p.city,
            "addressRegion": p.state or row.get("region") or None,
            "postalCode": p.zip or row.get("Postcode") or None, "addressCountry": "US"}}
        place["address"] = {k: v for k, v in place["address"].items() if v}
        if p.latitude and p.longitude:
            place["geo"] = {"@type": "GeoCoordinates", "latitude": p.latitude, "longitude": p.longitude}
        org = {"@type": "Organization", "name": row.get("org_title")} if row.get("org_title") else None
        ident = {"@type": "PropertyValue", "name": "NYC Service opportunity", "value": r.key}
        modified = self.served_time(s.changed) or self.served_time(r.created)
        node: dict[str, Any]
        if r.onetime:
            node = {"@context": "https://schema.org", "@type": "Event", "identifier": ident,
                    "name": r.title, "description": self.nyc_text(s), "url": self.nyc_url(r),
                    "startDate": self.served(r.start).isoformat() if r.start else None,  # type: ignore[union-attr]
                    "endDate": self.served(s.end).isoformat() if s.end else None,  # type: ignore[union-attr]
                    "eventStatus": "https://schema.org/EventScheduled", "location": place,
                    "organizer": org, "keywords": row.get("category_desc") or None}
        else:
            node = {"@context": "https://schema.org", "@type": "JobPosting", "identifier": ident,
                    "title": r.title, "description": self.nyc_text(s), "url": self.nyc_url(r),
                    "employmentType": "VOLUNTEER",
                    "datePosted": self.served(r.created.date()).isoformat(),  # type: ignore[union-attr]
                    "jobStartDate": self.served(r.start).isoformat() if r.start else None,  # type: ignore[union-attr]
                    "validThrough": self.served(s.end).isoformat() if s.end else None,  # type: ignore[union-attr]
                    "hiringOrganization": org, "jobLocation": place,
                    "occupationalCategory": row.get("category_desc") or None}
        node["dateModified"] = modified.date().isoformat() if modified else None
        return {k: v for k, v in node.items() if v is not None}

    def nyc_detail(self, s: State) -> bytes:
        r, row = s.record, s.record.data
        data = json.dumps(self.nyc_jsonld(s), ensure_ascii=False).replace("</", "<\\/")
        facts = [("Organisation", row.get("org_title")), ("When", self.nyc_when(s)),
                 ("Where", self.nyc_address(r)), ("Category", row.get("category_desc"))]
        dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts if v)
        paras = "".join(f"<p>{_e(p)}</p>" for p in self.nyc_text(s).split("\n\n") if p)
        body = (f'<script type="application/ld+json">{data}</script>'
                f"<h1>{_e(r.title)}</h1><dl>{dl}</dl><div class=\"description\">{paras}</div>")
        return self._page(f"{r.title} | NYC Service (replay)", body, NYC_ATTRIBUTION, nyc=True,
                          canonical=self.nyc_url(r))

    def nyc_listing(self, live: list[State], page: int) -> bytes | None:
        ordered = self.nyc_order(live)
        pages = max(1, math.ceil(len(ordered) / NYC_PAGE_SIZE))
        if page < 1 or page > pages:
            return None
        rows = ordered[(page - 1) * NYC_PAGE_SIZE: page * NYC_PAGE_SIZE]
        items = "".join(
            f'<li><a href="/nyc/opportunities/{_e(s.record.key)}">{_e(s.record.title)}</a>'
            f" – {_e(s.record.data.get('org_title') or '')}, {_e(self.nyc_when(s))}</li>" for s in rows)
        nav = " ".join(f"<strong>{n}</strong>" if n == page else f'<a href="/nyc/opportunities?page={n}">{n}</a>'
                       for n in range(1, pages + 1))
        body = (f"<h1>Volunteer opportunities</h1><p>{len(ordered)} opportunities, newest first.</p>"
                f"<ul class=\"opportunities\">{items}</ul><nav class=\"pages\">Pages: {nav}</nav>")
        return self._page(f"Volunteer opportunities, page {page} | NYC Service (replay)", body,
                          NYC_ATTRIBUTION, nyc=True)

    @staticmethod
    def nyc_order(live: list[State]) -> list[State]:
        return sorted(live, key=lambda s: (s.record.created, s.record.key), reverse=True)

    def nyc_home(self) -> bytes:
        return self._page("NYC Service volunteer opportunities (replay)",
                          '<p><a href="/nyc/opportunities">Volunteer opportunities</a></p>',
                          NYC_ATTRIBUTION, nyc=True)

    def nyc_rss(self, live: list[State]) -> bytes:
        items = []
        for s in self.nyc_order(live):
            r, row = s.record, s.record.data
            desc = "".join(f"<p>{_e(p)}</p>" for p in self.nyc_text(s).split("\n\n") if p)
            desc += f"<p>When: {_e(self.nyc_when(s))}.</p>"
            address = self.nyc_address(r)
            if address:
                desc += f"<p>Where: {_e(address)}.</p>"
            created = datetime.combine(self.served(r.created.date()), r.created.time(), tzinfo=UTC)  # type: ignore[arg-type]
            category = f"<category>{_e(row['category_desc'])}</category>" if row.get("category_desc") else ""
            creator = f"<dc:creator>{_e(row['org_title'])}</dc:creator>" if row.get("org_title") else ""
            items.append(f"<item><title>{_e(r.title)}</title><link>{_e(self.nyc_url(r))}</link>"
                         f'<guid isPermaLink="false">nyc-service-{_e(r.key)}</guid>'
                         f"<pubDate>{format_datetime(created)}</pubDate>{category}{creator}"
                         f"<description>{_e(desc)}</description></item>")
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
                "<title>NYC Service volunteer opportunities (replay)</title>"
                f"<link>{_e(self.base)}/nyc/</link>"
                f"<description>A replay served by tilts. Data: {_e(NYC_ATTRIBUTION)}; dates moved.</description>"
                "<language>en</language>" + "".join(items) + "</channel></rss>").encode()

    def nyc_ical(self, live: list[State]) -> bytes:
        import icalendar

        cal = icalendar.Calendar()
        cal.add("prodid", "-//tilts replay//NYC Service volunteer days//EN")
        cal.add("version", "2.0")
        cal.add("x-wr-calname", "NYC Service volunteer days (replay)")
        for s in self.nyc_order(live):
            r = s.record
            if not r.onetime or not r.start:
                continue
            ev = icalendar.Event()
            modified = self.served_time(s.changed) or self.served_time(r.created)
            ev.add("uid", f"nyc-service-{r.key}@replay.tilts")
            ev.add("dtstamp", modified.replace(tzinfo=UTC))  # type: ignore[union-attr]
            ev.add("summary", r.title)
            ev.add("dtstart", self.served(r.start))  # a date: a one-day event (RFC 5545 3.6.1)
            ev.add("description", self.nyc_text(s))
            address = self.nyc_address(r)
            if address:
                ev.add("location", address)
            ev.add("url", self.nyc_url(r))
            ev.add("last-modified", modified.replace(tzinfo=UTC))  # type: ignore[union-attr]
            if r.data.get("category_desc"):
                ev.add("categories", [r.data["category_desc"]])
            cal.add_component(ev)
        return cal.to_ical()

    def nyc_sitemap(self, live: list[State]) -> bytes:
        urls = []
        for s in self.nyc_order(live):
            modified = self.served_time(s.changed) or self.served_time(s.record.created)
            urls.append(f"<url><loc>{_e(self.nyc_url(s.record))}</loc>"
                        f"<lastmod>{modified.date().isoformat()}</lastmod></url>")  # type: ignore[union-attr]
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                + "".join(urls) + "</urlset>").encode()

    # --------------------------------------------------------------- shared

    def robots(self) -> bytes:
        return f"User-agent: *\nAllow: /\nSitemap: {self.base}/nyc/sitemap.xml\n".encode()

    def home(self) -> bytes:
        return self._page("tilts replay", '<ul><li><a href="/solidarity/opportunities_en">European Solidarity '
                          'Corps opportunities</a></li><li><a href="/nyc/">NYC Service volunteer '
                          "opportunities</a></li></ul>", f"{ESC_ATTRIBUTION}; {NYC_ATTRIBUTION}")

    def _page(self, title: str, body: str, attribution: str, *, nyc: bool = False,
              canonical: str | None = None) -> bytes:
        head = f'<link rel="canonical" href="{_e(canonical)}">' if canonical else ""
        if nyc:  # where the feed and the calendar are, as sites say it (no link a crawler follows)
            head += ('<link rel="alternate" type="application/rss+xml" href="/nyc/feed.rss">'
                     '<link rel="alternate" type="text/calendar" href="/nyc/events.ics">')
        header = '<header><a href="/nyc/">NYC Service volunteer opportunities (replay)</a></header>' if nyc else ""
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>{head}'
                f"</head><body>{header}<main>{body}</main>"
                f"<footer><p>A replay served by tilts on this machine, not the original site. "
                f"Data: {_e(attribution)}; dates are moved by "
                f"{self.offset.days + (NYC_SHIFT_DAYS if nyc else 0)} days.</p></footer>"
                "</body></html>\n").encode()
