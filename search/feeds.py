"""Feeds of a search (RSS 2.0 and Atom, by feedgen) and a listing's calendar
(iCalendar, by icalendar). Feed readers get text, never the source's markup:
titles and summaries are plain text, escaped by the XML writer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from feedgen.feed import FeedGenerator
from icalendar import Calendar, Event

from pipeline.events import web_url
from pipeline.normalize.text import html_to_text, strip_unsafe
from search.backends import SearchRequest, SearchResult


def _when(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def search_feed(result: SearchResult, req: SearchRequest, base_url: str, kind: str, ui: Any = None) -> bytes:
    """The search as a feed in the UI language ``ui`` (a search.i18n.UI; English without)."""
    if ui is None:
        from search.i18n import UI

        ui = UI.of("en")
    _ = ui.gettext
    pairs = req.query_pairs() + ([("lang", ui.lang)] if ui.lang != "en" else [])
    query = urlencode(pairs)
    fg = FeedGenerator()
    fg.id(f"{base_url}/search.{kind}?{query}")
    fg.title(f"tilts: {req.text}" if req.text else _("tilts: volunteering opportunities"))
    fg.subtitle(_("Volunteering opportunities matching a saved search"))
    fg.link(href=f"{base_url}/?{query}", rel="alternate")
    fg.link(href=f"{base_url}/search.{kind}?{query}", rel="self")
    fg.language(ui.lang)
    newest: datetime | None = None
    for hit in reversed(result.hits):  # feedgen prepends: keep the result order
        o: dict[str, Any] = hit.opportunity
        fe = fg.add_entry()
        fe.id(f"{base_url}/o/{o['id']}")
        fe.guid(f"{base_url}/o/{o['id']}", permalink=True)
        fe.title(html_to_text(o["title"]) or o["id"])
        fe.link(href=f"{base_url}/o/{o['id']}")
        org = (o.get("organisation") or {}).get("name")
        where = ", ".join(filter(None, [loc.get("city") or (ui.country_name(loc["country"]) if loc.get("country")
                                                             else None) for loc in o.get("locations", [])]))
        deadline = f"{_('Apply by')} {ui.date(o['deadline'])}" if o.get("deadline") else None
        facts = " · ".join(filter(None, [org, where, deadline]))
        fe.description(html_to_text(f"{facts}\n\n{o.get('summary') or ''}".strip()))
        seen = _when((o.get("provenance") or {}).get("first_seen"))
        fe.published(seen)
        fe.updated(_when((o.get("provenance") or {}).get("last_seen")))
        for theme in o.get("themes", []):  # RSS readers show the term, Atom's the label
            name = ui.label("theme", theme)
            fe.category(term=name if kind == "rss" else theme, label=name)
        newest = seen if newest is None else max(newest, seen)
    fg.updated(newest or datetime.now(UTC))  # an empty feed is as fresh as the search
    return fg.rss_str(pretty=True) if kind == "rss" else fg.atom_str(pretty=True)


def calendar(o: dict[str, Any]) -> bytes:
    """The deadline as an all-day event, and the activity period when known."""
    cal = Calendar()
    cal.add("prodid", "-//tilts//volunteering opportunities//EN")
    cal.add("version", "2.0")
    stamp = _when((o.get("provenance") or {}).get("last_seen"))
    org = (o.get("organisation") or {}).get("name") or ""
    where = ", ".join(filter(None, [loc.get("city") or loc.get("country") for loc in o.get("locations", [])]))

    def event(uid: str, summary: str, start: date, end: date) -> None:
        ev = Event()
        ev.add("uid", f"{uid}@tilts")
        ev.add("dtstamp", stamp)
        ev.add("summary", strip_unsafe(summary))
        ev.add("dtstart", start)
        ev.add("dtend", end)
        if url := web_url(o.get("url")):
            ev.add("url", url)
        if where:
            ev.add("location", strip_unsafe(where))
        ev.add("description", strip_unsafe(" · ".join(filter(None, [org, o.get("summary")]))))
        cal.add_component(ev)

    def day_after(d: date) -> date:
        return d + timedelta(days=1) if d < date.max else d  # an index written before dates were bounded

    if o.get("deadline"):
        d = date.fromisoformat(o["deadline"])
        event(f"{o['id']}-deadline", f"Deadline: {o['title']}", d, day_after(d))
    if o.get("start_date"):
        start = date.fromisoformat(o["start_date"])
        end = date.fromisoformat(o["end_date"]) if o.get("end_date") else start
        event(f"{o['id']}-dates", o["title"], start, day_after(max(start, end)))
    return cal.to_ical()
