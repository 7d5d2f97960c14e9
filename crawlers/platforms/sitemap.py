"""``sitemap``: only the pages a site's sitemaps list (filtered by the registry's
``include``, ``exclude`` and ``lastmod_after``), each read as a ``schemaorg`` page
(``crawlers/platforms/schemaorg.py``: the sitemap reading and the parser are there)."""

from __future__ import annotations

from collections.abc import Iterator

import scrapy

from crawlers.platforms.schemaorg import SchemaOrgSpider


class SitemapSpider(SchemaOrgSpider):
    """``sitemap``: only the pages the sitemaps list (filtered by the registry)."""

    name = "sitemap"

    def _start_requests(self) -> Iterator[scrapy.Request]:
        for url in self.start_urls:
            yield scrapy.Request(url, callback=self.parse_sitemap)
