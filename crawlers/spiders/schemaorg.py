"""``schemaorg``: the generic spider for sites publishing schema.org JSON-LD.

Arguments (``scrapy crawl schemaorg -a name=value``):

- ``start_urls``: comma-separated pages or sitemaps (``*.xml`` or a path
  containing ``sitemap``); required.
- ``source_id``: the registry id the items are attributed to (default
  ``adhoc``).
- ``allowed_domains``: comma-separated; default the start URLs' hosts. The
  crawl never leaves them.
- ``programme``, ``language``, ``country``: source defaults passed on.
- ``crawl_id``: set by the scheduler; a fresh one otherwise.

Pages with opportunities yield one item per JSON-LD opportunity; pages
without any are followed (within the domains and ``DEPTH_LIMIT``) as listing
pages. A broken JSON-LD block becomes a dead letter naming the page.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import scrapy
from scrapy.http import Response, TextResponse
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

from crawlers.extract import iter_opportunities, jsonld_blocks, to_raw_fields
from crawlers.items import CrawlDeadLetter


def _split(value: str | list[str] | None) -> list[str]:
    if not value:
        return []
    if isinstance(value, list):
        return value
    return [v.strip() for v in value.split(",") if v.strip()]


def _is_sitemap(url: str) -> bool:
    path = urlparse(url).path.lower()
    return path.endswith(".xml") or "sitemap" in path


class SchemaOrgSpider(scrapy.Spider):
    name = "schemaorg"
    extraction_method = "json-ld"

    def __init__(
        self,
        start_urls: str | list[str] | None = None,
        source_id: str = "adhoc",
        allowed_domains: str | list[str] | None = None,
        programme: str | None = None,
        language: str | None = None,
        country: str | None = None,
        crawl_id: str | None = None,
        full_crawl: str | bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # A full crawl of a registered source (not an ad-hoc URL): listings it
        # no longer finds count as missing (see CrawlStats.complete).
        self.full_crawl = str(full_crawl).lower() in {"1", "true", "yes"}
        self.start_urls = _split(start_urls)
        if not self.start_urls:
            raise ValueError("schemaorg spider needs -a start_urls=URL[,URL...]")
        self.source_id = source_id
        self.allowed_domains = _split(allowed_domains) or sorted(
            {urlparse(u).hostname or "" for u in self.start_urls} - {""}
        )
        self.programme = programme
        self.language = language
        self.country = country
        self.crawl_id = crawl_id or f"{source_id}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"

    async def start(self):  # Scrapy >= 2.13
        for req in self._start_requests():
            yield req

    def start_requests(self) -> Iterator[scrapy.Request]:  # Scrapy < 2.13
        return self._start_requests()

    def _start_requests(self) -> Iterator[scrapy.Request]:
        for url in self.start_urls:
            callback = self.parse_sitemap if _is_sitemap(url) else self.parse
            yield scrapy.Request(url, callback=callback)

    def parse_sitemap(self, response: Response) -> Iterator[scrapy.Request]:
        if response.url.endswith("/robots.txt"):
            for url in sitemap_urls_from_robots(response.text, base_url=response.url):
                yield scrapy.Request(url, callback=self.parse_sitemap)
            return
        try:
            sitemap = Sitemap(response.body)
        except Exception as exc:  # noqa: BLE001 - lxml raises several kinds
            self.crawler.stats.inc_value("tilts/sitemap_errors")
            self.logger.warning("unreadable sitemap %s: %s", response.url, exc)
            return
        for entry in sitemap:
            loc = entry.get("loc")
            if not loc:
                continue
            if sitemap.type == "sitemapindex":
                yield scrapy.Request(loc, callback=self.parse_sitemap)
            else:
                yield scrapy.Request(loc, callback=self.parse, meta={"lastmod": entry.get("lastmod")})

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        if not isinstance(response, TextResponse):
            self.crawler.stats.inc_value("tilts/non_text_responses")
            return
        blocks, errors = jsonld_blocks(response.text, response.url)
        for message in errors:
            self.crawler.stats.inc_value("tilts/malformed_jsonld")
            yield CrawlDeadLetter(url=response.url, reason=message, body=response.body)
        found = 0
        for index, node in enumerate(iter_opportunities(blocks)):
            fields = to_raw_fields(node, response.url, index)
            found += 1
            yield self.raw_item(fields)
        if found or errors:
            return
        for link in response.css("a::attr(href)").getall():
            if link.startswith(("mailto:", "tel:", "javascript:", "#")):
                continue
            yield response.follow(link, callback=self.parse)

    def raw_item(self, fields: dict[str, Any]) -> dict[str, Any]:
        item = {
            "source_id": self.source_id,
            "crawl_id": self.crawl_id,
            "fetched_at": datetime.now(UTC).isoformat(),
            "extraction_method": self.extraction_method,
            "programme": self.programme,
            "source_language": self.language,
            "default_country": self.country,
        }
        item.update(fields)
        return item
