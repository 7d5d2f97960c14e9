"""``wordpress``: posts (or a custom post type) and The Events Calendar events
through the WordPress REST API, without HTML scraping.

Each start URL is a site root. Options:

- ``post_type`` (default ``posts``), ``categories`` / ``tags`` (term ids),
  ``search``: which ``/wp-json/wp/v2/<post_type>`` entries to read; ``posts:
  false`` skips them.
- ``events: true`` also reads ``/wp-json/tribe/events/v1/events``.
- ``per_page`` (default 50, at most 100), ``organisation`` (the host's name
  when posts are written by staff accounts).

Pages are followed with ``page=N`` up to the ``X-WP-TotalPages`` header (and
the events API's ``total_pages``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import scrapy
from scrapy.http import Response

from crawlers.parsers import parse_tribe_events, parse_wp_posts
from crawlers.spiders.base import SourceSpider


class WordPressSpider(SourceSpider):
    name = "wordpress"
    extraction_method = "wordpress"

    def _url(self, root: str, page: int) -> str:
        params: dict[str, Any] = {"per_page": min(int(self.options.get("per_page", 50)), 100),
                                  "page": page, "_embed": 1}
        for name in ("categories", "tags", "search"):
            value = self.options.get(name)
            if value:
                params[name] = ",".join(map(str, value)) if isinstance(value, list) else value
        post_type = self.options.get("post_type", "posts")
        return f"{root.rstrip('/')}/wp-json/wp/v2/{post_type}?{urlencode(params)}"

    def _events_url(self, root: str, page: int) -> str:
        per_page = min(int(self.options.get("per_page", 50)), 100)
        return f"{root.rstrip('/')}/wp-json/tribe/events/v1/events?{urlencode({'per_page': per_page, 'page': page})}"

    def _start_requests(self) -> Iterator[scrapy.Request]:
        for root in self.start_urls:
            if self.options.get("posts", True):
                yield scrapy.Request(self._url(root, 1), callback=self.parse_posts,
                                     cb_kwargs={"root": root, "page": 1})
            if self.options.get("events"):
                yield scrapy.Request(self._events_url(root, 1), callback=self.parse_events,
                                     cb_kwargs={"root": root, "page": 1})

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        return self.parse_posts(response, root=response.url, page=1)

    def parse_posts(self, response: Response, root: str, page: int) -> Iterator[Any]:
        yield from self.emit(response, parse_wp_posts(response.body, response.url, self.options))
        if page == 1:
            try:
                total = int(response.headers.get(b"X-WP-TotalPages", b"1").decode() or 1)
            except ValueError:
                total = 1
            for n in range(2, total + 1):
                yield scrapy.Request(self._url(root, n), callback=self.parse_posts,
                                     cb_kwargs={"root": root, "page": n})

    def parse_events(self, response: Response, root: str, page: int) -> Iterator[Any]:
        yield from self.emit(response, parse_tribe_events(response.body, response.url, self.options))
        if page == 1:
            try:
                total = int(json.loads(response.body).get("total_pages") or 1)
            except (ValueError, AttributeError):
                total = 1
            for n in range(2, total + 1):
                yield scrapy.Request(self._events_url(root, n), callback=self.parse_events,
                                     cb_kwargs={"root": root, "page": n})
