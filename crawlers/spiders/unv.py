"""``unv``: UN Volunteers assignments (country, duty station, onsite/online,
duration, expertise areas, eligibility, entitlements).

The start URL is the search endpoint; pages are requested with ``take`` and
``skip`` (option ``page_size``; GET parameters, or a JSON body with
``request: post``) until the total; with ``detail_api`` (a URL template with
``{id}``) each assignment's detail response is fetched for the description,
duty stations, languages and the rest, and merged over the search result.
Field names come from ``crawlers.parsers.UNV_FIELDS`` (the envelope
``{value: {total, result}}`` public code shows, and flat names) and can be
renamed in ``options.fields``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import scrapy
from scrapy.http import JsonRequest, Response

from crawlers.parsers import parse_unv, unv_total
from crawlers.spiders.base import OffsetPagedSpider


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
