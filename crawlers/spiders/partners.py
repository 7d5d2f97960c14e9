"""Partner APIs: Volunteer Connector (open), Do-it (UK) and Idealist (key).

A source with ``api_key_env`` gets its key from that environment variable in
the crawl's process; without it the registry lists the source as disabled and
it is never crawled. Shapes: ``crawlers.parsers`` (from what is publicly
known about each API, see ../shared/data/README.md).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import urlencode

import scrapy
from scrapy.http import Response

from crawlers.parsers import (
    doit_next,
    idealist_page,
    parse_doit,
    parse_idealist,
    parse_volunteer_connector,
    volunteer_connector_next,
)
from crawlers.spiders.base import SourceSpider


class _KeyedSpider(SourceSpider):
    def __init__(self, *args: Any, api_key_env: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.api_key = os.environ.get(api_key_env) if api_key_env else None


class VolunteerConnectorSpider(_KeyedSpider):
    """``/api/search/`` pages, following ``next`` until it is null."""

    name = "volunteer_connector"

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        yield from self.emit(response, parse_volunteer_connector(response.body, response.url,
                                                                 self.options))
        following = volunteer_connector_next(response.body)
        if following:
            yield response.follow(following, callback=self.parse)


class DoItSpider(_KeyedSpider):
    """``/v1/opportunities?lat=&lng=&miles=`` around each point in ``options.points``,
    following ``links.next.href`` page after page."""

    name = "doit"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def _start_requests(self) -> Iterator[scrapy.Request]:
        points = self.options.get("points") or [{}]
        for endpoint in self.start_urls:
            for point in points:
                query = f"?{urlencode(point)}" if point else ""
                yield scrapy.Request(endpoint + query, headers=self._headers(), callback=self.parse)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        yield from self.emit(response, parse_doit(response.body, response.url, self.options))
        following = doit_next(response.body)
        if following:
            yield response.follow(following, headers=self._headers(), callback=self.parse)


class IdealistSpider(_KeyedSpider):
    """The listings change feed, one request at a time: ``since`` moves to the newest
    ``updated`` seen while ``hasMore`` is true (key as HTTP Basic user name)."""

    name = "idealist"
    custom_settings: ClassVar[dict[str, Any]] = {"CONCURRENT_REQUESTS_PER_DOMAIN": 1}

    def _request(self, endpoint: str, since: str | None) -> scrapy.Request:
        headers = {}
        if self.api_key:
            token = base64.b64encode(f"{self.api_key}:".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        url = endpoint + (f"?{urlencode({'since': since})}" if since else "")
        return scrapy.Request(url, headers=headers, callback=self.parse,
                              cb_kwargs={"endpoint": endpoint}, dont_filter=True)

    def _start_requests(self) -> Iterator[scrapy.Request]:
        for endpoint in self.start_urls:
            yield self._request(endpoint, self.options.get("since"))

    def parse(self, response: Response, endpoint: str = "", **kwargs: Any) -> Iterator[Any]:
        yield from self.emit(response, parse_idealist(response.body, response.url, self.options))
        more, newest = idealist_page(response.body)
        if more and newest and endpoint:
            yield self._request(endpoint, newest)
