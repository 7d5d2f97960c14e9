"""One count per failure, by kind: what CrawlStats.errors and errors_by_kind are made of.

Every part of a crawl that sees a failure it alone can see counts it here,
once, as the Scrapy stat ``tilts/errors/<kind>``; Scrapy's own
``spider_exceptions/<Class>`` (a callback raised) are the other kinds. The
report (crawlers/pipelines.py) reads nothing else, so ``errors`` is always
the sum of ``errors_by_kind``. Kinds:

- ``http_<status>``: the final answer after retries was 5xx, 408 or 429
  (a 503 that a retry turned into a 200 is no error; a 404 is a dead link,
  not a failed crawl);
- an exception class name (``DownloadTimeoutError``, ``ConnectionRefusedError``…):
  the download failed for good, after retries;
- ``too_large``: over DOWNLOAD_MAXSIZE, on the wire, once decompressed
  (a gzip bomb) or as a gzipped sitemap;
- ``redirect_loop``: redirects that come back to a URL of their own chain,
  or more than REDIRECT_MAX_TIMES of them;
- ``undecodable``: a text body no encoding reads (not parsed);
- ``extraction_errors``, ``malformed_jsonld``, ``sitemap_errors``: parts of
  pages that could not be read (dead-lettered with the page where possible);
- ``item_error``: an item the publishing pipeline failed on.

Anomalies that lose nothing are warnings, not errors (CrawlStats.warnings_by_kind):
``tilts/encoding_mismatch`` (a page mis-declared its encoding and was read in
its real one), ``tilts/rate_limited`` (a 429: the domain's delay was doubled)
and every ``tilts/warnings/<kind>`` counted with :func:`count_warning`, e.g.
``eyp_detail_missing_<section>`` (a European Youth Portal page without one of
its expected sections) or ``eyp_detail_unavailable`` (its page was gone: the
API record was published alone).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ERROR_PREFIX = "tilts/errors/"
WARNING_STATS = ("encoding_mismatch", "rate_limited")  # tilts/<name>: counted anomalies, not errors
WARNING_PREFIX = "tilts/warnings/"


def count_error(stats: Any, kind: str, count: int = 1) -> None:
    stats.inc_value(f"{ERROR_PREFIX}{kind}", count)


def errors_by_kind(values: Mapping[str, Any]) -> dict[str, int]:
    """Scrapy's stats → failures by kind, each counted once."""
    kinds: dict[str, int] = {}
    for key, value in values.items():
        if key.startswith(ERROR_PREFIX):
            kind = key[len(ERROR_PREFIX):]
        elif key.startswith("spider_exceptions/") and key != "spider_exceptions/count":
            kind = key.split("/", 1)[1].rsplit(".", 1)[-1]
        else:
            continue
        if int(value):
            kinds[kind] = kinds.get(kind, 0) + int(value)
    return kinds


def count_warning(stats: Any, kind: str, count: int = 1) -> None:
    stats.inc_value(f"{WARNING_PREFIX}{kind}", count)


def warnings_by_kind(values: Mapping[str, Any]) -> dict[str, int]:
    found = {name: int(values[f"tilts/{name}"]) for name in WARNING_STATS if values.get(f"tilts/{name}")}
    found.update({key[len(WARNING_PREFIX):]: int(value) for key, value in values.items()
                  if key.startswith(WARNING_PREFIX) and int(value)})
    return found
