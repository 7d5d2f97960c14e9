"""The crawl benchmark's baseline: a bare Scrapy spider that only downloads.

It follows every link within the start URL's host and does nothing else: no
extraction, no items, no bus. ``scrapy runspider bench/bare_spider.py -a start=URL``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import scrapy


class BareSpider(scrapy.Spider):
    name = "bare"

    def __init__(self, start: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = [start]
        self.allowed_domains = [urlparse(start).hostname or ""]

    def parse(self, response: Any, **kwargs: Any) -> Iterator[Any]:
        for link in response.css("a::attr(href)").getall():
            yield response.follow(link, callback=self.parse)
