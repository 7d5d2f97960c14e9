"""Hostile and broken input (issue 24), crawled for real against 127.0.0.1.

- A page declared UTF-8 but written in cp1257 is read in its real encoding
  (no U+FFFD published) and counted (``tilts/encoding_mismatch``); a body no
  encoding can read is an error (``undecodable``).
- CrawlStats agree with themselves: ``errors == sum(errors_by_kind)``, every
  failure counted once, in one kind: a redirect loop is ``redirect_loop``, a
  body over DOWNLOAD_MAXSIZE (plain or a gzip bomb) is ``too_large``.
- Gzipped sitemaps (``sitemap.xml.gz``) are read, within the size limit; one
  over the limit is a ``too_large`` error.
"""

from __future__ import annotations

import gzip
import json
import re
import time
from pathlib import Path

from crawlers import runner
from pipeline.events import (
    DLQ_TOPIC,
    RawOpportunity,
)
from tests.support.fixture_site import FixtureSite, crawl_events

HTML_UTF8 = {"Content-Type": "text/html; charset=utf-8"}
FAST = {"DOWNLOAD_DELAY": "0", "AUTOTHROTTLE_ENABLED": "False"}
LV_TITLE = "Brīvprātīgais darbs Rīgā"
LV_TEXT = "Palīdzība dzīvnieku patversmē Jūrmalā un Liepājā. Ņem līdzi labu garastāvokli!"
SELECTORS = {"item_links": "a.item::attr(href)",
             "fields": {"title": "h1::text", "description_html": "div.text"}}


