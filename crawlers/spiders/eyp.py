"""``eyp``: the European Youth Portal's public search API (European Solidarity Corps).

The start URL is the search endpoint, e.g.
``https://youth.europa.eu/api/rest/eyp/v1/search_en``. The spider asks for
open opportunities (``type=Opportunity``, ``filters[status]=open``), newest
first, ``size`` per page (option ``page_size``, at most 500 as the portal
allows) and pages with ``from`` until ``hits.total``. The response is
Elasticsearch-shaped; fields are mapped in ``crawlers.parsers.parse_eyp``.
The portal answers 429 when pushed: keep ``politeness.concurrency: 1`` and a
delay in the registry. Its data is CC BY 4.0: the registry's attribution is
carried on every item.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import scrapy
from scrapy.http import Response

from crawlers.parsers import eyp_total, parse_eyp
from crawlers.spiders.base import SourceSpider


class EuropeanYouthPortalSpider(SourceSpider):
    name = "eyp"
    extraction_method = "api"

    def _page(self, endpoint: str, start: int) -> str:
        size = min(int(self.options.get("page_size", 100)), 500)
        params = {"type": "Opportunity", "filters[status]": "open", "from": start, "size": size,
                  "sort[created]": "desc"}
        for i, programme in enumerate(self.options.get("funding_programmes") or []):
            params[f"filters[funding_programme][id][{i}]"] = programme
        return f"{endpoint}?{urlencode(params)}"

    def _start_requests(self) -> Iterator[scrapy.Request]:
        for endpoint in self.start_urls:
            yield scrapy.Request(self._page(endpoint, 0), callback=self.parse,
                                 cb_kwargs={"endpoint": endpoint, "start": 0})

    def parse(self, response: Response, endpoint: str = "", start: int = 0,
              **kwargs: Any) -> Iterator[Any]:
        items, errors = parse_eyp(response.body, response.url,
                                  {"lang": self.language or "en"})
        yield from self.emit(response, (items, errors))
        if start == 0 and endpoint:
            size = min(int(self.options.get("page_size", 100)), 500)
            for offset in range(size, eyp_total(response.body), size):
                yield scrapy.Request(self._page(endpoint, offset), callback=self.parse,
                                     cb_kwargs={"endpoint": endpoint, "start": offset})
