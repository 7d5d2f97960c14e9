"""``eyp``: the European Youth Portal (European Solidarity Corps): search API and detail pages.

The start URL is the search endpoint, e.g.
``https://youth.europa.eu/api/rest/eyp/v1/search_en``. The spider asks for
open opportunities (``type=Opportunity``, ``filters[status]=open``), newest
first, ``size`` per page (option ``page_size``, at most 500 as the portal
allows) and pages with ``from`` until ``hits.total``. The response is
Elasticsearch-shaped; fields are mapped in ``parse_eyp`` below.

Options (the registry's ``options``):

- ``request: post`` sends the search as public code does, ``POST`` with a JSON
  body (``type``, ``filters``, ``fields``, ``sort``, ``size``, ``from``) that
  asks for ``description``, ``participant_profile``, ``countries`` and
  ``volunteer_countries`` explicitly; the default is today's ``GET``.
- ``details: true`` completes every *new or changed* listing with its detail
  page (``/solidarity/opportunity/{opid}_{lang}``, crawlers/eyp_detail.py):
  the exact deadline, the accommodation/food/transport section, "looking for
  participants from", languages, age, places. "Changed" is judged on the API
  record against the source's seen-set (crawlers/seen.py), so an unchanged
  listing costs no page at all. A page that is gone or fails is counted and
  the API record is published alone (and its page is asked for again next
  crawl); a section not found is counted as ``eyp_detail_missing_<section>``.
  ``max_details`` (500 by default) bounds the pages one crawl asks for: at 5 s
  apiece that is 42 minutes, inside the crawl's time limit. Listings over the
  budget are published from the API at once and completed by the next crawls.
- ``funding_programmes``: ids for ``filters[funding_programme][id][i]``.

The portal answers 429 when pushed: keep ``politeness.concurrency: 1`` and a
delay in the registry (5 s, as public code that reads detail pages waits);
``Retry-After`` is honoured and a 429 doubles the delay (crawlers/middlewares.py).
Its data is CC BY 4.0: the registry's attribution is carried on every item.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin

import scrapy
from scrapy.http import JsonRequest, Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawlers.eyp_detail import merge, parse_detail
from crawlers.failures import count_warning
from crawlers.parsing import (
    Result,
    text_of,
)
from crawlers.seen import content_hash, known_hashes
from crawlers.spider import OffsetPagedSpider

EYP_HOST = "https://youth.europa.eu"
EYP_DETAIL = "/solidarity/opportunity/{opid}_{lang}"
_EYP_OPID = re.compile(r"/opportunity/(\d+)_([a-z]{2})")


def _eyp_list(value: Any) -> list[str]:
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        if isinstance(v, dict):
            v = v.get("name") or v.get("label") or v.get("id")
        if v not in (None, "", "all"):
            out.append(str(v))
    return out


def eyp_detail_url(opid: Any, options: dict[str, Any] | None = None) -> str:
    """A listing's page on the portal (``options.detail_base``: the portal's origin)."""
    options = options or {}
    return urljoin(options.get("detail_base") or EYP_HOST,
                   EYP_DETAIL.format(opid=opid, lang=options.get("lang", "en")))


def parse_eyp(body: bytes, url: str, options: dict[str, Any] | None = None) -> Result:
    """European Youth Portal: a search API page (Elasticsearch-shaped ``hits.hits[]._source``)
    or, when the body is HTML, one opportunity's detail page (crawlers/eyp_detail.py)."""
    if body.lstrip()[:1] == b"<":
        return parse_eyp_page(body, url)
    try:
        data = json.loads(body)
        hits = data["hits"]["hits"]
    except (ValueError, KeyError, TypeError) as exc:
        return [], [f"unexpected European Youth Portal response from {url}: {exc}"]
    items, errors = [], []
    for hit in hits:
        src = hit.get("_source") if isinstance(hit, dict) else None
        if not isinstance(src, dict) or not src.get("opid"):
            errors.append(f"hit without opid in {url}")
            continue
        opid = src["opid"]
        profile = text_of(src.get("participant_profile"))
        description = "".join(filter(None, [
            text_of(src.get("description")),
            f"<h3>Participant profile</h3>{profile}" if profile else None,
        ])) or None
        boarding = _eyp_list(src.get("boarding_arrangements"))
        if boarding:
            description = (description or "") + "<p>Provided: " + ", ".join(boarding) + ".</p>"
        countries = _eyp_list(src.get("countries"))
        items.append({
            "external_id": str(opid),
            "url": eyp_detail_url(opid, options),
            "title": text_of(src.get("title")),
            "description_html": description,
            "organisation_name": text_of(src.get("organisation_name")),
            "city": text_of(src.get("town")),
            "country": text_of(src.get("country")) or (countries[0] if len(countries) == 1 else None),
            "start_date": text_of(src.get("date_start")),
            "end_date": text_of(src.get("date_end")),
            "deadline": None if src.get("has_no_deadline") else text_of(
                src.get("date_application_end") or src.get("deadline")),
            "posted_date": text_of(src.get("created")),
            "updated_date": text_of(src.get("changed")),
            "employment_type": ", ".join(_eyp_list(src.get("activity_type"))) or None,
            "categories": _eyp_list(src.get("topics")),
            "eligible_countries": _eyp_list(src.get("volunteer_countries")),
            "places_available": text_of(src.get("number_of_places")),
            "duration_text": text_of(src.get("date_flexibility")),
            "structured": {k: src.get(k) for k in ("strand", "funding_programme", "pic",
                                                   "has_no_deadline", "date_flexibility")
                           if src.get(k) is not None},
            "_method": "api",
        })
    return items, errors


