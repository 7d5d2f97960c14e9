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

import html
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import scrapy
from scrapy.http import Response

from crawlers.parsing import (
    Result,
    text_of,
)
from crawlers.spider import SourceSpider


def _rendered(value: Any) -> str | None:
    if isinstance(value, dict):
        return text_of(value.get("rendered"))
    return text_of(value)


def _plain(value: Any) -> str | None:
    """A WordPress title: HTML-escaped text ("&#8211;") → text."""
    text = _rendered(value)
    return html.unescape(text) if text else None


def parse_wp_posts(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """``/wp-json/wp/v2/<type>`` pages (with ``_embed`` for category names and author)."""
    try:
        posts = json.loads(body)
    except ValueError as exc:
        return [], [f"invalid JSON from {url}: {exc}"]
    if not isinstance(posts, list):
        return [], [f"expected a list of posts from {url}, got {type(posts).__name__}"]
    items, errors = [], []
    for post in posts:
        if not isinstance(post, dict) or "id" not in post:
            errors.append(f"post without id in {url}")
            continue
        embedded = post.get("_embedded") or {}
        terms = [t.get("name") for group in embedded.get("wp:term") or [] for t in group or []
                 if isinstance(t, dict) and t.get("taxonomy") in ("category", "post_tag")]
        authors = embedded.get("author") or [{}]
        items.append({
            "external_id": f"post-{post['id']}",
            "url": post.get("link") or url,
            "title": _plain(post.get("title")),
            "description_html": _rendered(post.get("content")) or _rendered(post.get("excerpt")),
            "posted_date": post.get("date_gmt") or post.get("date"),
            "updated_date": post.get("modified_gmt") or post.get("modified"),
            "organisation_name": (options or {}).get("organisation") or authors[0].get("name"),
            "categories": [t for t in terms if t],
            "_method": "wordpress",
        })
    return items, errors


def parse_tribe_events(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """The Events Calendar: ``/wp-json/tribe/events/v1/events``."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        return [], [f"invalid JSON from {url}: {exc}"]
    items, errors = [], []
    for event in data.get("events") or [] if isinstance(data, dict) else []:
        if not isinstance(event, dict) or "id" not in event:
            errors.append(f"event without id in {url}")
            continue
        venue = event.get("venue")
        if not isinstance(venue, dict):
            venue = {}
        organizers = event.get("organizer")
        if not isinstance(organizers, list):
            organizers = []
        items.append({
            "external_id": f"tribe-{event['id']}",
            "url": event.get("url") or url,
            "title": _plain(event.get("title")),
            "description_html": text_of(event.get("description")),
            "start_date": event.get("utc_start_date") or event.get("start_date"),
            "end_date": event.get("utc_end_date") or event.get("end_date"),
            "posted_date": event.get("date_utc") or event.get("date"),
            "updated_date": event.get("modified_utc") or event.get("modified"),
            "city": text_of(venue.get("city")),
            "country": text_of(venue.get("country")),
            "region": text_of(venue.get("province") or venue.get("state")),
            "postal_code": text_of(venue.get("zip")),
            "location_text": ", ".join(filter(None, [venue.get("venue"), venue.get("address"),
                                                     venue.get("city")])) or None,
            "latitude": text_of(venue.get("geo_lat")),
            "longitude": text_of(venue.get("geo_lng")),
            "organisation_name": text_of(organizers[0].get("organizer")) if organizers else None,
            "categories": [c.get("name") for c in event.get("categories") or [] if c.get("name")],
            "_method": "wordpress",
        })
    return items, errors


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
                total = int((response.headers.get(b"X-WP-TotalPages") or b"1").decode())
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
