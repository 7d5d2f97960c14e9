"""Reindex against bulk: ``python -m bench.reindex [--listings N] [--write]``.

N normalized listings (``bench.search.iter_docs``) are published, as the
normalizer publishes them, to a compacted normalized topic of their own in
Kafka. Then ``elasticsearch.helpers.bulk`` loads the same documents (the bodies
the indexer writes, built beforehand) into a fresh index of the project's
template; then ``tilts reindex`` runs as a command, timed from its start to
its exit. Everything is named ``bench-reindex-<random>`` and deleted at the end. Size: ``--listings``
or ``TILTS_BENCH_REINDEX_LISTINGS`` (default 100,000). ``--profile FILE`` runs
the reindex under cProfile (the result is then not stored).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from elasticsearch import helpers

from bench import put_section
from bench.ingest import _busy_seconds, _cpu_seconds, _rss
from bench.search import iter_docs
from pipeline.bus import open_bus
from pipeline.bus.kafka import delete_topics
from pipeline.events import NORMALIZED_TOPIC
from search.backends import open_backend
from search.backends.elastic.backend import CHUNK, ElasticsearchBackend
from search.backends.elastic.mapping import INDEX_SETTINGS, to_document
from search.reindex import Ledger

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
DOC = ROOT / "docs" / "benchmarks.md"
DEFAULT = 100_000
WARM_UP = 5_000
TIMEOUT = 600  # seconds the reindex process may take before the run fails


def _addresses() -> tuple[str, str]:
    from devtools import services

    env = services.env_exports()  # the services of `tilts services up`, unless the environment names others
    return (os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or env["KAFKA_BOOTSTRAP_SERVERS"],
            os.environ.get("ELASTICSEARCH_URL") or env["ELASTICSEARCH_URL"])


def _service_pids() -> dict[str, int]:
    from devtools import services

    base = services.services_dir()
    return {k: pid for k, pid in (("elasticsearch", services.Elasticsearch(base).pid()),
                                  ("kafka", services.Kafka(base).pid())) if pid}


def _used(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


class _Meter:
    """Wall time and CPU time (services, this process's children, the machine) of one phase."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def __enter__(self) -> _Meter:
        self.cpu = {k: _cpu_seconds(p) for k, p in self.pids.items()}
        self.children, self.own = _used(resource.RUSAGE_CHILDREN), _used(resource.RUSAGE_SELF)
        self.busy = _busy_seconds()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started
        self.cpu = {k: _cpu_seconds(p) - self.cpu[k] for k, p in self.pids.items()}
        self.cpu["reindex process"] = _used(resource.RUSAGE_CHILDREN) - self.children
        self.cpu["bench process"] = _used(resource.RUSAGE_SELF) - self.own
        self.busy = _busy_seconds() - self.busy
        self.cpu["everything else"] = max(0.0, self.busy - sum(self.cpu.values()))

    def report(self, n: int, prefix: str) -> dict[str, Any]:
        cpu = {k: round(1000 * v / n, 3) for k, v in self.cpu.items() if v > 0}
        return {f"{prefix}_seconds": round(self.seconds, 2), f"{prefix}_per_second": round(n / self.seconds),
                f"{prefix}_cpu_ms_per_listing": cpu,
                f"{prefix}_machine_busy_cores": round(self.busy / self.seconds, 2)}


def _publish(kafka: str, prefix: str, n: int) -> list[dict[str, Any]]:
    """Publish the ``n`` listings to the normalized topic; return the documents the indexer would write."""
    bus = open_bus(f"kafka://{kafka}", prefix=prefix, partitions=6)
    bus.ensure_topics()
    bodies = []
    gc.disable()  # the bodies stay alive: the cycle collector would walk them again and again
    try:
        for doc in iter_docs(n):
            bus.publish(NORMALIZED_TOPIC, doc.id, doc.to_bytes(), doc.headers())
            bodies.append(to_document(doc))
        bus.flush(timeout=300)
    finally:
        gc.freeze()
        gc.enable()
    bus.close()
    return bodies


def _bulk(backend: ElasticsearchBackend, bodies: list[dict[str, Any]]) -> None:
    """What ``rebuild`` does around its load, with ``helpers.bulk`` in place of ``tilts reindex``."""
    index, es = f"{backend.alias}-v1", backend.es
    es.indices.put_settings(index=index, settings={"refresh_interval": "-1"})
    ok, errors = helpers.bulk(es, ({"_index": index, "_id": b["id"], "_source": b} for b in bodies),
                              chunk_size=CHUNK)
    es.indices.put_settings(index=index, settings={"refresh_interval": INDEX_SETTINGS["refresh_interval"]})
    es.indices.refresh(index=index)
    if ok != len(bodies) or errors:
        raise RuntimeError(f"baseline bulk: {ok} of {len(bodies)} indexed, errors {errors!r:.500}")


def _fresh(es_url: str, alias: str) -> ElasticsearchBackend:
    """An alias of its own with the project's template and first index, as ``tilts index`` makes them."""
    backend = open_backend(es_url, alias=alias)
    assert isinstance(backend, ElasticsearchBackend)
    backend.setup()
    return backend


def _reindex(kafka: str, es_url: str, name: str, profile: Path | None) -> tuple[str, int, int]:
    """``tilts reindex`` on ``name``'s topics and alias: the line it printed, its peak resident set
    (MB), and the highest resident set sampled in the first half of its run (MB): memory that grows
    with the listings read is about half of the peak's growth then, memory that does not is all there."""
    cmd = [sys.executable, *(["-m", "cProfile", "-o", str(profile)] if profile else []), "-m", "tilts.cli", "reindex"]
    with tempfile.TemporaryDirectory(prefix="tilts-bench-reindex-") as data, (Path(data) / "out").open("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={
            **os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka, "ELASTICSEARCH_URL": es_url,
            "TILTS_TOPIC_PREFIX": f"{name}.", "TILTS_INDEX_ALIAS": name, "TILTS_DATA_DIR": data})
        started = time.monotonic()
        deadline, peak, samples = started + TIMEOUT, 0, []
        while proc.poll() is None and time.monotonic() < deadline:
            rss, hwm = _rss(proc.pid)
            peak = max(peak, hwm)  # VmHWM: its own high-water mark
            samples.append((time.monotonic() - started, rss))
            time.sleep(0.1)
        half = (time.monotonic() - started) / 2
        proc.kill()  # when past the deadline; a no-op once it exited
        out.seek(0)
        said = out.read()
    if proc.wait() != 0:
        raise RuntimeError(f"tilts reindex exited {proc.returncode}: {said[-2000:]}")
    first_half = max((rss for t, rss in samples if t <= half), default=0)
    return next((line for line in said.splitlines() if line.startswith("reindexed ")), said), peak, first_half


