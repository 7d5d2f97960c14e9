"""``feed``: RSS 2.0, Atom and RDF feeds (feedparser).

Options: ``follow: true`` also fetches each entry's page (within the allowed
domains) and takes the full text from its schema.org data when it has any,
or from ``content_selector`` (CSS, default ``article, main``).
"""

from __future__ import annotations

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
        items.append({
            "external_id": str(guid),
            "url": urljoin(url, link) if link else url,
            "title": entry.get("title"),
            "description_html": html,
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
