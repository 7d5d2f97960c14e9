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

from crawlers import runner
from devtools.corpus import build_site
from devtools.site import StaticSite

SETTINGS = {"DOWNLOAD_DELAY": "0", "AUTOTHROTTLE_ENABLED": "False", "LOG_LEVEL": "INFO",
            "CONCURRENT_REQUESTS_PER_DOMAIN": "8", "HTTPCACHE_ENABLED": "False"}


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
