"""Crawl throughput: the real schemaorg spider (extraction, contract validation,
publishing to the bus) as a ratio over a bare Scrapy spider that downloads the
same pages, in the same run, against a fixture site on 127.0.0.1.

The site has ``--pages`` listing pages with schema.org JSON-LD built from the
real European Solidarity Corps records (``../shared/data``) and index pages
linking to them. Politeness delays are off for both (robots.txt is still read);
concurrency per domain is the same for both. Rates use Scrapy's own
``elapsed_time_seconds``, so process start-up is not counted.

    python -m bench.crawl [--pages N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.corpus import DATA
from crawlers import runner
from devtools.site import StaticSite

SETTINGS = {"DOWNLOAD_DELAY": "0", "AUTOTHROTTLE_ENABLED": "False", "LOG_LEVEL": "INFO",
            "CONCURRENT_REQUESTS_PER_DOMAIN": "8", "HTTPCACHE_ENABLED": "False"}


def _records(n: int) -> list[dict]:
    path = DATA / "esc-opportunities-2026-08.json"
    base = json.loads(path.read_text(encoding="utf-8"))["opportunities"] if path.exists() else [
        {"opid": 1, "title": "Volunteer", "town": "Rīga", "country": "LV", "start_date": "2027-01-01",
         "end_date": "2027-06-30", "deadline": None, "topics": ["Education and training"]}]
    return [base[i % len(base)] | {"opid": f"{base[i % len(base)]['opid']}-{i}"} for i in range(n)]


def build_site(root: Path, pages: int) -> None:
    (root / "o").mkdir(parents=True)
    (root / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    links = []
    for i, rec in enumerate(_records(pages)):
        node = {"@context": "https://schema.org", "@type": "JobPosting", "employmentType": "VOLUNTEER",
                "title": rec["title"], "identifier": str(rec["opid"]),
                "description": f"<p>{rec['title']}: {', '.join(rec.get('topics') or [])}.</p>" * 20,
                "datePosted": "2026-08-01", "validThrough": rec.get("deadline") or "2027-06-30",
                "jobLocation": {"@type": "Place", "address": {"@type": "PostalAddress",
                                "addressLocality": rec.get("town"), "addressCountry": rec.get("country")}},
                "hiringOrganization": {"@type": "Organization", "name": f"Host {i}"}}
        body = (f"<!doctype html><html><head><title>{rec['title']}</title><script type=\"application/ld+json\">"
                f"{json.dumps(node, ensure_ascii=False)}</script></head><body><h1>{rec['title']}</h1>"
                + "<p>Lorem ipsum dolor sit amet.</p>" * 40 + "</body></html>")
        (root / "o" / f"{i}.html").write_text(body, encoding="utf-8")
        links.append(f'<a href="/o/{i}.html">{i}</a>')
    chunks = [links[i:i + 100] for i in range(0, len(links), 100)]
    index = "".join(f'<a href="/list-{n}.html">page {n}</a>' for n in range(len(chunks)))
    (root / "index.html").write_text(f"<html><body>{index}</body></html>")
    for n, chunk in enumerate(chunks):
        (root / f"list-{n}.html").write_text(f"<html><body>{''.join(chunk)}</body></html>")


def _stats(log: str) -> tuple[int, float]:
    pages = re.search(r"'response_received_count': (\d+)", log)
    elapsed = re.search(r"'elapsed_time_seconds': ([\d.]+)", log)
    if not pages or not elapsed:
        raise RuntimeError(f"no Scrapy stats in the crawl log:\n{log[-2000:]}")
    return int(pages.group(1)), float(elapsed.group(1))


def run(pages: int = 1000, repeat: int = 3) -> dict[str, object]:
    """Best of ``repeat`` alternating runs of each spider (short runs are noisy)."""
    bare_rate = real_rate = 0.0
    bare_pages = real_pages = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "site"
        build_site(root, pages)
        with StaticSite(root) as site:
            for attempt in range(repeat):
                bare = subprocess.run(
                    [sys.executable, "-m", "scrapy", "runspider",
                     str(Path(__file__).with_name("bare_spider.py")), "-a", f"start={site.url}/",
                     *[x for k, v in SETTINGS.items() for x in ("-s", f"{k}={v}")]],
                    capture_output=True, text=True, timeout=900, check=False,
                    env=dict(os.environ, SCRAPY_SETTINGS_MODULE="crawlers.settings"))
                bare_pages, seconds = _stats(bare.stderr)
                bare_rate = max(bare_rate, bare_pages / seconds)
                real = runner.crawl("schemaorg", {"start_urls": site.url + "/", "source_id": "bench"},
                                    bus_url=f"sqlite:///{Path(tmp) / f'bus-{attempt}.sqlite3'}",
                                    settings=SETTINGS, timeout=900)
                real_pages, seconds = _stats(real.log_tail)
                real_rate = max(real_rate, real_pages / seconds)
    return {"listing_pages": pages, "runs_each": repeat, "bare_pages": bare_pages, "spider_pages": real_pages,
            "bare_pages_per_second": round(bare_rate, 1), "spider_pages_per_second": round(real_rate, 1),
            "ratio": round(real_rate / bare_rate, 3)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    print(json.dumps(run(parser.parse_args(argv).pages), indent=2))


if __name__ == "__main__":
    main()
