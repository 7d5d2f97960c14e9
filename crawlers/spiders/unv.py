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
from crawlers.spiders.base import SourceSpider


class UnVolunteersSpider(SourceSpider):
    name = "unv"
    extraction_method = "api"

    def _page(self, endpoint: str, skip: int) -> str:
        take = int(self.options.get("page_size", 50))
        extra = self.options.get("query") or {}
        return f"{endpoint}?{urlencode({**extra, 'take': take, 'skip': skip})}"

    def _start_requests(self) -> Iterator[scrapy.Request]:
        for endpoint in self.start_urls:
            yield scrapy.Request(self._page(endpoint, 0), callback=self.parse,
                                 cb_kwargs={"endpoint": endpoint, "skip": 0})

    def parse(self, response: Response, endpoint: str = "", skip: int = 0,
              **kwargs: Any) -> Iterator[Any]:
        items, errors = parse_unv(response.body, response.url, self.options)
        detail = self.options.get("detail_api")
        if detail:
            yield from self.emit(response, ([], errors))
            for fields in items:
                yield scrapy.Request(detail.format(id=fields["external_id"]), callback=self.parse_detail,
                                     cb_kwargs={"summary": fields})
        else:
            yield from self.emit(response, (items, errors))
        if skip == 0 and endpoint:
            take = int(self.options.get("page_size", 50))
            for offset in range(take, unv_total(response.body, self.options), take):
                yield scrapy.Request(self._page(endpoint, offset), callback=self.parse,
                                     cb_kwargs={"endpoint": endpoint, "skip": offset})

    def parse_detail(self, response: Response, summary: dict[str, Any]) -> Iterator[Any]:
        items, errors = parse_unv(response.body, response.url, self.options)
        merged = {**summary, **{k: v for k, v in (items[0] if items else {}).items() if v}}
        yield from self.emit(response, ([merged], errors))
