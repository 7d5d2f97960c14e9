"""What every tilts spider shares: registry arguments, the RawOpportunity item
(``raw_item``, also used by ``tilts extract``) and ``emit``. The spiders
themselves, one per publishing platform, are in ``crawlers/platforms/``.

Arguments (``scrapy crawl KIND -a name=value``), as ``Source.spider_args``
passes them: ``start_urls`` and ``allowed_domains`` (comma-separated; the
crawl never leaves the domains), ``source_id``, ``programme``, ``language``,
``country``, ``attribution``, ``crawl_id``, ``full_crawl``, ``options`` and
``selectors`` (JSON objects from the registry).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import scrapy
from scrapy.http import Response

from crawlers.failures import count_error
from crawlers.items import CrawlDeadLetter
from crawlers.parsing import Result

METHODS = {"json-ld", "microdata", "rdfa", "feed", "api", "wordpress", "ical", "selectors"}


def split_list(value: str | list[str] | None) -> list[str]:
    if not value:
        return []
    if isinstance(value, list):
        return value
    return [v.strip() for v in value.split(",") if v.strip()]


def _json_arg(value: str | dict | None, name: str) -> dict[str, Any]:
    if not value:
        return {}
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise ValueError(f"-a {name}= must be a JSON object: {exc}") from exc
    if not isinstance(parsed, dict):
        raise ValueError(f"-a {name}= must be a JSON object")
    return parsed


def raw_item(fields: dict[str, Any], *, source_id: str, crawl_id: str, programme: str | None = None,
             language: str | None = None, country: str | None = None, attribution: str | None = None,
             extraction_method: str = "api") -> dict[str, Any]:
    """The RawOpportunity a source publishes for one parser result: the parser's
    fields over the source's defaults (programme, language, country, attribution).
    Spiders and ``tilts extract --source`` both build items here."""
    fields = dict(fields)
    method = fields.pop("_method", None)
    item = {
        "source_id": source_id,
        "crawl_id": crawl_id,
        "fetched_at": datetime.now(UTC).isoformat(),
        "extraction_method": method if method in METHODS else extraction_method,
        "programme": programme,
        "source_language": language,
        "default_country": country,
        "attribution": attribution,
    }
    item.update({k: v for k, v in fields.items() if v not in (None, "", [])})
    return item


class SourceSpider(scrapy.Spider):
    extraction_method = "api"
    # The failure kind (crawlers/failures.py) an unreadable part of a response counts as.
    error_kind = "extraction_errors"

    def __init__(
        self,
        start_urls: str | list[str] | None = None,
        source_id: str = "adhoc",
        allowed_domains: str | list[str] | None = None,
        programme: str | None = None,
        language: str | None = None,
        country: str | None = None,
        attribution: str | None = None,
        crawl_id: str | None = None,
        full_crawl: str | bool = False,
        options: str | dict | None = None,
        selectors: str | dict | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.start_urls = split_list(start_urls)
        if not self.start_urls:
            raise ValueError(f"{self.name} spider needs -a start_urls=URL[,URL...]")
        self.source_id = source_id
        self.allowed_domains = split_list(allowed_domains) or sorted(
            {urlparse(u).hostname or "" for u in self.start_urls} - {""}
        )
        self.programme = programme
        self.language = language
        self.country = country
        self.attribution = attribution
        # A full crawl of a registered source (not an ad-hoc URL): listings it
        # no longer finds count as missing (see CrawlStats.complete).
        self.full_crawl = str(full_crawl).lower() in {"1", "true", "yes"}
        self.options = _json_arg(options, "options")
        self.selectors = _json_arg(selectors, "selectors")
        self.crawl_id = crawl_id or f"{source_id}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"

    async def start(self):  # Scrapy >= 2.13
        for req in self._start_requests():
            yield req

    def start_requests(self) -> Iterator[scrapy.Request]:  # Scrapy < 2.13
        return self._start_requests()

    def _start_requests(self) -> Iterator[scrapy.Request]:
        for url in self.start_urls:
            yield scrapy.Request(url, callback=self.parse)

    def raw_item(self, fields: dict[str, Any]) -> dict[str, Any]:
        return raw_item(fields, source_id=self.source_id, crawl_id=self.crawl_id,
                        programme=self.programme, language=self.language, country=self.country,
                        attribution=self.attribution, extraction_method=self.extraction_method)

    def emit(self, response: Response, result: Result) -> Iterator[Any]:
        """Items and dead letters for one parsed response."""
        items, errors = result
        for message in errors:
            count_error(self.crawler.stats, self.error_kind)
            yield CrawlDeadLetter(url=response.url, reason=message, body=response.body)
        for fields in items:
            yield self.raw_item(fields)


class KeyedSpider(SourceSpider):
    """A partner API's spider: ``-a api_key_env=NAME`` names the environment
    variable that holds its key (None without one)."""

    def __init__(self, *args: Any, api_key_env: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.api_key = os.environ.get(api_key_env) if api_key_env else None


class OffsetPagedSpider(SourceSpider):
    """APIs paged by offset: the first page says the total, the others are then
    requested together. Subclasses build ``page_url`` and read ``total`` and items."""

    default_page_size = 100
    max_page_size = 1000

    def page_size(self) -> int:
        return min(int(self.options.get("page_size", self.default_page_size)), self.max_page_size)

    def page_url(self, endpoint: str, offset: int) -> str:
        raise NotImplementedError

    def total(self, body: bytes) -> int:
        raise NotImplementedError

    def parse_page(self, response: Response) -> Iterator[Any]:
        raise NotImplementedError

    def page_request(self, endpoint: str, offset: int) -> scrapy.Request:
        return scrapy.Request(self.page_url(endpoint, offset), callback=self.parse,
                              cb_kwargs={"endpoint": endpoint, "offset": offset})

    def _start_requests(self) -> Iterator[scrapy.Request]:
        for endpoint in self.start_urls:
            yield self.page_request(endpoint, 0)

    def parse(self, response: Response, endpoint: str = "", offset: int = 0,
              **kwargs: Any) -> Iterator[Any]:
        yield from self.parse_page(response)
        if offset == 0 and endpoint:
            size = self.page_size()
            for start in range(size, self.total(response.body), size):
                yield self.page_request(endpoint, start)
