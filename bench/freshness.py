"""Freshness and completeness against a replay of real sources: ``python -m bench.freshness``.

``python -m bench.freshness [--days N] [--limit N] [--backend sqlite|elasticsearch|both]``
serves the replay (``devtools/replay``: the European Youth Portal API and detail
pages from the bundled ESC records, an NGO site, RSS feed and iCalendar from
the NYC Service records) and runs it through the real spiders and pipeline:

1. bootstrap: cycles on the first day until the index holds the sources (the
   European Youth Portal entry completes at most ``max_details`` listings
   from their pages a crawl, as the real registry says);
2. then each simulated day: ``Replay.advance(1)`` (listings appear by their
   ``created`` dates, change, close), one scheduled cycle (the expiry sweep on
   the replay's today, one crawl of every source at once, the normalizer and
   indexer running alongside), and the comparison of the index with the
   replay's ground truth (``devtools.replay.compare``).

It prints a table per cycle and whether the aims are met: at least 99% of the
open listings present and correct after every cycle; no closed or removed
listing shown as open after one cycle; change → searchable p50/p95, measured
here (delays of ``--delay`` seconds) and at the registry's politeness and
schedules (docs/replay.md, "Latency at the registry's politeness"); requests
per listing per cycle. ``--write`` stores the result in
``bench/results/freshness-replay-<backend>.json`` and rewrites the "Freshness
and completeness" section of docs/benchmarks.md from every stored backend.

Distributed mode needs ``KAFKA_BOOTSTRAP_SERVERS`` and ``ELASTICSEARCH_URL``
(``eval "$(tilts services env)"``); it uses topics and an index alias of its
own and deletes them afterwards.

``python -m bench.freshness --stream K`` is the older single-feed measure
that ``python -m bench`` runs as its ``freshness`` part (``run(k)``): K
listings added one at a time to a feed, each crawled at once, latency from
the fetch to searchable, against Elasticsearch's refresh interval.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from bench import percentile, start_workers
from crawlers.runner import crawl_source
from crawlers.sources import Source
from devtools.site import LoopbackServer
from pipeline.bus.kafka import delete_topics
from pipeline.config import Settings
from pipeline.events import opportunity_id
from search.backends import open_backend

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Freshness and completeness"
AIM_CORRECT = 0.99
# Sources whose compared fields are all structured data (an API, JSON-LD, iCalendar);
# the RSS feed gives when and where only as sentences of its text.
STRUCTURED = ("replay-esc", "replay-nyc-site", "replay-nyc-sitemap", "replay-nyc-ical")
BOOTSTRAP_CYCLES = 4


# ----------------------------------------------------------- the replay bench

def replay_run(days: int = 7, limit: int | None = None, backend: str = "sqlite", *, seed: int = 0,
               start: date | None = None, delay: float = 0.05, quiet: bool = False) -> dict[str, Any]:
    """Replay ``days`` simulated days through the pipeline; the per-cycle reports,
    latencies, request costs and which aims were met."""
    from devtools.replay import Replay
    from devtools.replay.corpus import ESC_SNAPSHOT
    from tilts.replay_harness import Harness

    start = start or ESC_SNAPSHOT - timedelta(days=days)
    tmp = Path(tempfile.mkdtemp(prefix="tilts-freshness-"))
    prefix = f"fresh-{uuid.uuid4().hex[:8]}"
    if backend == "elasticsearch":
        kafka, es_url = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("ELASTICSEARCH_URL")
        if not kafka or not es_url:
            raise SystemExit("--backend elasticsearch needs KAFKA_BOOTSTRAP_SERVERS and ELASTICSEARCH_URL "
                             '(eval "$(tilts services env)")')
        settings = Settings(data_dir=tmp, KAFKA_BOOTSTRAP_SERVERS=kafka, ELASTICSEARCH_URL=es_url,
                            topic_prefix=f"{prefix}.", index_alias=prefix, download_delay=delay)
    else:
        settings = Settings(data_dir=tmp, KAFKA_BOOTSTRAP_SERVERS=None, ELASTICSEARCH_URL=None,
                            download_delay=delay)
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    t0 = time.time()
    cycles: list[dict[str, Any]] = []
    try:
        with Replay(day=start, limit=limit, seed=seed) as replay, Harness(replay, settings) as harness:
            say(f"replay {replay.url}: corpus day {start} served as {replay.today}; mode {settings.mode}; "
                f"sources {', '.join(s.id for s in harness.sources)}")
            say(_header())
            before = -1.0
            for _ in range(BOOTSTRAP_CYCLES):  # until the index stops improving
                cycle = harness.cycle()
                cycles.append({**cycle.summary(), "phase": "bootstrap", **_costs(cycle)})
                say(_line(cycles[-1]))
                if cycle.report.correct_share >= AIM_CORRECT or cycle.report.correct_share <= before:
                    break
                before = cycle.report.correct_share
            for _ in range(days):
                changes = replay.advance(1)
                cycle = harness.cycle(changes)
                cycles.append({**cycle.summary(), "phase": "day", **_costs(cycle)})
                say(_line(cycles[-1]))
            latency = harness.latencies()
            registry = {sid: {"download_delay": harness.registry_delay[sid],
                              "schedule_hours": harness.registry_interval[sid] / 3600}
                        for sid in (s.id for s in harness.sources)}
            examples = {sid: cycles[-1]["by_source"][sid] for sid in cycles[-1]["by_source"]}
            wrong_examples = cycle.report.examples
    finally:
        if backend == "elasticsearch":
            delete_topics(settings.kafka_bootstrap_servers, f"{prefix}.")  # type: ignore[arg-type]
            be = open_backend(settings.elasticsearch_url, alias=prefix)  # type: ignore[arg-type]
            be.drop()  # type: ignore[attr-defined]
            be.close()
        shutil.rmtree(tmp, ignore_errors=True)
    result = {"backend": backend, "mode": settings.mode, "days": days, "limit": limit, "seed": seed,
              "start": start.isoformat(), "delay": delay, "seconds": round(time.time() - t0, 1),
              "cycles": cycles, "latency": latency, "registry": registry, "last_by_source": examples,
              "wrong_examples": wrong_examples, "machine": _machine()}
    result["aims"] = aims(result)
    return result


def _costs(cycle: Any) -> dict[str, Any]:
    return {"requests_per_listing": {sid: round(cycle.requests_per_listing(sid), 3) for sid in cycle.listings},
            "full_per_listing": {sid: round(cycle.requests_per_listing(sid, "200"), 3) for sid in cycle.listings}}


def _header() -> str:
    return ("cycle  day         phase      +new ~chg -cls  expected present correct  closed-open(age≥1)"
            "  requests/listing (200s/listing) by source                     seconds")


def _line(c: dict[str, Any]) -> str:
    costs = ", ".join(f"{sid.replace('replay-', '')} {c['requests_per_listing'][sid]:.2f} "
                      f"({c['full_per_listing'][sid]:.2f})" for sid in sorted(c["requests_per_listing"]))
    ch = c["changes"]
    return (f"{c['cycle']:>5}  {c['today']}  {c['phase']:<9} {ch['appeared']:>5} {ch['changed']:>4} "
            f"{ch['closed']:>4}  {c['expected']:>8} {c['present_share']:>7.2%} {c['correct_share']:>7.2%}  "
            f"{c['closed_still_open']:>4}/{c['closed']:<4} {_reasons(c):<14}  {costs}  {c['seconds']:>6}")


def _reasons(c: dict[str, Any]) -> str:
    by = c.get("closed_still_open_by_reason") or {}
    return " ".join(f"{k}:{v}" for k, v in sorted(by.items())) or "–"


def aims(result: dict[str, Any]) -> dict[str, Any]:
    """Which of the issue's aims the run met, over the simulated days (not the bootstrap)."""
    days = [c for c in result["cycles"] if c["phase"] == "day"] or result["cycles"]
    worst = min(days, key=lambda c: c["correct_share"])
    per_source: dict[str, float] = {}
    for c in days:
        for sid, row in c["by_source"].items():
            share = row["correct"] / row["expected"] if row["expected"] else 1.0
            per_source[sid] = min(per_source.get(sid, 1.0), share)
    structured = {k: v for k, v in per_source.items() if k in STRUCTURED}
    by_reason: dict[str, int] = {}
    for c in days:
        for reason, n in c["closed_still_open_by_reason"].items():
            by_reason[reason] = max(by_reason.get(reason, 0), n)
    aged = max(sum(v for k, v in c["closed_open_by_age"].items() if int(k) >= 3) for c in days)
    cost: dict[str, dict[str, float]] = {}
    for sid in days[-1]["requests_per_listing"]:
        later = [c for c in days if sid in c["requests_per_listing"]]
        cost[sid] = {"requests": round(statistics.mean(c["requests_per_listing"][sid] for c in later), 3),
                     "full": round(statistics.mean(c["full_per_listing"][sid] for c in later), 3)}
    return {
        "correct_min": worst["correct_share"], "correct_min_cycle": worst["cycle"],
        "present_min": min(c["present_share"] for c in days),
        "correct_met": worst["correct_share"] >= AIM_CORRECT,
        "correct_min_by_source": {k: round(v, 4) for k, v in per_source.items()},
        "structured_correct_min": round(min(structured.values()), 4) if structured else None,
        "structured_correct_met": all(v >= AIM_CORRECT for v in structured.values()),
        "closed_known": days[-1]["closed"], "closed_still_open_max": max(c["closed_still_open"] for c in days),
        "closed_still_open_by_reason_max": by_reason,
        "closed_still_open_after_3_cycles_max": aged,
        "closed_met": max(c["closed_still_open"] for c in days) == 0,
        "deadline_closed_met": by_reason.get("deadline", 0) == 0,
        "cost_per_listing": cost,
        "cost_met": all(v["full"] < 0.2 for v in cost.values()),
    }


