"""``feed``: RSS 2.0, Atom and RDF feeds (feedparser).

Options: ``follow: true`` also fetches each entry's page (within the allowed
domains) and takes the full text from its schema.org data when it has any,
or from ``content_selector`` (CSS, default ``article, main``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import feedparser
import scrapy
from parsel import Selector
from scrapy.http import Response

from crawlers.parsing import (
    Result,
    select,
)
from crawlers.platforms.schemaorg import parse_schemaorg
from crawlers.spider import SourceSpider

# Lines of an entry that say where and when, as feeds of events and
# volunteering write them ("Where: 218 18th Street, New York, NY 10003.",
# "Ort: Hamburg-Altona", "When: from 5 December 2026 until 20 January 2027."):
# a label in a language tilts crawls, a colon, then the value to the line's end.
_LABEL = r"(?:^|\n)\s*(?:{labels})\s*:\s*(?P<value>[^\n]{{2,200}}?)\s*\.?\s*(?:\n|$)"
_WHERE = re.compile(_LABEL.format(labels=(
    "where|location|venue|address|place|ort|adresse|veranstaltungsort|vieta|adrese|norises vieta|место|адрес|"
    "место проведения|місце|адреса|lieu|dove|luogo|lugar|dirección|miejsce|adres|vietoje|koht|aadress")),
    re.IGNORECASE)
_WHEN = re.compile(_LABEL.format(labels=(
    "when|date|dates|wann|datum|termin|kad|laiks|datums|когда|дата|даты|коли|дати|quand|quando|cuándo|kiedy|"
    "millal|kada")), re.IGNORECASE)
# "from A until B", "A – B", "bis B": the two ends of a stated period
_FROM = r"(?:from|ab|vom|von|no|с|з|od|du|dal|desde)"
_UNTIL = r"(?:until|till|to|through|bis|līdz|до|по|do|au|al|hasta|–|—|-)"
_PERIOD = re.compile(rf"^(?:{_FROM}\s+)?(?P<start>.*?\d.*?)\s+{_UNTIL}\s+(?P<end>.*\d.*)$", re.IGNORECASE)
_TIME = re.compile(r"\d{1,2}[:.]\d{2}\s*(?:[ap]\.?m\.?|h|uhr)?", re.IGNORECASE)
_TIME_AT_END = re.compile(r"[,\s]+(?:at\s+|um\s+)?\d{1,2}[:.]\d{2}\s*(?:[ap]\.?m\.?|h|uhr)?$", re.IGNORECASE)
_OPEN_END = re.compile(rf"^{_UNTIL}\s+(?P<end>.*\d.*)$", re.IGNORECASE)
_OPEN_START = re.compile(rf"^{_FROM}\s+(?P<start>.*\d.*)$", re.IGNORECASE)


def _entry_text(html: str | None) -> str:
    if not html:
        return ""
    return "\n".join(t.strip() for t in Selector(text=f"<div>{html}</div>").css("*::text").getall())


def labelled_place(html: str | None) -> str | None:
    """The place an entry's text names after a "Where:"-like label, or None."""
    found = _WHERE.search(_entry_text(html))
    return found.group("value").strip() if found else None


def labelled_period(html: str | None) -> tuple[str | None, str | None]:
    """(start, end) as an entry's "When:"-like line states them, as written (the
    normalizer reads the dates): a period's two ends, one end, or one day,
    which is both (a one-day event ends that day). (None, None) when the line
    names no date ("Saturdays", "ongoing")."""
    found = _WHEN.search(_entry_text(html))
    value = found.group("value").strip() if found else ""
    if not any(c.isdigit() for c in value):
        return None, None
    if m := _PERIOD.match(value):
        if _TIME.fullmatch(m.group("end")):  # "5 December 2026, 10:00 – 14:00": one day
            day = _TIME_AT_END.sub("", m.group("start"))
            return day, day
        return m.group("start"), m.group("end")
    if m := _OPEN_END.match(value):
        return None, m.group("end")
    if m := _OPEN_START.match(value):
        return m.group("start"), None
    return value, value


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
        start, end = labelled_period(html)
        items.append({
            "external_id": str(guid),
            "url": urljoin(url, link) if link else url,
            "title": entry.get("title"),
            "description_html": html,
            "location_text": labelled_place(html),
            "start_date": start,
            "end_date": end,
            "organisation_name": entry.get("author"),
            "posted_date": entry.get("published") or entry.get("created") or entry.get("updated"),
            "updated_date": entry.get("updated"),
            "categories": [t.get("term") for t in entry.get("tags") or [] if t.get("term")],
            "_method": "feed",
        })
    return items, errors


class FeedSpider(SourceSpider):
    name = "feed"
    extraction_method = "feed"

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        items, errors = parse_feed(response.body, response.url)
        if not self.options.get("follow"):
            yield from self.emit(response, (items, errors))
            return
        yield from self.emit(response, ([], errors))
        for fields in items:
            yield scrapy.Request(fields["url"], callback=self.parse_entry_page,
                                 cb_kwargs={"fields": fields}, dont_filter=True)

    def parse_entry_page(self, response: Response, fields: dict[str, Any]) -> Iterator[Any]:
        structured, _errors = parse_schemaorg(response.body, response.url)
        if structured:
            merged = {**fields, **{k: v for k, v in structured[0].items() if v}}
            merged["external_id"] = fields["external_id"]
            yield self.raw_item(merged)
            return
        query = self.options.get("content_selector", "article, main")
        body = select(Selector(text=response.text, base_url=response.url), query, html=True,
                      base_url=response.url)  # relative links in the article resolved
        yield self.raw_item({**fields, "description_html": body[0]} if body else fields)