def crawl(kind: str, site: FixtureSite, start: str, tmp_path: Path,
          settings: dict[str, str] | None = None, **args: str) -> dict:
    """One crawl as the scheduler runs it; its events and its log (with Scrapy's stats)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    bus_url = f"sqlite:///{tmp_path / 'bus.sqlite3'}"
    log_file = tmp_path / "crawl.log"
    result = runner.crawl(kind, {"source_id": "hostile", "start_urls": site.url + start,
                                 "allowed_domains": "127.0.0.1", "full_crawl": "1", **args},
                          bus_url=bus_url, settings={**FAST, "LOG_FILE": str(log_file), **(settings or {})},
                          timeout=120)
    log = log_file.read_text(encoding="utf-8", errors="replace") if log_file.exists() else ""
    assert result.returncode == 0, result.log_tail + log[-4000:]
    out = crawl_events(bus_url)
    (stats,) = out["stats"]
    return {"raw": out["raw"], "dlq": out[DLQ_TOPIC], "stats": stats, "log": log}


def scrapy_stat(log: str, name: str) -> int:
    """A value from the stats Scrapy dumps into the log when the crawl closes."""
    found = re.search(rf"'{re.escape(name)}': (\d+)", log)
    return int(found.group(1)) if found else 0


def jsonld_page(ident: str, title: str, text: str, meta: str = '<meta charset="utf-8">') -> str:
    posting = {"@context": "https://schema.org", "@type": "JobPosting", "identifier": ident,
               "title": title, "employmentType": "VOLUNTEER", "description": f"<p>{text}</p>"}
    return (f'<!doctype html><html lang="lv"><head>{meta}<title>{title}</title>'
            f'<script type="application/ld+json">{json.dumps(posting, ensure_ascii=False)}</script>'
            f"</head><body><h1>{title}</h1><p>{text}</p></body></html>")


def detail_page(title: str, text: str, meta: str = "") -> str:
    return (f'<!doctype html><html lang="lv"><head>{meta}</head><body><h1>{title}</h1>'
            f'<div class="text"><p>{text}</p></div></body></html>')


def assert_no_replacement_characters(raws: list[RawOpportunity]) -> None:
    for raw in raws:
        assert "\ufffd" not in raw.model_dump_json(), raw


# ------------------------------------------------------------------- encodings


def test_page_declared_utf8_but_written_in_cp1257_is_read_in_its_real_encoding(tmp_path: Path) -> None:
    index = "".join(f'<a href="/lv/{n}">{n}</a>' for n in (1, 2, 3))
    routes = {
        "/": (200, HTML_UTF8, f"<html><body>{index}</body></html>"),
        # Header and meta both say UTF-8; the bytes are cp1257.
        "/lv/1": (200, HTML_UTF8, jsonld_page("LV-1", LV_TITLE, LV_TEXT).encode("cp1257")),
        # Only the header says UTF-8.
        "/lv/2": (200, HTML_UTF8, jsonld_page("LV-2", LV_TITLE + " 2", LV_TEXT, meta="").encode("cp1257")),
        # A correct UTF-8 page stays as it is.
        "/lv/3": (200, HTML_UTF8, jsonld_page("LV-3", LV_TITLE + " 3", LV_TEXT)),
    }
    with FixtureSite(routes) as site:
        got = crawl("schemaorg", site, "/", tmp_path, language="lv", country="LV")
    assert {r.external_id: r.title for r in got["raw"]} == {
        "LV-1": LV_TITLE, "LV-2": LV_TITLE + " 2", "LV-3": LV_TITLE + " 3"}
    assert all(LV_TEXT in (r.description_html or "") for r in got["raw"])
    assert_no_replacement_characters(got["raw"])
    assert scrapy_stat(got["log"], "tilts/encoding_mismatch") == 2  # counted, not silent
    stats = got["stats"]
    assert (stats.errors, stats.errors_by_kind, stats.complete) == (0, {}, True)  # usable: not an error
    assert stats.warnings_by_kind == {"encoding_mismatch": 2}  # and in the crawl's report


def test_every_spider_reads_text_pages_in_their_declared_or_real_encoding(tmp_path: Path) -> None:
    """The listing spider parses the bytes too: a page correctly declared
    windows-1257 and one mis-declared as UTF-8 (meta) both arrive as text."""
    links = '<a class="item" href="/o/declared">1</a><a class="item" href="/o/misdeclared">2</a>'
    routes = {
        "/list": (200, HTML_UTF8, f"<html><body>{links}</body></html>"),
        "/o/declared": (200, {"Content-Type": "text/html; charset=windows-1257"},
                        detail_page(LV_TITLE, LV_TEXT).encode("cp1257")),
        "/o/misdeclared": (200, {"Content-Type": "text/html"},
                           detail_page(LV_TITLE + " 2", LV_TEXT, '<meta charset="utf-8">').encode("cp1257")),
    }
    with FixtureSite(routes) as site:
        got = crawl("listing", site, "/list", tmp_path, selectors=json.dumps(SELECTORS), language="lv")
    assert sorted(r.title or "" for r in got["raw"]) == [LV_TITLE, LV_TITLE + " 2"]
    assert all(LV_TEXT in (r.description_html or "") for r in got["raw"])
    assert_no_replacement_characters(got["raw"])
    assert scrapy_stat(got["log"], "tilts/encoding_mismatch") == 1  # the declared one is no anomaly
    assert got["stats"].errors == 0


def test_a_body_no_encoding_reads_is_an_error(tmp_path: Path) -> None:
    links = '<a class="item" href="/o/good">1</a><a class="item" href="/o/noise">2</a>'
    routes = {
        "/list": (200, HTML_UTF8, f"<html><body>{links}</body></html>"),
        "/o/good": (200, HTML_UTF8, detail_page("Good", "Fine.")),
        "/o/noise": (200, HTML_UTF8, b"<html><body><h1>" + bytes(range(256)) * 40 + b"</h1></body></html>"),
    }
    with FixtureSite(routes) as site:
        got = crawl("listing", site, "/list", tmp_path, selectors=json.dumps(SELECTORS))
    stats = got["stats"]
    assert "Good" in {r.title for r in got["raw"]}
    assert stats.errors_by_kind == {"undecodable": 1}
    assert stats.errors == 1 and stats.complete is False


# ---------------------------------------------------------------- error counts


def test_redirect_loops_are_counted_as_errors(tmp_path: Path) -> None:
    def endless(query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        return 302, {"Location": f"/o/endless?n={int(query.get('n', 0)) + 1}"}, ""

    links = "".join(f'<a class="item" href="/o/{name}">{name}</a>' for name in ("good", "loop", "endless"))
    routes = {
        "/list": (200, HTML_UTF8, f"<html><body>{links}</body></html>"),
        "/o/good": (200, HTML_UTF8, detail_page("Good", "Fine.")),
        "/o/loop": (302, {"Location": "/o/loop"}, ""),  # to itself, forever
        "/o/endless": endless,  # a new URL each time, forever
    }
    with FixtureSite(routes) as site:
        got = crawl("listing", site, "/list", tmp_path, selectors=json.dumps(SELECTORS))
    stats = got["stats"]
    assert [r.title for r in got["raw"]] == ["Good"]
    # The self-redirect is refused at once; the endless chain after REDIRECT_MAX_TIMES (5).
    assert stats.status_counts.get("302") == 1 + 6
    assert stats.errors_by_kind == {"redirect_loop": 2}
    assert stats.errors == 2 and stats.complete is False


def test_bodies_over_the_size_limit_are_errors(tmp_path: Path) -> None:
    limit = 256 * 1024
    bomb = gzip.compress(b"<html><body>" + b" " * (4 * limit) + b"</body></html>")
    links = "".join(f'<a class="item" href="/o/{name}">{name}</a>' for name in ("good", "bomb", "huge"))
    routes = {
        "/list": (200, HTML_UTF8, f"<html><body>{links}</body></html>"),
        "/o/good": (200, HTML_UTF8, detail_page("Good", "Fine.")),
        # A gzip bomb: small on the wire, four times the limit once decompressed.
        "/o/bomb": (200, {**HTML_UTF8, "Content-Encoding": "gzip"}, bomb),
        "/o/huge": (200, HTML_UTF8, detail_page("Huge", "x" * (2 * limit))),
    }
    with FixtureSite(routes) as site:
        got = crawl("listing", site, "/list", tmp_path, {"DOWNLOAD_MAXSIZE": str(limit)},
                    selectors=json.dumps(SELECTORS))
    stats = got["stats"]
    assert len(bomb) < limit and [r.title for r in got["raw"]] == ["Good"]
    assert stats.errors_by_kind == {"too_large": 2}
    assert stats.errors == 2 and stats.complete is False


def test_each_failure_is_counted_once_and_errors_are_the_sum_of_kinds(tmp_path: Path) -> None:
    attempts: dict[str, int] = {}

    def flaky(query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        attempts["flaky"] = attempts.get("flaky", 0) + 1
        return (503, HTML_UTF8, "busy") if attempts["flaky"] == 1 else (200, HTML_UTF8, detail_page("Flaky", "Ok."))

    def slow(query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        time.sleep(2.5)  # longer than DOWNLOAD_TIMEOUT below
        return 200, HTML_UTF8, detail_page("Too late", "")

    names = ("good", "error", "flaky", "slow", "loop", "gone")
    links = "".join(f'<a class="item" href="/o/{name}">{name}</a>' for name in names)
    routes = {
        "/list": (200, HTML_UTF8, f"<html><body>{links}</body></html>"),
        "/o/good": (200, HTML_UTF8, detail_page("Good", "Fine.")),
        "/o/error": (500, HTML_UTF8, "<h1>Internal Server Error</h1>"),
        "/o/flaky": flaky,
        "/o/slow": slow,
        "/o/loop": (302, {"Location": "/o/loop"}, ""),
        "/o/gone": (404, HTML_UTF8, "<h1>Not found</h1>"),  # a dead link is not the crawl's error
    }
    with FixtureSite(routes) as site:
        got = crawl("listing", site, "/list", tmp_path,
                    {"DOWNLOAD_TIMEOUT": "1", "RETRY_TIMES": "1", "TILTS_RETRY_BACKOFF_BASE": "0.1"},
                    selectors=json.dumps(SELECTORS))
    stats = got["stats"]
    assert sorted(r.title or "" for r in got["raw"]) == ["Flaky", "Good"]
    assert stats.status_counts.get("500") == 2  # retried once: two answers, one failure
    timeouts = [kind for kind in stats.errors_by_kind if "Timeout" in kind]
    assert len(timeouts) == 1
    assert stats.errors_by_kind == {"http_500": 1, timeouts[0]: 1, "redirect_loop": 1}
    assert stats.errors == sum(stats.errors_by_kind.values()) == 3
    assert stats.complete is False


# --------------------------------------------------------------------- sitemaps


def sitemap(urls: list[str], padding: int = 0) -> bytes:
    entries = "".join(f"<url><loc>{u}</loc></url>" for u in urls)
    return (f'<?xml version="1.0" encoding="UTF-8"?><!--{" " * padding}-->'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>').encode()


GZIP = {"Content-Type": "application/x-gzip"}


def test_gzipped_sitemaps_are_read(tmp_path: Path) -> None:
    routes: dict = {
        "/sitemap_index.xml": (200, {"Content-Type": "application/xml"},
                               ('<?xml version="1.0" encoding="UTF-8"?>'
                                '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                                "<sitemap><loc>{BASE}/sitemaps/jobs.xml.gz</loc></sitemap></sitemapindex>")),
        "/o/1": (200, HTML_UTF8, jsonld_page("GZ-1", "First from gzip", "One.")),
        "/o/2": (200, HTML_UTF8, jsonld_page("GZ-2", "Second from gzip", "Two.")),
    }
    with FixtureSite(routes) as site:
        site.routes["/sitemaps/jobs.xml.gz"] = (200, GZIP, gzip.compress(sitemap([site.url + "/o/1",
                                                                                  site.url + "/o/2"])))
        # The same, served as if it were XML text (as servers often label .xml.gz).
        site.routes["/sitemap.xml.gz"] = (200, {"Content-Type": "text/xml"},
                                          site.routes["/sitemaps/jobs.xml.gz"][2])
        from_index = crawl("sitemap", site, "/sitemap_index.xml", tmp_path / "index")
        direct = crawl("schemaorg", site, "/sitemap.xml.gz", tmp_path / "direct")
    for got in (from_index, direct):
        assert sorted(r.external_id for r in got["raw"]) == ["GZ-1", "GZ-2"]
        assert (got["stats"].errors, got["stats"].errors_by_kind) == (0, {})


def test_gzipped_sitemap_over_the_size_limit_is_an_error(tmp_path: Path) -> None:
    limit = 256 * 1024
    routes: dict = {"/o/1": (200, HTML_UTF8, jsonld_page("GZ-1", "First", "One."))}
    with FixtureSite(routes) as site:
        body = gzip.compress(sitemap([site.url + "/o/1"], padding=4 * limit))
        site.routes["/sitemap.xml.gz"] = (200, GZIP, body)
        got = crawl("sitemap", site, "/sitemap.xml.gz", tmp_path, {"DOWNLOAD_MAXSIZE": str(limit)})
    assert len(body) < limit  # small on the wire
    assert got["raw"] == []
    assert got["stats"].errors_by_kind == {"too_large": 1}
    assert got["stats"].errors == 1 and got["stats"].complete is False
