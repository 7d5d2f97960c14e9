"""``listing``: list pages → detail pages, read with the registry's selectors.

``selectors.item_links`` finds the detail links on a list page,
``selectors.next_page`` the next list page, and ``selectors.fields`` maps
RawOpportunity fields to CSS (or ``xpath:``) selectors on a detail page. No
Python per site: see docs/sources.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scrapy.http import Response

from crawlers.parsers import page_base, parse_listing_detail, select
from crawlers.spiders.base import SourceSpider


class ListingSpider(SourceSpider):
    name = "listing"
    extraction_method = "selectors"

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        # Links resolved as a browser would (the page's <base href>, "//host/x",
        # "../x"); a javascript: or data: "link" is not one and is not followed.
        base = page_base(response.selector, response.url)
        links = select(response.selector, self.selectors["item_links"], link=True, base_url=base)
        if not links:
            self.crawler.stats.inc_value("tilts/empty_list_pages")
        for link in links:
            yield response.follow(link, callback=self.parse_detail)
        next_query = self.selectors.get("next_page")
        if next_query:
            for link in select(response.selector, next_query, link=True, base_url=base)[:1]:
                yield response.follow(link, callback=self.parse)

    def parse_detail(self, response: Response) -> Iterator[Any]:
        yield from self.emit(response, parse_listing_detail(response.body, response.url, self.selectors))
