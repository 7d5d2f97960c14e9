"""``idealist``: the Idealist listings change feed ``/api/v1/listings/volops?since=``
(the key as HTTP Basic user name).

Shapes from what is publicly known about the API (../shared/data/README.md);
fields beyond those are read when present. A source with ``api_key_env`` gets
its key from that environment variable in the crawl's process; without it the
registry lists the source as disabled and it is never crawled.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import scrapy
from scrapy.http import Response

from crawlers.parsing import (
    Result,
    absolute_url,
    load_json,
    name_of,
    text_of,
)
from crawlers.spider import KeyedSpider


def parse_idealist(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """Idealist ``/api/v1/listings/volops?since=``: ``{volops: [...], hasMore}``."""
    data, errors = load_json(body, url)
    if data is None:
        return [], errors
    items = []
    for volop in data.get("volops") or [] if isinstance(data, dict) else []:
        if not isinstance(volop, dict) or not volop.get("id"):
            errors.append(f"volop without id in {url}")
            continue
        address = volop.get("address")
        if not isinstance(address, dict):
            address = {}
        link = volop.get("url")
        if isinstance(link, dict):
            link = link.get("en")
        items.append({
            "external_id": str(volop["id"]),
            "url": absolute_url(link, url)
            or f"https://www.idealist.org/en/volunteer-opportunity/{volop['id']}",
            "title": text_of(volop.get("name") or volop.get("title")),
            "description_html": text_of(volop.get("description")),
            "organisation_name": name_of(volop.get("org")),
            "city": text_of(address.get("city")),
            "region": text_of(address.get("state")),
            "country": text_of(address.get("country")),
            "remote": "true" if volop.get("remoteOk") or volop.get("isRemote") else None,
            "updated_date": text_of(volop.get("updated")),
            "posted_date": text_of(volop.get("published")),
            "_method": "api",
        })
    return items, errors


def idealist_page(body: bytes) -> tuple[bool, str | None]:
    """(hasMore, the newest ``updated`` seen): the next request's ``since``."""
    try:
        data = json.loads(body)
    except ValueError:
        return False, None
    volops = data.get("volops") or []
    stamps = [stamp for v in volops if isinstance(v, dict) and (stamp := v.get("updated"))]
    return bool(data.get("hasMore")), max(stamps) if stamps else None


class IdealistSpider(KeyedSpider):
    """The listings change feed, one request at a time: ``since`` moves to the newest
    ``updated`` seen while ``hasMore`` is true (key as HTTP Basic user name)."""

    name = "idealist"
    # Spider declares custom_settings an instance variable, so it cannot be a ClassVar here.
    custom_settings = {"CONCURRENT_REQUESTS_PER_DOMAIN": 1}  # noqa: RUF012

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
