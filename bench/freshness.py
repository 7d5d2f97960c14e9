"""Freshness: ``python -m bench.freshness [--listings K]``.

Distributed mode (Kafka + Elasticsearch from `tilts services up`), one
``tilts normalize`` and one ``tilts index`` process running. A feed on
127.0.0.1 gains one new listing at a time; each addition triggers a crawl
right away (the streaming trigger), and the bench polls Elasticsearch every
50 ms until the listing is searchable. Latency = searchable − the moment the
crawler fetched it (``provenance.first_seen`` is the fetch time). Reports
p50/p95/max over K listings; the baseline is Elasticsearch's own refresh
interval (1 s), the floor any indexing pipeline has.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from bench import percentile, start_workers
from crawlers.sources import Source
from pipeline.bus.kafka import delete_topics
from pipeline.events import opportunity_id
from search.backends import open_backend
from tilts.runtime import crawl_source
from tilts.settings import Settings
from tilts.site import LoopbackServer

ITEM = """<item><title>{title}</title><link>{base}/o/{n}</link><guid>{base}/o/{n}</guid>
<description>Volunteers needed in Riga for {title}: help at the community kitchen, two evenings a week.</description>
<pubDate>Wed, 25 Nov 2026 10:00:00 +0000</pubDate></item>"""


class Feed(LoopbackServer):
    def __init__(self) -> None:
        self.items: list[int] = []
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.path.startswith("/robots.txt"):
                    body = b"User-agent: *\nAllow: /\n"
                    ctype = "text/plain"
                else:
                    base = f"http://127.0.0.1:{self.server.server_address[1]}"
                    items = "".join(ITEM.format(title=f"Kitchen helper {n}", base=base, n=n) for n in feed.items)
                    body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Fresh</title>'
                            f"<link>{base}/</link><description>x</description>{items}</channel></rss>").encode()
                    ctype = "application/rss+xml"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(Handler)


def run(k: int = 20) -> dict[str, Any]:
    from tilts import services

    up = services.up(["kafka", "elasticsearch"])
    prefix = f"fresh-{uuid.uuid4().hex[:8]}"
    tmp = Path(tempfile.mkdtemp(prefix="tilts-fresh-"))
    settings = Settings(data_dir=tmp, KAFKA_BOOTSTRAP_SERVERS=up["kafka"], ELASTICSEARCH_URL=up["elasticsearch"],
                        topic_prefix=f"{prefix}.", index_alias=prefix, download_delay=0.0)
    backend = open_backend(up["elasticsearch"], alias=prefix)
    backend.setup()
    procs = list(start_workers(up["kafka"], up["elasticsearch"], prefix, tmp).values())
    latencies: list[float] = []
    with Feed() as feed:
        source = Source(id="fresh-feed", name="Fresh", home_url=feed.url + "/", spider="feed",
                        start_urls=[feed.url + "/feed.rss"], allowed_domains=["127.0.0.1"],
                        politeness={"download_delay": 0.25, "concurrency": 1})
        try:
            time.sleep(3.0)  # the workers join their groups
            for n in range(k):
                feed.items.append(n)
                result = crawl_source(settings, source, timeout=120)
                if result.returncode != 0:
                    raise RuntimeError(result.log_tail)
                doc_id = opportunity_id("fresh-feed", f"{feed.url}/o/{n}")
                deadline = time.monotonic() + 60
                doc = None
                while time.monotonic() < deadline:
                    # a search, not a GET: searchable means visible after a refresh
                    hits = backend.es.search(index=prefix, query={"ids": {"values": [doc_id]}},  # type: ignore[attr-defined]
                                             size=1)["hits"]["hits"]
                    doc = hits[0]["_source"] if hits else None
                    if doc is not None:
                        break
                    time.sleep(0.05)
                seen = datetime.now(UTC)
                if doc is None:
                    raise RuntimeError(f"listing {n} never became searchable; see {tmp}")
                fetched = datetime.fromisoformat(doc["provenance"]["first_seen"].replace("Z", "+00:00"))
                latencies.append((seen - fetched).total_seconds())
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(30)
            delete_topics(up["kafka"], f"{prefix}.")
            backend.drop()  # type: ignore[attr-defined]
            backend.close()
    shutil.rmtree(tmp, ignore_errors=True)  # kept when a listing never arrived: the logs are there
    return {
        "listings": k,
        "p50_seconds": round(statistics.median(latencies), 2),
        "p95_seconds": round(percentile(latencies, 95), 2),
        "max_seconds": round(max(latencies), 2),
        "refresh_interval_seconds": 1.0,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listings", type=int, default=20)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.listings), indent=2))


if __name__ == "__main__":
    main()
