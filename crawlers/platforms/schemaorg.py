"""``schemaorg``: the generic spider for sites publishing schema.org JSON-LD.

Arguments (``scrapy crawl schemaorg -a name=value``):

- ``start_urls``: comma-separated pages or sitemaps (``*.xml``, ``*.xml.gz``
  or a path containing ``sitemap``; gzipped ones are read up to
  DOWNLOAD_MAXSIZE decompressed); required.
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

import re
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import scrapy
from scrapy.http import Response, TextResponse
from scrapy.utils._compression import _DecompressionMaxSizeExceeded
from scrapy.utils.gz import gunzip, gzip_magic_number
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

from crawlers.failures import count_error
from crawlers.parsing import (
    Result,
)
from crawlers.spider import SourceSpider
from crawlers.structured_data import iter_opportunities, jsonld_blocks, microdata_rdfa, to_raw_fields


def parse_schemaorg(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """A page's schema.org opportunities: its JSON-LD, else its Microdata and RDFa."""
    if not body.strip():
        return [], []
    try:
        blocks, errors = jsonld_blocks(body.decode("utf-8", "replace"), url)
    except Exception as exc:
        return [], [f"unreadable page {url}: {exc}"]
    items = [to_raw_fields(node, url, i) | {"_method": "json-ld"}
             for i, node in enumerate(iter_opportunities(blocks))]
    if not items:
        items, more = microdata_rdfa(body, url)
        errors += more
    return items, errors



def _is_sitemap(url: str) -> bool:
    path = urlparse(url).path.lower()
    return path.endswith((".xml", ".xml.gz")) or "sitemap" in path


class SchemaOrgSpider(SourceSpider):
    name = "schemaorg"
    extraction_method = "json-ld"
    error_kind = "malformed_jsonld"

    def _start_requests(self) -> Iterator[scrapy.Request]:
        for url in self.start_urls:
            callback = self.parse_sitemap if _is_sitemap(url) else self.parse
            yield scrapy.Request(url, callback=callback)

    def parse_sitemap(self, response: Response) -> Iterator[scrapy.Request]:
        if response.url.endswith("/robots.txt"):
            for url in sitemap_urls_from_robots(response.text, base_url=response.url):
                yield scrapy.Request(url, callback=self.parse_sitemap)
            return
        body = self._sitemap_body(response)
        if body is None:
            return
        try:
            sitemap = Sitemap(body)
        except Exception as exc:
            count_error(self.crawler.stats, "sitemap_errors")
            self.logger.warning("unreadable sitemap %s: %s", response.url, exc)
            return
        for entry in sitemap:
            loc = entry.get("loc")
            if not loc:
                continue
            if sitemap.type == "sitemapindex":
                yield scrapy.Request(loc, callback=self.parse_sitemap)
            elif self._wanted(loc, entry.get("lastmod")):
                yield scrapy.Request(loc, callback=self.parse_page,
                                     meta={"lastmod": entry.get("lastmod")})
            else:
                self.crawler.stats.inc_value("tilts/sitemap_skipped")

    def _sitemap_body(self, response: Response) -> bytes | None:
        """The sitemap's XML: gzipped ones (``sitemap.xml.gz``) decompressed, up to
        the download size limit (as Scrapy's SitemapSpider does); over it, a
        ``too_large`` error, and a broken gzip stream a ``sitemap_errors`` one."""
        if not gzip_magic_number(response):
            return response.body
        max_size = response.meta.get("download_maxsize",
                                     self.crawler.settings.getint("DOWNLOAD_MAXSIZE"))
        try:
            return gunzip(response.body, max_size=max_size)
        except _DecompressionMaxSizeExceeded as exc:
            count_error(self.crawler.stats, "too_large")
            self.logger.warning("sitemap %s over DOWNLOAD_MAXSIZE once decompressed: %s",
                                response.url, exc)
        except (OSError, EOFError, zlib.error) as exc:
            count_error(self.crawler.stats, "sitemap_errors")
            self.logger.warning("unreadable gzipped sitemap %s: %s", response.url, exc)
        return None

    def _wanted(self, url: str, lastmod: str | None) -> bool:
        """Registry options: ``include`` / ``exclude`` URL regexes, ``lastmod_after`` date."""
        include = self.options.get("include") or []
        exclude = self.options.get("exclude") or []
        if include and not any(re.search(rx, url) for rx in include):
            return False
        if any(re.search(rx, url) for rx in exclude):
            return False
        after = self.options.get("lastmod_after")
        return not (after and lastmod and lastmod[:10] < str(after)[:10])

    def parse_page(self, response: Response) -> Iterator[Any]:
        """A page named by a sitemap: extracted, never followed further."""
        yield from self._extract(response, follow=False)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        yield from self._extract(response, follow=True)

    def _extract(self, response: Response, *, follow: bool) -> Iterator[Any]:
        if not isinstance(response, TextResponse):
            self.crawler.stats.inc_value("tilts/non_text_responses")
            return
        items, errors = parse_schemaorg(response.body, response.url)
        yield from self.emit(response, (items, errors))
        if items or errors or not follow:
            return
        for link in response.css("a::attr(href)").getall():
            if link.startswith(("mailto:", "tel:", "javascript:", "#")):
                continue
            yield response.follow(link, callback=self.parse)