def parse_eyp_page(body: bytes, url: str) -> Result:
    """One detail page alone (``tilts extract --kind eyp page.html``)."""
    found = _EYP_OPID.search(url)
    try:
        page = parse_detail(body, url, found.group(1) if found else None)
    except Exception as exc:
        return [], [f"unreadable European Youth Portal page {url}: {exc}"]
    if not page.fields.get("title"):
        return [], [f"no title on European Youth Portal page {url}"]
    return [{"external_id": found.group(1) if found else url, "url": url, **page.fields}], []


def eyp_total(body: bytes) -> int:
    try:
        total = json.loads(body)["hits"]["total"]
    except (ValueError, KeyError, TypeError):
        return 0
    return int(total.get("value", 0) if isinstance(total, dict) else total)


# What the POST form asks for: every field parse_eyp reads.
FIELDS = ["opid", "title", "description", "participant_profile", "town", "country", "countries",
          "date_start", "date_end", "date_application_end", "has_no_deadline", "topics",
          "volunteer_countries", "strand", "funding_programme", "organisation_name",
          "boarding_arrangements", "date_flexibility", "activity_type", "number_of_places",
          "created", "changed", "pic"]


class EuropeanYouthPortalSpider(OffsetPagedSpider):
    name = "eyp"
    extraction_method = "api"
    max_page_size = 500  # what the portal accepts

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.details = str(self.options.get("details", "")).lower() in {"1", "true", "yes"}
        self.post = str(self.options.get("request", "get")).lower() == "post"
        self._known: dict[str, str] | None = None
        self.detail_budget = int(self.options.get("max_details", 500))

    # ------------------------------------------------------------------ search

    def filters(self) -> dict[str, Any]:
        filters: dict[str, Any] = {"status": "open"}
        programmes = self.options.get("funding_programmes") or []
        if programmes:
            filters["funding_programme"] = {"id": list(programmes)}
        return filters

    def page_url(self, endpoint: str, offset: int) -> str:
        params = {"type": "Opportunity", "filters[status]": "open", "from": offset,
                  "size": self.page_size(), "sort[created]": "desc"}
        for i, programme in enumerate(self.options.get("funding_programmes") or []):
            params[f"filters[funding_programme][id][{i}]"] = programme
        return f"{endpoint}?{urlencode(params)}"

    def page_request(self, endpoint: str, offset: int) -> scrapy.Request:
        if not self.post:
            return super().page_request(endpoint, offset)
        body = {"type": "Opportunity", "filters": self.filters(), "fields": FIELDS,
                "sort": {"created": "desc"}, "size": self.page_size(), "from": offset}
        return JsonRequest(endpoint, data=body, callback=self.parse,
                           cb_kwargs={"endpoint": endpoint, "offset": offset})

    def total(self, body: bytes) -> int:
        return eyp_total(body)

    def options_for_parser(self, response: Response) -> dict[str, Any]:
        origin = response.urljoin("/")
        return {"lang": self.language or "en", "detail_base": origin}

    def parse_page(self, response: Response) -> Iterator[Any]:
        items, errors = parse_eyp(response.body, response.url, self.options_for_parser(response))
        yield from self.emit(response, ([], errors))
        for fields in items:
            if not self.details:
                yield self.raw_item(fields)
                continue
            digest = content_hash(fields)
            if self.known().get(fields["external_id"]) == digest:
                yield self.raw_item({**fields, "_change_hash": digest})  # unchanged: no page
                continue
            if self.detail_budget <= 0:  # published now, its page asked for by a later crawl
                count_warning(self.crawler.stats, "eyp_detail_deferred")
                yield self.raw_item(fields)
                continue
            self.detail_budget -= 1
            yield scrapy.Request(
                eyp_detail_url(fields["external_id"], self.options_for_parser(response)),
                callback=self.parse_detail, errback=self.detail_failed,
                cb_kwargs={"fields": fields, "digest": digest}, priority=-1)

    # ------------------------------------------------------------ detail pages

    def known(self) -> dict[str, str]:
        """The seen-set's hashes at the start of this crawl (empty without one)."""
        if self._known is None:
            state = self.crawler.settings.get("TILTS_CRAWL_STATE_DIR")
            self._known = known_hashes(Path(state) / f"{self.source_id}.sqlite3") \
                if state and self.source_id != "adhoc" else {}
        return self._known

    def parse_detail(self, response: Response, fields: dict[str, Any], digest: str) -> Iterator[Any]:
        try:
            page = parse_detail(response.body, response.url, fields["external_id"])
        except Exception:
            self.logger.exception("unreadable detail page %s", response.url)
            count_warning(self.crawler.stats, "eyp_detail_unreadable")
            yield self.raw_item(fields)  # published alone; its page is asked for again next crawl
            return
        for section in page.missing:
            count_warning(self.crawler.stats, f"eyp_detail_missing_{section}")
        yield self.raw_item({**merge(fields, page), "_change_hash": digest})

    def detail_failed(self, failure: Failure) -> Iterator[Any]:
        """The page could not be had: the API record is published alone, without the
        change hash, so the next crawl asks for the page again."""
        request = failure.request  # type: ignore[attr-defined]
        fields = request.cb_kwargs["fields"]
        if failure.check(HttpError) and failure.value.response.status in (404, 410):
            count_warning(self.crawler.stats, "eyp_detail_unavailable")
        # Other failures (5xx, 429, timeouts after retries) are already counted as errors.
        yield self.raw_item(fields)
