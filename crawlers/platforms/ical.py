"""``ical``: iCalendar feeds of events (volunteer days), one item per VEVENT."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from scrapy.http import Response

from crawlers.parsing import (
    Result,
    text_of,
)
from crawlers.spider import SourceSpider


def _ical_value(value: Any) -> str | None:
    if value is None:
        return None
    decoded = getattr(value, "dt", value)
    if isinstance(decoded, datetime | date):
        return decoded.isoformat()
    return text_of(decoded)


def _end(event: Any) -> str | None:
    """The last day or moment of a VEVENT (RFC 5545 3.6.1). An all-day event's
    DTEND is the day after it (exclusive): a one-day event on 24 April has
    DTEND 25 April. Without DTEND, a DURATION counts from DTSTART; without
    either, an all-day event lasts its one day and a timed one ends as it
    starts."""
    start = getattr(event.get("DTSTART"), "dt", None)
    end = getattr(event.get("DTEND"), "dt", None)
    duration = getattr(event.get("DURATION"), "dt", None)
    if end is None and isinstance(start, date):
        end = start + duration if isinstance(duration, timedelta) else start
        if not isinstance(start, datetime) and isinstance(duration, timedelta) and duration.days >= 1:
            end -= timedelta(days=1)  # a DURATION of P1D ends before the next day, as DTEND does
        return end.isoformat()
    if isinstance(end, date) and not isinstance(end, datetime):
        end = end - timedelta(days=1)
        if isinstance(start, date) and not isinstance(start, datetime) and end < start:
            end = start
        return end.isoformat()
    return _ical_value(event.get("DTEND"))


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
            "end_date": _end(event),
            "updated_date": _ical_value(event.get("LAST-MODIFIED")),
            "location_text": _ical_value(event.get("LOCATION")),
            "organisation_name": (organizer.params.get("CN") if organizer is not None
                                  and hasattr(organizer, "params") else None),
            "categories": cats,
            "_method": "ical",
        })
    return items, errors


class ICalSpider(SourceSpider):
    name = "ical"
    extraction_method = "ical"

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        yield from self.emit(response, parse_ical(response.body, response.url))
