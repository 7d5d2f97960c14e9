"""``feed``: RSS 2.0, Atom and RDF feeds (feedparser).

Options: ``follow: true`` also fetches each entry's page (within the allowed
domains) and takes the full text from its schema.org data when it has any,
or from ``content_selector`` (CSS, default ``article, main``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import scrapy
from parsel import Selector
from scrapy.http import Response

from crawlers.parsers import parse_feed, parse_schemaorg, select
from crawlers.spiders.base import SourceSpider


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
