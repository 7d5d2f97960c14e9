"""The source registry: validation names the source and field; disabled sources are listed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crawlers.sources import DEFAULT_FILE, SourceError, load_sources

GOOD = """
sources:
  - id: ngo-riga
    name: NGO Rīga
    home_url: https://ngo.example.lv/
    spider: listing
    start_urls: [https://ngo.example.lv/brivpratigie]
    allowed_domains: [ngo.example.lv]
    country: LV
    language: lv
    politeness: {download_delay: 2, concurrency: 1}
    selectors:
      item_links: "a.offer::attr(href)"
      fields: {title: "h1::text", description_html: "div.body"}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_registry_covers_every_spider_kind() -> None:
    sources = load_sources(DEFAULT_FILE)
    assert len(sources) >= 10
    assert {s.spider for s in sources.values()} >= {
        "schemaorg", "feed", "wordpress", "sitemap", "listing", "ical", "eyp", "unv",
        "volunteer_connector", "doit", "idealist"}
    assert sources["european-youth-portal"].attribution == "European Youth Portal, CC BY 4.0"
    assert sources["brivpratigie-lv"].language == "lv"


def test_a_valid_entry_becomes_spider_arguments_and_settings(tmp_path: Path) -> None:
    source = load_sources(write(tmp_path, GOOD))["ngo-riga"]
    args = source.spider_args()
    assert args["full_crawl"] == "1" and args["country"] == "LV"
    assert '"item_links":"a.offer::attr(href)"' in args["selectors"]
    assert source.scrapy_settings() == {"DOWNLOAD_DELAY": "2.0", "AUTOTHROTTLE_START_DELAY": "2.0",
                                        "CONCURRENT_REQUESTS_PER_DOMAIN": "1"}


@pytest.mark.parametrize(("change", "message"), [
    (("spider: listing", "spider: rss"), "source ngo-riga: field 'spider'"),
    (("    selectors:\n", "    nothing:\n"), "source ngo-riga: field 'nothing'"),
    (("[ngo.example.lv]", "[other.example]"), "outside allowed_domains"),
    (("country: LV", "country: Latvia"), "field 'country'"),
    (("concurrency: 1", "concurrency: 8"), "field 'politeness.concurrency'"),
    (("title: \"h1::text\"", "titel: \"h1::text\""), "unknown fields ['titel']"),
    (("download_delay: 2", "download_delay: 0"), "field 'politeness.download_delay'"),
])
def test_errors_name_the_source_and_field(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    with pytest.raises(SourceError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_sources(write(tmp_path, GOOD.replace(*change)))


def test_listing_without_selectors_is_refused(tmp_path: Path) -> None:
    text = GOOD.split("    selectors:")[0]
    with pytest.raises(SourceError, match="needs 'selectors'"):
        load_sources(write(tmp_path, text))


def test_missing_api_key_disables_without_crashing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD.replace("    country: LV", "    api_key_env: NGO_KEY\n    country: LV"))
    monkeypatch.delenv("NGO_KEY", raising=False)
    assert load_sources(path)["ngo-riga"].disabled_reason == "needs an API key in $NGO_KEY"
    listed = subprocess.run([sys.executable, "-m", "tilts.cli", "sources", "list"], check=False, capture_output=True,
                            text=True, timeout=60, env={**os.environ, "TILTS_SOURCES_FILE": str(path)})
    assert listed.returncode == 0 and "disabled: needs an API key in $NGO_KEY" in listed.stdout
    monkeypatch.setenv("NGO_KEY", "secret")
    assert load_sources(path)["ngo-riga"].disabled_reason is None


def test_scheduler_skips_disabled_sources(tmp_path: Path) -> None:
    from scheduler.service import desired_jobs

    enabled = load_sources(write(tmp_path, GOOD))
    assert "crawl:ngo-riga" in desired_jobs(enabled)
    sources = load_sources(write(tmp_path, GOOD.replace("    country: LV", "    enabled: false\n    country: LV")))
    assert not [job for job in desired_jobs(sources) if job.startswith("crawl:")]


def test_check_with_network_reads_robots_and_the_first_page() -> None:
    from crawlers.check import check_source
    from crawlers.sources import Source
    from tests.support.fixture_site import FixtureSite

    routes = {"/offers": (200, {"Content-Type": "text/html"}, "<html></html>")}
    with FixtureSite(routes) as site:
        ok = Source(id="ok", name="ok", home_url=site.url + "/", start_urls=[site.url + "/offers"],
                    allowed_domains=["127.0.0.1"])
        missing = ok.model_copy(update={"start_urls": [site.url + "/gone"]})
        assert check_source(ok, network=True) == []
        assert check_source(missing, network=True) == [
            "first page unreachable: HTTP Error 404: Not Found"]
    with FixtureSite(routes, robots="User-agent: *\nDisallow: /\n") as site:
        shut = Source(id="shut", name="shut", home_url=site.url + "/", start_urls=[site.url + "/offers"],
                      allowed_domains=["127.0.0.1"])
        assert check_source(shut, network=True) == [f"robots.txt disallows {site.url}/offers for tilts"]