def _ledger(bodies: list[dict[str, Any]]) -> tuple[int, int]:
    """The size on disk of the reindex's ledger of these listings (``search.reindex.Ledger``), and how
    many of them its amendments link (listings published before their duplicates)."""
    ledger, linked = Ledger(), 0
    try:
        for start in range(0, len(bodies), 1000):
            ledger.note([(b["id"], 1, 1, b["cluster_id"], b["url"], b["provenance"]["first_seen"],
                          json.dumps(b["provenance"]["also_listed_on"])) for b in bodies[start:start + 1000]])
        for _ in ledger.amendments().links:  # and the index the amendments make
            linked += 1
        page_count, page_size = (ledger.db.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size"))
        return int(page_count * page_size), linked
    finally:
        ledger.close()


def _machine() -> dict[str, Any]:
    memory = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
    return {"arch": platform.machine(), "cpus": os.cpu_count(), "memory_gb": round(memory / 1024**2, 1),
            "kernel": f"{platform.system()} {platform.release()}", "python": platform.python_version()}


def _cleanup(kafka: str, prefixes: list[str]) -> None:
    """Delete the topics and the consumer groups (they carry the topic prefix) made under ``prefixes``."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=kafka, client_id="tilts-bench-cleanup")
    try:
        for prefix in prefixes:
            delete_topics(kafka, prefix, admin=admin)
            if groups := [g[0] for g in admin.list_consumer_groups() if g[0].startswith(prefix)]:
                admin.delete_consumer_groups(groups)
    finally:
        admin.close()


def _baseline(es_url: str, alias: str, bodies: list[dict[str, Any]], pids: dict[str, int],
              made: list[ElasticsearchBackend]) -> _Meter:
    made.append(base := _fresh(es_url, alias))
    with _Meter(pids) as meter:
        _bulk(base, bodies)
    base.drop()  # its merges must not run during what comes next
    return meter


def _measure(kafka: str, es_url: str, name: str, n: int, profile: Path | None,
             made: list[ElasticsearchBackend]) -> dict[str, Any]:
    started = time.perf_counter()
    bodies = _publish(kafka, f"{name}.", n)
    publish_seconds = time.perf_counter() - started
    pids = _service_pids()
    _baseline(es_url, f"{name}-warm", bodies[:WARM_UP], pids, made)  # untimed: the JVM warms up
    bulk = _baseline(es_url, f"{name}-bulk", bodies, pids, made)
    ledger_bytes, linked = _ledger(bodies)
    del bodies
    made.append(_fresh(es_url, f"{name}-empty"))  # the command on an empty topic: its memory without listings
    _, idle_mb, _ = _reindex(kafka, es_url, f"{name}-empty", None)
    made.append(live := _fresh(es_url, name))  # the live alias (empty v1), as the indexer made it
    with _Meter(pids) as rebuilt:
        said, peak_mb, half_mb = _reindex(kafka, es_url, name, profile)
    live.refresh()
    if (count := live.count()) != n or not re.match(rf"reindexed {n} opportunities into {name}-v2\b", said):
        raise RuntimeError(f"reindex gave {count} documents of {n}: {said}")
    stats = live.es.indices.stats(index=name, metric="store")["_all"]["primaries"]["store"]
    return {"listings": n, "machine": _machine(), "publish_seconds": round(publish_seconds, 1), "chunk_size": CHUNK,
            **bulk.report(n, "bulk"), **rebuilt.report(n, "reindex"),
            "reindex_peak_rss_mb": peak_mb, "reindex_idle_rss_mb": idle_mb, "reindex_first_half_rss_mb": half_mb,
            "working_set_mb": peak_mb - idle_mb, "ledger_bytes_per_listing": round(ledger_bytes / n),
            "linked_at_the_end": linked,
            "index_bytes_per_listing": round(stats["size_in_bytes"] / n),
            "ratio": round(bulk.seconds / rebuilt.seconds, 3), "reindex_said": said}


def run(n: int | None = None, profile: Path | None = None) -> dict[str, Any]:
    """Reindex throughput / bulk throughput, measured in one run, and the numbers behind it."""
    n = n or int(os.environ.get("TILTS_BENCH_REINDEX_LISTINGS") or DEFAULT)
    kafka, es_url = _addresses()
    name = f"bench-reindex-{uuid.uuid4().hex[:8]}"
    made: list[ElasticsearchBackend] = []
    try:
        return _measure(kafka, es_url, name, n, profile, made)
    finally:
        for backend in made:
            backend.drop()
            backend.close()
        _cleanup(kafka, [f"{name}.", f"{name}-empty."])
        gc.unfreeze()


# ------------------------------------------------------------ docs/benchmarks.md

SECTION = "## Reindex vs bulk"
PROJECTION = "## Projection: 1M, 10M, 100M listings a day"
DAY = 86_400
VOLUMES = (1_000_000, 10_000_000, 100_000_000)


def _stored(part: str) -> tuple[dict[str, Any], str] | None:
    path = RESULTS / f"{part}.json"
    data = json.loads(path.read_text()) if path.exists() else None
    return (data["result"], data["ran_at"][:16].replace("T", " ")) if data else None


def _cpu_cells(run: dict[str, Any], prefix: str) -> str:
    cpu = run[f"{prefix}_cpu_ms_per_listing"]
    client = cpu.get("reindex process", cpu.get("bench process", 0))
    return (f"| {run[f'{prefix}_per_second']:,} | {run[f'{prefix}_seconds']} | {client} / "
            f"{cpu.get('elasticsearch', 0)} / {cpu.get('kafka', 0)} / {cpu.get('everything else', 0)} | "
            f"{run[f'{prefix}_machine_busy_cores']} |")


def section(r: dict[str, Any], ran: str) -> str:
    """The "Reindex vs bulk" section."""
    m, n = r["machine"], r["listings"]
    others = lambda run: r[f"{run}_cpu_ms_per_listing"].get("everything else", 0)  # noqa: E731
    size = "" if n == DEFAULT else f" --listings {n}"
    return "\n".join([
        SECTION, "",
        f"`python -m bench.reindex{size} --write` (`bench/reindex.py`; `python -m bench --only reindex` runs the "
        f"same), ran {ran} UTC on {m['arch']}, {m['cpus']} CPUs, {m['memory_gb']} GB, {m['kernel']}, Python "
        f"{m['python']}, with Kafka and Elasticsearch on the same machine.", "",
        "| run | listings/s | seconds | CPU ms per listing: client process / Elasticsearch / Kafka / "
        "other processes | machine busy (cores) |",
        "| --- | --- | --- | --- | --- |",
        "| `helpers.bulk` (baseline) " + _cpu_cells(r, "bulk"),
        "| `tilts reindex` " + _cpu_cells(r, "reindex"), "",
        f"**Ratio {r['ratio']}** (reindex throughput / bulk throughput, {r['reindex_per_second']:,} / "
        f"{r['bulk_per_second']:,} listings/s; aim ≥ 0.8: {'met' if r['ratio'] >= 0.8 else '**not met**'}). "
        f"Other processes took {others('bulk')} ms of CPU per listing during the baseline and "
        f"{others('reindex')} ms during the reindex"
        + (": the machine was shared, and the ratio moves with that load." if max(others("bulk"), others("reindex"))
           > 0.1 else ": the machine was otherwise quiet. The baseline is one bulk stream, as `helpers.bulk` "
           "sends; the reindex sends two at once, so it can keep Elasticsearch busier than the baseline does "
           "(machine busy above)."), "",
        f"{n:,} normalized listings (`bench.search.iter_docs`: the real ESC, Hamburg and NYC records, varied) "
        f"are published to a compacted normalized topic of 6 partitions, as the normalizer publishes them "
        f"({r['publish_seconds']} s, not counted). The baseline is `elasticsearch.helpers.bulk` of the same "
        f"documents, the bodies the indexer writes (`to_document`, built before its clock starts), into a fresh "
        f"index of the project's template, in chunks of {r['chunk_size']}; `tilts reindex` is timed as a "
        f"command, from its process start to its exit: start-up, the topic replayed by a new consumer "
        f"group and streamed into the new index as it is read (every event parsed and validated, each document built "
        f"and sent in chunks of {r['chunk_size']} over two concurrent bulk streams), the amendments only the end of "
        f"the topic can tell (deletes for tombstones; `also_listed_on` for the {r['linked_at_the_end']:,} listings "
        f"published before their duplicates, partial updates after one refresh), the alias switch, the catch-up "
        f"check. Refresh is the "
        f"same for both: `refresh_interval: -1` while loading, then the template's 1 s and one refresh, "
        f"counted. An untimed warm-up bulk ({WARM_UP:,} documents, an index of its own) goes first, then "
        f"the baseline, then the reindex; each run's index is deleted before the next starts. CPU times are "
        f"read from /proc over each run; "
        f"\"other processes\" is the rest of the machine (other test runs shared it), and Elasticsearch's "
        f"CPU includes whatever those runs asked of it.", "",
        f"Memory: the reindex streams, so it does not grow with the topic. Peak resident set of the reindex "
        f"process: {r['reindex_peak_rss_mb']:,} MB, against {r['reindex_idle_rss_mb']} MB for the same command on "
        f"an empty topic, and already {r['reindex_first_half_rss_mb']:,} MB in the first half of its run (memory "
        f"held per listing read would be about half its growth then). The {r['working_set_mb']} MB it adds while "
        f"working are the listings and request bodies in flight (at most two chunks queued per bulk stream) and "
        f"what the first listing loads (the Elasticsearch client's bulk helpers, the vocabularies and CLDR names "
        f"of `listing_names`). The reindex before this one held the whole topic in memory (1,389 MB for 100,000 "
        f"listings, 13.2 KB per listing, measured 2026-11-30 06:03 UTC). What grows with the topic is the ledger "
        f"on disk, a temporary SQLite file deleted at the end: {r['ledger_bytes_per_listing']} bytes per listing "
        f"(whether its latest event is a tombstone, its cluster, URL and first-seen time, for the amendments).",
    ]) + "\n"


def _limits(r: dict[str, Any], total_ms: float) -> list[tuple[float, str]]:
    """Where each limit binds, in listings (a day, or in the corpus), and what it is."""
    cpus, rate, ledger = r["machine"]["cpus"], r["reindex_per_second"], r["ledger_bytes_per_listing"]
    return sorted([
        (DAY * rate, f"the reindex, one process: at {rate:,} listings/s a 10M corpus takes "
                     f"{10_000_000 / rate / 3600:.1f} h and one of {DAY * rate / 1e6:.0f}M a whole day (memory does "
                     f"not bind: {r['reindex_peak_rss_mb']:,} MB at its peak whatever the corpus, and its ledger on "
                     f"disk is {ledger * 100_000_000 / 1e9:,.0f} GB for 100M listings)"),
        (DAY * cpus * 500 / total_ms, f"the CPU of one {cpus}-core machine at ≤ 50% load: {DAY:,} × {cpus} × "
         f"0.5 / {total_ms:.2f} ms ≈ {DAY * cpus * 500 / total_ms / 1e6:.1f}M listings a day; beyond it the "
         f"crawlers, normalizers (stateless with `TILTS_CLUSTERING=stage`{_scaling()}) and indexers scale out "
         f"over more machines (up to 6 consumers per group with 6 partitions, more with more partitions), and "
         f"the clustering stage by country: one country's listings are one clusterer's, at about 1 ms each "
         f"(`python -m bench.clusters`), so one core places some 86M listings a day of one country"),
        (DAY * r["bulk_per_second"], f"the index's single shard (`number_of_shards: 1`): the bulk ceiling "
         f"measured here, {r['bulk_per_second']:,}/s flat out, is {DAY * r['bulk_per_second'] / 1e6:.0f}M "
         f"listings a day, and at {r['index_bytes_per_listing']:,} bytes per listing a 100M corpus is one "
         f"{r['index_bytes_per_listing'] * 100_000_000 / 1e9:,.0f} GB shard on one node"),
    ])


def _scaling() -> str:
    """What ``bench/scale_out.py`` measured, as a parenthesis's tail."""
    stored = _stored("scale-out")
    if not stored:
        return ""
    ratios = stored[0]["ratios"]
    return (f"; two instances normalized {ratios.get('2', '–')}× one's listings per second on these "
            f"{stored[0]['cpus']} cores, `python -m bench.scale_out`")


def projection(r: dict[str, Any]) -> str:
    """The projection section, from the stored ingest, crawl and reindex results."""
    ingest, crawl = _stored("ingest"), _stored("crawl")
    if not ingest or not crawl:
        return f"{PROJECTION}\n\nNeeds the stored results of `python -m bench --only ingest,crawl`.\n"
    cpu, cr = ingest[0]["cpu_ms_per_listing"], crawl[0]
    crawl_ms = 1000 / cr["spider_pages_per_second"] * cr["spider_pages"] / cr["listing_pages"]
    stages = [("crawl (schemaorg spider → bus; at most)", crawl_ms), ("normalize", cpu["normalize"]),
              ("indexer", cpu["index"]), ("Elasticsearch", cpu["elasticsearch"]), ("Kafka", cpu["kafka"])]
    total = sum(ms for _, ms in stages)
    rate = [v / DAY for v in VOLUMES]
    head = " | ".join(f"{v // 1_000_000}M a day ({x:,.1f}/s)" for v, x in zip(VOLUMES, rate, strict=True))
    rows = [f"| {name} | {ms:.2f} | " + " | ".join(f"{x * ms / 1000:.2f}" for x in rate) + " |"
            for name, ms in [*stages, ("**all stages**", total)]]
    half = r["machine"]["cpus"] * 0.5
    rows.append(f"| {r['machine']['cpus']}-core machines at ≤ 50% load | – | "
                + " | ".join(str(max(1, math.ceil(x * total / 1000 / half))) for x in rate) + " |")
    ledger = r["ledger_bytes_per_listing"]
    reindex_rows = [f"| {v // 1_000_000}M | {v / r['reindex_per_second'] / 3600:.1f} h | "
                    f"{r['reindex_peak_rss_mb']:,} MB | {v * ledger / 1e9:,.1f} GB |" for v in VOLUMES]
    limits = "; then ".join(text for _, text in _limits(r, total))
    return "\n".join([
        PROJECTION, "",
        "**A projection, not a measurement**: arithmetic on the CPU per listing measured above (the ingest "
        f"row's /proc figures, ran {ingest[1][:10]}; the crawl row, ran {crawl[1][:10]}; the reindex section), "
        "assuming costs stay linear, listings arrive evenly over the day (the machine count keeps every core "
        "≤ 50% busy for peaks) and the live corpus is about one day's listings (each re-crawled daily). "
        "Cores = listings a day / 86,400 s × CPU ms per listing / 1,000. The crawl's figure is 1 / "
        f"{cr['spider_pages_per_second']} pages/s × {cr['spider_pages']:,} pages / {cr['listing_pages']:,} "
        "listings: one Scrapy process is single-threaded, so this is its most CPU per listing (politeness off, "
        "pages on 127.0.0.1); real crawls wait on the network and on each domain's politeness delay, so they "
        "need more domains crawled at once, not more cores.", "",
        f"| stage | CPU ms per listing | cores: {head} |", "| --- | --- | --- | --- | --- |", *rows, "",
        f"`tilts reindex` of the whole corpus, at the {r['reindex_per_second']:,} listings/s measured above "
        f"(one process, {r['machine']['cpus']} cores shared with Elasticsearch); it streams, so its memory is the "
        f"peak measured above whatever the corpus, and its ledger takes {ledger} bytes per listing on disk while "
        f"it runs:", "",
        "| corpus | reindex time | reindex memory (peak RSS) | ledger on disk |", "| --- | --- | --- | --- |",
        *reindex_rows, "",
        f"Where it breaks first, in order: {limits}.",
    ]) + "\n"


def write_doc(path: Path = DOC) -> None:
    """Put this benchmark's two sections into docs/benchmarks.md (before "Freshness and
    completeness", or in place when they are there), from the stored results."""
    stored = _stored("reindex")
    if not stored:
        return
    put_section(path, (SECTION, PROJECTION), section(*stored) + "\n" + projection(stored[0]) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listings", type=int, default=None,
                        help=f"listings to publish and reindex (default TILTS_BENCH_REINDEX_LISTINGS or {DEFAULT:,})")
    parser.add_argument("--profile", type=Path, help="run the reindex under cProfile, writing its stats here")
    parser.add_argument("--write", action="store_true", help="store the result and rewrite its docs sections")
    args = parser.parse_args(argv)
    result = run(args.listings, args.profile)
    print(json.dumps(result, indent=2))
    if args.write and not args.profile:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "reindex.json").write_text(json.dumps(
            {"ran_at": datetime.now(UTC).isoformat(timespec="seconds"), "result": result}, indent=2) + "\n")
        write_doc()


if __name__ == "__main__":
    main()
