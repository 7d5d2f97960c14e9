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

from scrapy.http import Response

from crawlers.parsers import eyp_total, parse_eyp
from crawlers.spiders.base import OffsetPagedSpider


class EuropeanYouthPortalSpider(OffsetPagedSpider):
    name = "eyp"
    extraction_method = "api"
    max_page_size = 500  # what the portal accepts

    def page_url(self, endpoint: str, offset: int) -> str:
        params = {"type": "Opportunity", "filters[status]": "open", "from": offset,
                  "size": self.page_size(), "sort[created]": "desc"}
        for i, programme in enumerate(self.options.get("funding_programmes") or []):
            params[f"filters[funding_programme][id][{i}]"] = programme
        return f"{endpoint}?{urlencode(params)}"

    def total(self, body: bytes) -> int:
        return eyp_total(body)

    def parse_page(self, response: Response) -> Iterator[Any]:
        yield from self.emit(response, parse_eyp(response.body, response.url,
                                                 {"lang": self.language or "en"}))
