"""Sources onboarded by selectors alone: every link field is resolved against the
page (``/org/903``, ``../x``, ``//host/x``, the page's ``<base href>``), unsafe
links are refused, and ``tilts extract --source ID`` prints what a crawl of the
registered source publishes.

The fixture pages mirror a SEEK Volunteer opportunity page (volunteer.com.au):
the organisation is a site-relative link (``/volunteering-organisations/903/…``),
"I'm interested" a ``../apply/…`` link, the organisation's website
protocol-relative, and "Share" / "Email a friend" ``javascript:`` and ``data:``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from parsel import Selector

from crawlers import runner
from crawlers.parsing import absolute_url, is_url_field, select
from crawlers.platforms.listing import parse_listing_detail
from crawlers.saved_response import SavedResponseError, read_saved_response
from crawlers.sources import SELECTABLE_FIELDS, load_sources
from pipeline.events import DLQ_TOPIC, RawOpportunity
from pipeline.normalize import normalize
from tests.support.fixture_site import FAST, HTML, FixtureSite, crawl_events

PARTNERS = Path(__file__).with_name("fixtures") / "partners"
PAGE = "https://www.volunteer.com.au/volunteering/27150312-community-garden-helper"
SITE = "https://www.volunteer.com.au"
SELECTORS: dict[str, Any] = {
    "item_links": "a.result-link::attr(href)",
    "next_page": "a.next::attr(href)",
    "fields": {
        "title": "h1[data-automation=opportunity-title]::text",
        "organisation_name": "a[data-automation=organisation-link]::text",
        "organisation_url": "a[data-automation=organisation-link]::attr(href)",
        "apply_url": "a[data-automation=apply]::attr(href)",
        "location_text": "[data-automation=location]::text",
        "duration_text": "dd[data-automation=commitment]::text",
        "categories": "dd.areas span.tag::text",
        "description_html": "div[data-automation=opportunity-description]",
    },
}
# Every RawOpportunity field that holds a link and that a registry selector may fill.
URL_FIELDS = sorted(f for f in RawOpportunity.model_fields if is_url_field(f) and f in SELECTABLE_FIELDS)


def page(name: str = "seek-volunteer-detail.html") -> bytes:
    return (PARTNERS / name).read_bytes()


def detail(fields: dict[str, str], name: str = "seek-volunteer-detail.html",
           url: str = PAGE) -> dict[str, Any]:
    items, errors = parse_listing_detail(page(name), url, {"fields": {"title": "h1::text", **fields}})
    assert errors == []
    return items[0]


def test_every_link_field_of_the_contract_is_covered() -> None:
    assert {"apply_url", "organisation_url"} <= set(URL_FIELDS)
    assert {f for f in RawOpportunity.model_fields if is_url_field(f)} - set(URL_FIELDS) == {"url"}


def test_seek_volunteer_page_onboarded_by_selectors_alone() -> None:
    fields = detail(SELECTORS["fields"])
    assert fields["organisation_url"] == SITE + "/volunteering-organisations/903/foodbank-victoria"
    assert fields["apply_url"] == SITE + "/apply/27150312?source=detail"
    assert fields["url"] == PAGE and fields["organisation_name"] == "Foodbank Victoria"
    opp = normalize(RawOpportunity.model_validate({
        "source_id": "seek-volunteer", "crawl_id": "t", "fetched_at": "2026-01-10T00:00:00Z",
        "extraction_method": "selectors", **{k: v for k, v in fields.items() if k != "_method"}}))
    assert opp.organisation.url == SITE + "/volunteering-organisations/903/foodbank-victoria"
    assert opp.apply_url == SITE + "/apply/27150312?source=detail"


@pytest.mark.parametrize("field", URL_FIELDS)
@pytest.mark.parametrize(("selector", "expected"), [
    ("a[data-automation=organisation-link]::attr(href)",  # "/x": against the site
     SITE + "/volunteering-organisations/903/foodbank-victoria"),
    ("a[data-automation=apply]::attr(href)", SITE + "/apply/27150312?source=detail"),  # "../x"
    ("a.org-website::attr(href)", "https://www.foodbank.org.au/vic/?utm_source=seekvolunteer"),  # "//h/x"
    ("link[rel=canonical]::attr(href)", SITE + "/volunteering/27150312-community-garden-helper"),
    ("meta[property='og:image']::attr(content)",
     "https://assets.volunteer.com.au/images/opportunities/27150312.jpg"),
    ("xpath://a[@data-automation='apply']/@href", SITE + "/apply/27150312?source=detail"),
    ("a[data-automation=apply]", SITE + "/apply/27150312?source=detail"),  # an element: its href
    ("a.share::attr(href)", None),  # javascript:
    ("a.email-friend::attr(href)", None),  # data:
    ("a.email-friend", None),
])
def test_link_field_is_absolute_or_refused(field: str, selector: str, expected: str | None) -> None:
    assert detail({field: selector}).get(field) == expected


@pytest.mark.parametrize("field", URL_FIELDS)
def test_link_field_resolved_against_base_href(field: str) -> None:
    # The page declares <base href="https://www.volunteer.com.au/volunteering/">; it is
    # served from somewhere else, as a mirror or a CDN would.
    fields = detail({field: "a[data-automation=organisation-link]::attr(href)"},
                    "seek-volunteer-detail-2.html", "http://mirror.example/o/27150313")
    assert fields[field] == SITE + "/volunteering-organisations/1177/brotherhood-of-st-laurence"
    assert detail({field: "a.apply-button::attr(href)"}, "seek-volunteer-detail-2.html",
                  "http://mirror.example/o/27150313").get(field) is None  # javascript:


@pytest.mark.parametrize("field", URL_FIELDS)
def test_link_written_as_text(field: str) -> None:
    body = b"<h1>Reading buddy</h1><dd class=web>www.readingbuddies.org.au</dd><dd class=mail>" \
           b"javascript:alert(1)</dd><dd class=path>/organisations/12</dd>"
    got = parse_listing_detail(body, PAGE, {"fields": {"title": "h1::text", field: "dd.web::text"}})[0][0]
    assert got[field] == "http://www.readingbuddies.org.au"
    for query, expected in (("dd.mail::text", None), ("dd.path", SITE + "/organisations/12")):
        assert parse_listing_detail(body, PAGE, {"fields": {"title": "h1::text", field: query}})[0][0] \
            .get(field) == expected


def test_links_inside_the_description_are_made_absolute() -> None:
    html = detail(SELECTORS["fields"])["description_html"]
    assert f'href="{SITE}/volunteering-organisations/903/foodbank-victoria#garden"' in html
    assert f'src="{SITE}/static/garden.jpg"' in html
    opp = normalize(RawOpportunity.model_validate({
        "source_id": "s", "external_id": "x", "url": PAGE, "crawl_id": "t",
        "fetched_at": "2026-01-10T00:00:00Z", "extraction_method": "selectors", "title": "t",
        "description_html": html}))
    assert "javascript" not in opp.description_html  # left to the sanitizer, which drops it
    assert f'href="{SITE}/volunteering-organisations/903/foodbank-victoria#garden"' in opp.description_html


@pytest.mark.parametrize(("value", "base", "expected"), [
    ("/a", "https://h.example/x/y", "https://h.example/a"),
    ("../a", "https://h.example/x/y/z", "https://h.example/x/a"),
    ("//cdn.example/a.png", "https://h.example/x", "https://cdn.example/a.png"),
    ("//cdn.example/a.png", "http://h.example/x", "http://cdn.example/a.png"),
    ("?page=2", "https://h.example/list?page=1", "https://h.example/list?page=2"),
    ("https://other.example/", "https://h.example/x", "https://other.example/"),
    ("java\tscript:alert(1)", "https://h.example/x", None),
    ("JavaScript:alert(1)", "https://h.example/x", None),
    ("data:text/html,<script>", "https://h.example/x", None),
    ("vbscript:msgbox", "https://h.example/x", None),
    ("file:///etc/passwd", "https://h.example/x", None),
    ("mailto:info@h.example", "https://h.example/x", None),
    ("", "https://h.example/x", None),
])
def test_absolute_url(value: str, base: str, expected: str | None) -> None:
    assert absolute_url(value, base) == expected


def test_select_still_reads_text_html_and_values() -> None:
    sel = Selector(text=page().decode())
    assert select(sel, "dd.areas span.tag::text") == ["Environment & Conservation", "Food & Hospitality"]
    assert select(sel, "dd.areas span.tag") == ["Environment & Conservation", "Food & Hospitality"]
    assert select(sel, "xpath://dt[.='Commitment']/following-sibling::dd[1]/text()") == [
        "Ongoing, 4 hours a week"]
    assert select(sel, "h1", html=True) == [
        '<h1 data-automation="opportunity-title">Community Garden Helper</h1>']


# ---------------------------------------------------------------- crawl and extract


def seek_site() -> FixtureSite:
    """The list page (a relative, a protocol-relative and a javascript: link) and two details."""
    site = FixtureSite({})

    def listing(query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        if query.get("page") == "2":
            return 200, HTML, "<html><body><ul class=results></ul></body></html>"
        text = (PARTNERS / "seek-volunteer-list.html").read_text(encoding="utf-8")
        return 200, HTML, text.replace("{HOST}", urlsplit(site.url).netloc)

    site.routes.update({
        "/volunteering/": listing,
        "/volunteering/27150312-community-garden-helper": (200, HTML, page().decode()),
        "/volunteering/27150313-op-shop-assistant": (200, HTML, page("seek-volunteer-detail-2.html").decode()),
    })
    return site


def registry(tmp_path: Path, base: str, **extra: Any) -> Path:
    entry = {"id": "seek-volunteer", "name": "SEEK Volunteer (fixture)", "home_url": base + "/",
             "spider": "listing", "start_urls": [base + "/volunteering/"], "allowed_domains": ["127.0.0.1"],
             "programme": "ngo", "country": "AU", "language": "en",
             "attribution": "SEEK Volunteer", "selectors": SELECTORS, **extra}
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": [entry]}, allow_unicode=True), encoding="utf-8")
    return path


def test_listing_crawl_publishes_absolute_links_and_never_follows_javascript(tmp_path: Path) -> None:
    with seek_site() as site:
        source = load_sources(registry(tmp_path, site.url))["seek-volunteer"]
        bus_url = f"sqlite:///{tmp_path / 'bus.sqlite3'}"
        result = runner.crawl("listing", source.spider_args(), bus_url=bus_url, settings=FAST, timeout=120)
        assert result.returncode == 0, result.log_tail
        paths = site.paths()
    got = crawl_events(bus_url)
    assert not any("javascript" in p or "openModal" in p for p in paths)
    assert "/volunteering/27150313-op-shop-assistant" in paths  # reached through "//host/x"
    raws = {r.title: r for r in got["raw"]}
    assert set(raws) == {"Community Garden Helper", "Op Shop Assistant"} and got[DLQ_TOPIC] == []
    garden = raws["Community Garden Helper"]
    assert garden.organisation_url == site.url + "/volunteering-organisations/903/foodbank-victoria"
    assert garden.apply_url == site.url + "/apply/27150312?source=detail"
    shop = raws["Op Shop Assistant"]
    assert shop.organisation_url == SITE + "/volunteering-organisations/1177/brotherhood-of-st-laurence"
    assert shop.apply_url is None
    assert (garden.default_country, garden.source_language, garden.attribution) == ("AU", "en", "SEEK Volunteer")


def comparable(raw: RawOpportunity) -> dict[str, Any]:
    return raw.model_dump(mode="json", exclude={"fetched_at", "crawl_id"})


def test_extract_with_source_prints_what_the_crawl_published(tmp_path: Path) -> None:
    with seek_site() as site:
        path = registry(tmp_path, site.url)
        source = load_sources(path)["seek-volunteer"]
        bus_url = f"sqlite:///{tmp_path / 'bus.sqlite3'}"
        result = runner.crawl("listing", source.spider_args(), bus_url=bus_url, settings=FAST, timeout=120)
        assert result.returncode == 0, result.log_tail
    crawled = {str(r.url): r for r in crawl_events(bus_url)["raw"]}
    saved = tmp_path / "garden.html"
    saved.write_bytes(page())
    detail_url = site.url + "/volunteering/27150312-community-garden-helper"
    done = subprocess.run(
        [sys.executable, "-m", "tilts.cli", "extract", str(saved), "--source", "seek-volunteer",
         "--base-url", detail_url], capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "TILTS_SOURCES_FILE": str(path)})
    assert done.returncode == 0, done.stderr
    [printed] = [RawOpportunity.model_validate_json(line) for line in done.stdout.splitlines()]
    assert comparable(printed) == comparable(crawled[detail_url])
    assert (printed.source_id, printed.default_country, printed.source_language, printed.programme,
            printed.attribution, printed.extraction_method) == (
        "seek-volunteer", "AU", "en", "ngo", "SEEK Volunteer", "selectors")
    assert printed.organisation_url == site.url + "/volunteering-organisations/903/foodbank-victoria"


def test_extract_with_source_applies_kind_options_and_defaults(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    doit = {"id": "doit-uk", "name": "Do-it", "home_url": "https://do-it.org/", "spider": "doit",
            "start_urls": ["https://api.do-it.org/v1/opportunities"], "allowed_domains": ["do-it.org"],
            "programme": "ngo", "country": "GB", "language": "en"}
    unv = {"id": "un-volunteers", "name": "UNV", "home_url": "https://app.unv.org/", "spider": "unv",
           "start_urls": ["https://app.unv.org/api/doa/doa/SearchDoaAsyncByAzureCognitive"],
           "allowed_domains": ["app.unv.org"], "programme": "UN Volunteers", "language": "en",
           "options": {"fields": {"city": "hostEntity.shortName"}}}
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": [doit, unv]}), encoding="utf-8")
    monkeypatch.setenv("TILTS_SOURCES_FILE", str(path))
    raws, errors = read_saved_response((PARTNERS / "doit-opportunities-1.json").read_bytes(), source_id="doit-uk")
    assert errors == [] and len(raws) == 2
    assert {(r.source_id, r.default_country, r.source_language, r.programme) for r in raws} == {
        ("doit-uk", "GB", "en", "ngo")}
    assert raws[0].start_date == "2026-03-03T09:30:00+00:00"  # the kind came from the registry
    raws, errors = read_saved_response((PARTNERS / "unv-search.json").read_bytes(), source_id="un-volunteers")
    officer = next(r for r in raws if r.external_id == "1212345")
    assert officer.city == "UNDP" and officer.programme == "UN Volunteers"  # the entry's options.fields
    raws, errors = read_saved_response((PARTNERS / "unv-search.json").read_bytes(), source_id="un-volunteers",
                                       options={"fields": {"city": "workLocation"}})  # --options laid over them
    assert next(r for r in raws if r.external_id == "1212345").city == "Nairobi"
    with pytest.raises(SavedResponseError, match="unknown source 'nope'"):
        read_saved_response(b"{}", source_id="nope")


def test_extract_command_with_an_unknown_source_is_one_clear_line(tmp_path: Path) -> None:
    saved = tmp_path / "x.json"
    saved.write_text("{}", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "tilts.cli", "extract", str(saved), "--source", "nope"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("tilts: unknown source 'nope'") and "Traceback" not in done.stderr


def test_extract_without_source_needs_a_kind(tmp_path: Path) -> None:
    saved = tmp_path / "x.json"
    saved.write_text("{}", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "tilts.cli", "extract", str(saved)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1 and "--kind" in done.stderr
