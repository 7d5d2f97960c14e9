"""``listing``: list pages → detail pages, read with the registry's selectors.

``selectors.item_links`` finds the detail links on a list page,
``selectors.next_page`` the next list page, and ``selectors.fields`` maps
RawOpportunity fields to CSS (or ``xpath:``) selectors on a detail page. No
Python per site: see docs/sources.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from parsel import Selector
from scrapy.http import Response, TextResponse

from crawlers.parsing import (
    Fields,
    Result,
    is_url_field,
    page_base,
    select,
)
from crawlers.spider import SourceSpider


def parse_listing_detail(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """A detail page read with the registry's ``selectors.fields``.

    Link fields (``apply_url``, ``organisation_url``…) are resolved against the
    page (its ``<base href>`` when it has one): ``/org/903``, ``../x`` and
    ``//host/x`` become absolute; a ``javascript:`` or ``data:`` link is left out.
    """
    selectors = (options or {}).get("fields") or {}
    if not selectors:
        return [], ["no selectors.fields given"]
    sel = Selector(text=body.decode("utf-8", "replace"), base_url=url)
    base = page_base(sel, url)
    fields: Fields = {"external_id": url, "url": url, "_method": "selectors"}
    errors = []
    for name, query in selectors.items():
        try:
            values = select(sel, query, html=name == "description_html", link=is_url_field(name),
                            base_url=base)
        except ValueError as exc:
            errors.append(f"selector for {name} failed on {url}: {exc}")
            continue
        if name == "categories":
            fields[name] = values
        elif values:
            fields[name] = "\n".join(values) if name == "description_html" else values[0]
    if not fields.get("title"):
        errors.append(f"no title found on {url} with selector {selectors.get('title')!r}")
        return [], errors
    return [fields], errors


class ListingSpider(SourceSpider):
    name = "listing"
    extraction_method = "selectors"

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        # Links resolved as a browser would (the page's <base href>, "//host/x",
        # "../x"); a javascript: or data: "link" is not one and is not followed.
        # List pages are HTML; a non-text response has no .selector and fails here, as it always did.
        page = cast(TextResponse, response)
        base = page_base(page.selector, page.url)
        links = select(page.selector, self.selectors["item_links"], link=True, base_url=base)
        if not links:
            self.crawler.stats.inc_value("tilts/empty_list_pages")
        for link in links:
            yield response.follow(link, callback=self.parse_detail)
        next_query = self.selectors.get("next_page")
        if next_query:
            for link in select(page.selector, next_query, link=True, base_url=base)[:1]:
                yield response.follow(link, callback=self.parse)

    def parse_detail(self, response: Response) -> Iterator[Any]:
        yield from self.emit(response, parse_listing_detail(response.body, response.url, self.selectors))
