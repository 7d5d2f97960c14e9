"""The source registry: one YAML file lists every source tilts crawls.

``TILTS_SOURCES_FILE`` points at another file (default: ``sources.yaml`` next
to this module). Each entry is validated at load time by :class:`Source`; an
error names the source and the field. ``docs/sources.md`` explains every
field with a worked example; a programme officer adds a typical NGO site with
a registry entry, no Python.

A source whose API key is not configured, or that is switched off, stays in
the registry and is listed as disabled with the reason; it is never crawled
and never crashes the scheduler.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator
from pydantic_core import ErrorDetails

from crawlers.seen import CLOSE_AFTER_MISSED_CRAWLS

DEFAULT_FILE = Path(__file__).with_name("sources.yaml")

SpiderKind = Literal[
    "schemaorg",  # JSON-LD / Microdata / RDFa pages (JobPosting, VolunteerAction, Event)
    "feed",  # RSS 2.0, Atom, RDF
    "wordpress",  # WordPress REST API posts and The Events Calendar events
    "sitemap",  # sitemap index / sitemaps with URL filters, pages read as schemaorg
    "listing",  # declarative: list pages -> detail pages with selectors
    "ical",  # iCalendar feeds of events
    "eyp",  # European Youth Portal search API (European Solidarity Corps)
    "unv",  # UN Volunteers assignments (take/skip search + detail endpoint)
    "volunteer_connector",  # Volunteer Connector open API
    "doit",  # Do-it (UK) API
    "idealist",  # Idealist listings change feed (key)
]
Programme = Literal["European Solidarity Corps", "Erasmus+", "UN Volunteers", "national", "ngo"]
# Registry fields a listing's selectors may fill (RawOpportunity field names).
SELECTABLE_FIELDS = frozenset({
    "title", "description_html", "organisation_name", "organisation_url", "apply_url",
    "location_text", "country", "region", "city", "postal_code", "latitude", "longitude",
    "remote", "start_date", "end_date", "deadline", "posted_date", "updated_date",
    "employment_type", "categories", "places_available", "duration_text", "external_id",
})


class SourceError(ValueError):
    pass


class Politeness(BaseModel):
    """Per-source overrides of the polite defaults in ``crawlers/settings.py``."""

    model_config = ConfigDict(extra="forbid")
    download_delay: float | None = Field(default=None, ge=0.25, le=60)
    concurrency: int | None = Field(default=None, ge=1, le=2)
    timeout: int | None = Field(default=None, ge=5, le=120)
    max_pages: int | None = Field(default=None, ge=1, le=100_000)
    # complete crawls a listing must be missing from before it is closed: 1 where a
    # complete crawl sees the whole index (an API queried for every open listing)
    close_after_missed: int = Field(default=CLOSE_AFTER_MISSED_CRAWLS, ge=1, le=10)


class Selectors(BaseModel):
    """For ``spider: listing``. A selector is CSS, or XPath when it starts with ``xpath:``.

    CSS may end in ``::text`` or ``::attr(name)``; a field's selector without
    either takes the element's HTML (for ``description_html``) or its text.
    """

    model_config = ConfigDict(extra="forbid")
    item_links: str = Field(min_length=1, description="links from a list page to detail pages")
    next_page: str | None = Field(default=None, description="link to the next list page")
    fields: dict[str, str] = Field(min_length=1)

    @model_validator(mode="after")
    def _known_fields(self) -> Selectors:
        unknown = sorted(set(self.fields) - SELECTABLE_FIELDS)
        if unknown:
            raise ValueError(f"unknown fields {unknown}; allowed: {sorted(SELECTABLE_FIELDS)}")
        if "title" not in self.fields:
            raise ValueError("fields must include 'title'")
        return self


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,62}$")
    name: str = Field(min_length=1)
    publisher: str | None = Field(default=None, min_length=1,
                                  description="who publishes the listings, as a card names them")
    home_url: HttpUrl
    spider: SpiderKind = "schemaorg"
    start_urls: list[HttpUrl] = Field(min_length=1)
    allowed_domains: list[str] = Field(min_length=1)
    programme: Programme | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")
    schedule: str = Field(default="every 24h", pattern=r"^(every \d+[smhd]|cron( \S+){5})$")
    politeness: Politeness = Field(default_factory=Politeness)
    selectors: Selectors | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]*$")
    enabled: bool = True
    attribution: str | None = None
    notes: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Source:
        if self.spider == "listing" and self.selectors is None:
            raise ValueError("spider 'listing' needs 'selectors'")
        if self.spider != "listing" and self.selectors is not None:
            raise ValueError(f"'selectors' only apply to spider 'listing', not {self.spider!r}")
        for url in self.start_urls:
            host = urlparse(str(url)).hostname or ""
            if not any(host == d or host.endswith("." + d) for d in self.allowed_domains):
                raise ValueError(f"start URL {url} is outside allowed_domains {self.allowed_domains}")
        return self

    @property
    def publisher_name(self) -> str:
        """Who publishes the listings: ``publisher``, or the registry name before
        its " – " (the registry's "Publisher – what it lists" convention)."""
        return self.publisher or self.name.split(" – ")[0].strip()

    @property
    def disabled_reason(self) -> str | None:
        if not self.enabled:
            return "disabled in the registry"
        if self.api_key_env and not os.environ.get(self.api_key_env):
            return f"needs an API key in ${self.api_key_env}"
        return None

    def spider_args(self) -> dict[str, str]:
        args = {
            "source_id": self.id,
            "start_urls": ",".join(str(u) for u in self.start_urls),
            "allowed_domains": ",".join(self.allowed_domains),
            "full_crawl": "1",
        }
        for name in ("programme", "country", "language", "attribution"):
            if getattr(self, name):
                args[name] = getattr(self, name)
        if self.options:
            args["options"] = json.dumps(self.options, ensure_ascii=False)
        if self.selectors is not None:
            args["selectors"] = self.selectors.model_dump_json(exclude_none=True)
        if self.api_key_env and os.environ.get(self.api_key_env):
            args["api_key_env"] = self.api_key_env  # the child reads the key from its environment
        return args

    def scrapy_settings(self) -> dict[str, str]:
        """Per-source politeness as Scrapy settings for the crawl's child process."""
        p = self.politeness
        out: dict[str, str] = {}
        if p.download_delay is not None:
            out["DOWNLOAD_DELAY"] = str(p.download_delay)
            out["AUTOTHROTTLE_START_DELAY"] = str(p.download_delay)
        if p.concurrency is not None:
            out["CONCURRENT_REQUESTS_PER_DOMAIN"] = str(p.concurrency)
        if p.timeout is not None:
            out["DOWNLOAD_TIMEOUT"] = str(p.timeout)
        if p.max_pages is not None:
            out["CLOSESPIDER_PAGECOUNT"] = str(p.max_pages)
        if p.close_after_missed != CLOSE_AFTER_MISSED_CRAWLS:
            out["TILTS_CLOSE_AFTER_MISSED"] = str(p.close_after_missed)
        return out


def _where(err: ErrorDetails) -> str:
    return ".".join(str(p) for p in err["loc"]) or "<entry>"


def load_sources(path: Path | None = None) -> dict[str, Source]:
    path = path or Path(os.environ.get("TILTS_SOURCES_FILE", DEFAULT_FILE))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SourceError(f"cannot read source registry {path}: {exc}") from exc
    sources: dict[str, Source] = {}
    for i, entry in enumerate(data.get("sources") or []):
        sid = entry.get("id", f"#{i + 1}") if isinstance(entry, dict) else f"#{i + 1}"
        try:
            source = Source.model_validate(entry)
        except ValidationError as exc:
            err = exc.errors()[0]
            message = re.sub(r"^Value error, ", "", err["msg"])
            raise SourceError(f"{path}: source {sid}: field '{_where(err)}': {message}") from exc
        if source.id in sources:
            raise SourceError(f"{path}: source {source.id}: duplicate id")
        sources[source.id] = source
    return sources