def _machine() -> str:
    from importlib.metadata import version

    return (f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, scrapy {version('scrapy')}")


def _yes(flag: bool) -> str:
    return "met" if flag else "NOT met"


def print_summary(result: dict[str, Any]) -> None:
    a, lat = result["aims"], result["latency"]
    print(f"\n{result['mode']}: {result['days']} simulated days from {result['start']}, "
          f"limit {result['limit']}, {result['seconds']} s")
    print(f"present and correct ≥ 99% after every cycle: {_yes(a['correct_met'])} overall (lowest "
          f"{a['correct_min']:.2%}, cycle {a['correct_min_cycle']}); {_yes(a['structured_correct_met'])} for "
          f"the structured sources (lowest {a['structured_correct_min']:.2%}); by source "
          + ", ".join(f"{k} {v:.2%}" for k, v in a["correct_min_by_source"].items()))
    print(f"closed or removed shown as open after one cycle = 0: {_yes(a['closed_met'])} (at most "
          f"{a['closed_still_open_max']}; by reason {a['closed_still_open_by_reason_max']}; deadlines: "
          f"{_yes(a['deadline_closed_met'])}; after three cycles at most {a['closed_still_open_after_3_cycles_max']})")
    all_ = lat.get("all", {})
    print(f"change → searchable over {all_.get('n', 0)} changes ({lat['unresolved']} unresolved at the end): "
          f"measured p50 {all_.get('measured_p50_s')} s, p95 {all_.get('measured_p95_s')} s; at the registry's "
          f"politeness and schedules p50 {all_.get('registry_p50_h')} h, p95 {all_.get('registry_p95_h')} h")
    print("requests per listing per cycle (200s per listing): "
          + ", ".join(f"{k} {v['requests']} ({v['full']})" for k, v in a["cost_per_listing"].items()))


# ---------------------------------------------------------------- the document

def section(results: list[dict[str, Any]]) -> str:
    """The "Freshness and completeness" section of docs/benchmarks.md."""
    out = [SECTION, "",
           ("Generated by `python -m bench.freshness --write` from a replay of real sources "
           "(`devtools/replay`, [docs/replay.md](replay.md)): the European Youth Portal's API and detail pages "
           "from the 1,176 bundled ESC records, and an NGO site (JSON-LD pages), RSS feed and iCalendar from "
           "the NYC Service records, crawled by the real spiders through the real pipeline. Each simulated "
           "day: listings appear by their `created` dates, are edited (2% a day: a deadline a week later, an "
           "end four weeks later, or a revised description) or removed (0.3% a day of those without a "
           "deadline), close when their deadline or end passes; then one scheduled cycle (expiry sweep on "
           "the replay's today, one crawl of every source, the pipeline running alongside) and the "
           "comparison of what search shows with the replay's ground truth. Bootstrap cycles (the first "
           "day) are listed but not counted in the aims."), ""]
    for r in results:
        a, lat = r["aims"], r["latency"]
        limited = "" if r["limit"] is None else f", at most {r['limit']} listings per corpus"
        limit_arg = "" if r["limit"] is None else f" --limit {r['limit']}"
        out += [f"### {r['mode']}: {r['days']} simulated days from {r['start']}{limited}", "",
                (f"`python -m bench.freshness --days {r['days']}{limit_arg} --backend {r['backend']} --write`, "
                 f"ran {r.get('ran_at', '')[:16].replace('T', ' ')} UTC in {r['seconds']} s on {r['machine']}; "
                 f"crawl delay {r['delay']} s."), "",
                ("| cycle | day (served) | phase | appeared / changed / closed | open listings | present | "
                 "present and correct | closed shown open / closed so far | requests per listing (200s) |"),
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for c in r["cycles"]:
            ch = c["changes"]
            costs = "; ".join(f"{sid.replace('replay-', '')} {c['requests_per_listing'][sid]:.2f} "
                              f"({c['full_per_listing'][sid]:.2f})" for sid in sorted(c["requests_per_listing"]))
            out.append(f"| {c['cycle']} | {c['today']} | {c['phase']} | {ch['appeared']} / {ch['changed']} / "
                       f"{ch['closed']} | {c['expected']} | {c['present_share']:.2%} | {c['correct_share']:.2%} | "
                       f"{c['closed_still_open']} / {c['closed']} ({_reasons(c)}) | {costs} |")
        all_ = lat.get("all", {})
        by_source = ", ".join(f"{k.replace('replay-', '')} {v:.2%}" for k, v in a["correct_min_by_source"].items())
        reasons = ", ".join(f"{k} {v}" for k, v in a["closed_still_open_by_reason_max"].items()) or "none"
        costs = "; ".join(f"{k.replace('replay-', '')} {v['requests']} ({v['full']})"
                          for k, v in a["cost_per_listing"].items())
        def yes(flag):
            return "yes" if flag else "**no**"
        out += ["", "| aim | result | met |", "| --- | --- | --- |",
                (f"| open listings present and correct (title, dates, deadline, place, support) ≥ 99% after "
                 f"every cycle | lowest {a['correct_min']:.2%} (present: lowest {a['present_min']:.2%}); lowest "
                 f"by source: {by_source} | {yes(a['correct_met'])}; structured sources "
                 f"{yes(a['structured_correct_met'])} |"),
                (f"| closed or removed listings shown as open after one cycle: 0 | at most "
                 f"{a['closed_still_open_max']} at once (largest by reason: {reasons}); after three cycles at "
                 f"most {a['closed_still_open_after_3_cycles_max']} | {yes(a['closed_met'])}; past deadlines "
                 f"{yes(a['deadline_closed_met'])} |"),
                (f"| change on the source → searchable, p50 / p95 | here: {all_.get('measured_p50_s')} s / "
                 f"{all_.get('measured_p95_s')} s; at the registry's politeness and schedules: "
                 f"{all_.get('registry_p50_h')} h / {all_.get('registry_p95_h')} h ({all_.get('n', 0)} changes, "
                 f"{lat['unresolved']} not searchable by the end) | – |"),
                (f"| requests per listing per cycle, mean over the days (200 responses per listing) | {costs} | "
                 f"unchanged listings cost no full response: {yes(a['cost_met'])} |"), ""]
        kinds = [k for k in ("appeared", "changed", "closed") if k in lat]
        if kinds:
            out.append("Change → searchable by kind: " + "; ".join(
                f"{k} (n={lat[k]['n']}): measured p50 {lat[k]['measured_p50_s']} s, p95 {lat[k]['measured_p95_s']} s, "
                f"registry p50 {lat[k]['registry_p50_h']} h, p95 {lat[k]['registry_p95_h']} h" for k in kinds) + ".")
            out.append("")
        if r.get("wrong_examples"):
            out.append("Wrong fields in the last cycle, examples: " + "; ".join(
                f"{field}: " + " · ".join(e.split(": ", 1)[-1] for e in ex[:3])
                for field, ex in r["wrong_examples"].items()) + ".")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def write_doc(path: Path = DOC) -> None:
    """Rewrite docs/benchmarks.md's "Freshness and completeness" section from the stored results."""
    stored = []
    for backend in ("sqlite", "elasticsearch"):
        file = RESULTS / f"freshness-replay-{backend}.json"
        if file.exists():
            stored.append(json.loads(file.read_text()))
    if not stored:
        return
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if SECTION in text:
        head, rest = text.split(SECTION, 1)
        nxt = rest.find("\n## ")
        tail = rest[nxt + 1:] if nxt >= 0 else ""
        text = head.rstrip() + "\n\n" + section(stored) + ("\n" + tail if tail else "")
    else:
        text = text.rstrip() + "\n\n" + section(stored)
    path.write_text(text, encoding="utf-8")


# ----------------------------------------------- the single-feed streaming measure

ITEM = """<item><title>{title}</title><link>{base}/o/{n}</link><guid>{base}/o/{n}</guid>
<description>Volunteers needed in Riga for {title}: help at the community kitchen, two evenings a week.</description>
<pubDate>Wed, 25 Nov 2026 10:00:00 +0000</pubDate></item>"""


class Feed(LoopbackServer):
    def __init__(self) -> None:
        self.items: list[int] = []
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
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
    from devtools import services

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
    parser.add_argument("--days", type=int, default=7, help="simulated days after the bootstrap (default 7)")
    parser.add_argument("--limit", type=int, default=None, help="at most N listings per corpus (default: all)")
    parser.add_argument("--backend", choices=["sqlite", "elasticsearch", "both"], default="sqlite")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=date.fromisoformat, default=None,
                        help="corpus day to start on (default: 2026-08-22 minus --days)")
    parser.add_argument("--delay", type=float, default=0.05, help="crawl delay in the loops (seconds)")
    parser.add_argument("--write", action="store_true",
                        help="store the result and rewrite the section of docs/benchmarks.md")
    parser.add_argument("--stream", type=int, default=None, metavar="K",
                        help="the older single-feed fetched → searchable measure with K listings")
    args = parser.parse_args(argv)
    if args.stream is not None:
        print(json.dumps(run(args.stream), indent=2))
        return
    backends = ["sqlite", "elasticsearch"] if args.backend == "both" else [args.backend]
    for backend in backends:
        result = replay_run(args.days, args.limit, backend, seed=args.seed, start=args.start, delay=args.delay)
        result["ran_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        print_summary(result)
        if args.write:
            RESULTS.mkdir(exist_ok=True)
            (RESULTS / f"freshness-replay-{backend}.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.write:
        write_doc()
        print(f"\nwrote {DOC.relative_to(ROOT)} (section \"{SECTION[3:]}\")")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
