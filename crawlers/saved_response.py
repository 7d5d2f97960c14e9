"""A saved response read as a crawl would read it (``tilts extract``): one
platform's parser, then the RawOpportunity events a crawl would publish.

With a registry source (``--source ID``) everything a crawl of that source
applies is applied here too: its spider kind (unless ``--kind`` names another
parser, e.g. ``schemaorg`` for one page of a ``sitemap`` source), the options
that spider hands its parser (the ``selectors`` of a ``listing``, ``options``
otherwise, or the spider's own ``options_for_parser(response)`` when it has
one) and the defaults on every item (programme, source language, default
country, attribution). Items are built by the spider's own ``raw_item``
(``crawlers.spider.raw_item``), the code path of a crawl, and checked
against the event contract.

Without a source the parser runs with ``options`` alone and items carry no
defaults, attributed to the source id ``extract``.
"""

from __future__ import annotations

import json
from typing import Any

from crawlers.parsing import Parser
from crawlers.platforms.doit import parse_doit
from crawlers.platforms.eyp import parse_eyp
from crawlers.platforms.feed import parse_feed
from crawlers.platforms.ical import parse_ical
from crawlers.platforms.idealist import parse_idealist
from crawlers.platforms.listing import parse_listing_detail
from crawlers.platforms.schemaorg import parse_schemaorg
from crawlers.platforms.unv import parse_unv
from crawlers.platforms.volunteer_connector import parse_volunteer_connector
from crawlers.platforms.wordpress import parse_tribe_events, parse_wp_posts
from crawlers.settings import SPIDER_MODULES
from crawlers.sources import Source, load_sources
from crawlers.spider import SourceSpider, raw_item
from pipeline.events import InvalidEvent, RawOpportunity, parse_event

ADHOC_SOURCE_ID = "extract"
ADHOC_BASE_URL = "http://localhost/"
CRAWL_ID = "extract"

# ``--kind``: a spider's name, or ``tribe`` (The Events Calendar, read by the
# ``wordpress`` spider with ``events: true``).
PARSERS: dict[str, Parser] = {
    "schemaorg": parse_schemaorg,
    "sitemap": parse_schemaorg,
    "feed": parse_feed,
    "wordpress": parse_wp_posts,
    "tribe": parse_tribe_events,
    "ical": parse_ical,
    "eyp": parse_eyp,
    "listing": parse_listing_detail,
    "volunteer_connector": parse_volunteer_connector,
    "doit": parse_doit,
    "idealist": parse_idealist,
    "unv": parse_unv,
}


class SavedResponseError(ValueError):
    """A request that cannot be run (unknown kind or source): one clear line."""


def spider_for(source: Source) -> SourceSpider:
    """The spider a crawl of ``source`` runs, built from the registry's arguments."""
    from scrapy.settings import Settings
    from scrapy.spiderloader import SpiderLoader

    loader = SpiderLoader.from_settings(Settings({"SPIDER_MODULES": SPIDER_MODULES}))
    spider = loader.load(source.spider)(**{**source.spider_args(), "crawl_id": CRAWL_ID})
    if not isinstance(spider, SourceSpider):  # every spider in crawlers/platforms/ is one
        raise SavedResponseError(f"spider {source.spider!r} does not read registry sources")
    return spider


def parser_options(spider: SourceSpider, body: bytes, url: str) -> dict[str, Any]:
    """What ``spider`` hands its parser for a response from ``url``."""
    if hasattr(spider, "options_for_parser"):
        from scrapy.http import Response

        return dict(spider.options_for_parser(Response(url=url, body=body)))
    if spider.name == "listing":
        return dict(spider.selectors)
    return dict(spider.options)


def read_saved_response(body: bytes, *, kind: str | None = None, base_url: str | None = None,
                        options: dict[str, Any] | None = None,
                        source_id: str | None = None) -> tuple[list[RawOpportunity], list[str]]:
    """The RawOpportunity events one saved response yields, and what could not be read.

    ``options`` (``--options``) are laid over the source's parser options.
    ``base_url`` defaults to the source's first start URL.
    """
    source = None
    if source_id is not None:
        sources = load_sources()
        if source_id not in sources:
            raise SavedResponseError(f"unknown source {source_id!r}; known: {', '.join(sources) or '(none)'}")
        source = sources[source_id]
    kind = kind or (source.spider if source else None)
    if kind is None:
        raise SavedResponseError("--kind is needed without --source")
    if kind not in PARSERS:
        raise SavedResponseError(f"unknown kind {kind!r}; one of {', '.join(PARSERS)}")
    url = base_url or (str(source.start_urls[0]) if source else ADHOC_BASE_URL)
    spider = spider_for(source) if source else None
    opts = {**(parser_options(spider, body, url) if spider else {}), **(options or {})}
    items, errors = PARSERS[kind](body, url, opts)
    raws = []
    for fields in items:
        if spider is not None:
            item = spider.raw_item(fields)
        else:
            item = raw_item(fields, source_id=ADHOC_SOURCE_ID, crawl_id=CRAWL_ID)
        try:
            raws.append(parse_event(RawOpportunity, json.dumps(item, default=str)))
        except InvalidEvent as exc:
            errors.append(f"{fields.get('external_id')}: {exc}")
    return raws, errors
