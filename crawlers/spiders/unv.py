"""``unv``: UN Volunteers assignments (country, duty station, onsite/online,
duration, expertise areas, eligibility, entitlements).

The start URL is the search endpoint; pages are requested with ``take`` and
``skip`` (option ``page_size``) until the total; with ``detail_api`` (a URL
template with ``{id}``) each assignment's detail response is fetched for the
description, eligibility and entitlements. Field names come from
``crawlers.parsers.UNV_FIELDS`` and can be renamed in ``options.fields``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import scrapy
from scrapy.http import Response

from crawlers.parsers import parse_unv, unv_total
from crawlers.spiders.base import OffsetPagedSpider


class UnVolunteersSpider(OffsetPagedSpider):
    name = "unv"
    extraction_method = "api"
    default_page_size = 50

    def page_url(self, endpoint: str, offset: int) -> str:
        extra = self.options.get("query") or {}
        return f"{endpoint}?{urlencode({**extra, 'take': self.page_size(), 'skip': offset})}"

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
        merged = {**summary, **{k: v for k, v in (items[0] if items else {}).items() if v}}
        yield from self.emit(response, ([merged], errors))
