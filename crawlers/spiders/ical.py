"""``ical``: iCalendar feeds of events (volunteer days), one item per VEVENT."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scrapy.http import Response

from crawlers.parsers import parse_ical
from crawlers.spiders.base import SourceSpider


class ICalSpider(SourceSpider):
    name = "ical"
    extraction_method = "ical"

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        yield from self.emit(response, parse_ical(response.body, response.url))
