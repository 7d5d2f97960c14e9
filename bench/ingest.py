"""Ingest and memory: ``python -m bench.ingest [--events N]``.

N realistic raw events (the real ESC, Hamburg and NYC records, repeated as
listings of other sources) are published to Kafka first; then one
``tilts normalize`` and one ``tilts index`` process drain them into
Elasticsearch. Measured:

- **pipeline**: events/s from the workers' start until every listing is
  searchable (count of the index equals the distinct listings);
- **baseline**: ``elasticsearch.helpers.bulk`` of the same final documents
  (read back from the pipeline's index) into a fresh index of the same
  template, the raw ceiling of the store;
- **memory**: the workers' resident set sampled every second (VmRSS) while
  the backlog drains, and their peak (VmHWM): flat means streaming.

Needs the services (`tilts services up`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from elasticsearch import helpers

from bench import start_workers
from devtools.corpus import repeated_events
from devtools.services.process import child_pids
from pipeline.bus import open_bus
from pipeline.bus.kafka import delete_topics
from pipeline.events import RAW_TOPIC
from search.backends import open_backend


def _rss(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in MB."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                values[line.split(":")[0]] = int(line.split()[1]) // 1024
    except OSError:
        pass
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


_TICK = os.sysconf("SC_CLK_TCK")


def _rss_by_mapping(pid: int) -> dict[str, int]:
    """Where a process's resident memory is, in MB: the main heap, other
    anonymous mappings (thread malloc arenas, large allocations, SQLite's
    cache) and mapped files (code, shared libraries)."""
    sizes = {"heap": 0, "anonymous": 0, "files": 0}
    kind = "files"
    try:
        for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
            head = line.split()
            if head and "-" in head[0] and ":" not in head[0]:  # a mapping's first line
                name = head[5] if len(head) > 5 else ""
                kind = "heap" if name == "[heap]" else "files" if name.startswith("/") else "anonymous"
            elif head and head[0] == "Rss:":
                sizes[kind] += int(head[1])
    except OSError:
        pass
    return {k: v // 1024 for k, v in sizes.items()}


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += child_pids(p)
    return found


def _busy_seconds() -> float:
    """CPU seconds spent busy by the whole machine so far (every process, every core)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / _TICK  # minus idle, iowait


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its descendants so far."""
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / _TICK


def _services(cluster: bool) -> tuple[str, str, dict[str, str], dict[str, list[int]]]:
    """(Kafka bootstrap, Elasticsearch URL(s), the workers' extra settings, the
    services' pids by kind): the single-node services, or the small cluster
    (3 brokers, replication 3, 2 must acknowledge; 2 nodes, 1 replica)."""
    from devtools import services
    from devtools.services import cluster as small

    base = services.services_dir()
    if not cluster:
        up = services.up(["kafka", "elasticsearch"])
        pids = {"kafka": [services.Kafka(base).pid()], "elasticsearch": [services.Elasticsearch(base).pid()]}
        return up["kafka"], up["elasticsearch"], {}, {k: [p for p in v if p] for k, v in pids.items()}
    small.up()
    env = small.env_exports()
    pids = {"kafka": [small.KafkaNode(base, i).pid() for i in range(1, small.KAFKA_NODES + 1)],
            "elasticsearch": [small.ElasticsearchNode(base, i).pid() for i in range(1, small.ES_NODES + 1)]}
    return (env["KAFKA_BOOTSTRAP_SERVERS"], env["ELASTICSEARCH_URL"], env,
            {k: [p for p in v if p] for k, v in pids.items()})


def run(n: int = 100_000, processes: int = 2, baseline: bool = True, cluster: bool = False) -> dict[str, Any]:
    from devtools.services import cluster as small

    started = cluster and not all(healthy for *_, healthy in small.status())
    try:
        return _run(n, processes, baseline, cluster)
    finally:
        if started:  # the cluster this run started goes again
            small.down()


def _run(n: int, processes: int, baseline: bool, cluster: bool) -> dict[str, Any]:
    kafka, es_url, extra, service_pids = _services(cluster)
    events = repeated_events(n, relocate=True)
    expected = len({e.key for e in events})
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    replication = int(extra.get("TILTS_KAFKA_REPLICATION_FACTOR", "1"))
    insync = int(extra["TILTS_KAFKA_MIN_INSYNC_REPLICAS"]) if "TILTS_KAFKA_MIN_INSYNC_REPLICAS" in extra else None
    bus = open_bus(f"kafka://{kafka}", prefix=f"{prefix}.", partitions=6, replication_factor=replication,
                   min_insync_replicas=insync)
    bus.ensure_topics()
    for e in events:
        bus.publish(RAW_TOPIC, e.key, e.to_bytes(), e.headers())
    bus.flush(timeout=120)
    bus.close()

    backend = open_backend(es_url, alias=prefix, replicas=int(extra.get("TILTS_INDEX_REPLICAS", "0")))
    backend.setup()
    tmp = Path(tempfile.mkdtemp(prefix="tilts-ingest-"))
    cpu_before = {name: sum(_cpu_seconds(p) for p in pids) for name, pids in service_pids.items()}
    cpu: dict[str, float] = {}
    started = time.perf_counter()
    procs = start_workers(kafka, es_url, prefix, tmp, normalize_processes=processes, env=extra)
    stages = [*procs, "normalize child"]
    samples: dict[str, list[tuple[float, int]]] = {s: [] for s in stages}
    peaks = {s: 0 for s in stages}
    count = 0
    parent_map: dict[str, int] = {}
    try:
        while count < expected:
            time.sleep(1.0)
            for stage, proc in procs.items():
                rss, hwm = _rss(proc.pid)
                samples[stage].append((round(time.perf_counter() - started, 1), rss))
                peaks[stage] = max(peaks[stage], hwm)
                if proc.poll() is not None:
                    raise RuntimeError(f"{stage} exited: {(tmp / f'{stage}.log').read_text()[-2000:]}")
            kids = [_rss(c) for c in child_pids(procs["normalize"].pid)]
            if kids:  # the largest child at each moment
                samples["normalize child"].append((round(time.perf_counter() - started, 1),
                                                   max(k[0] for k in kids)))
                peaks["normalize child"] = max(peaks["normalize child"], *(k[1] for k in kids))
            for stage, proc in procs.items():  # the workers' own and their children's
                cpu[stage] = max(cpu.get(stage, 0.0), _cpu_seconds(proc.pid))
            parent_map = _rss_by_mapping(procs["normalize"].pid) or parent_map
            backend.refresh()
            count = backend.count()
        elapsed = time.perf_counter() - started
        for name, pids in service_pids.items():
            cpu[name] = sum(_cpu_seconds(p) for p in pids) - cpu_before[name]
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(30)
        delete_topics(kafka, f"{prefix}.")
    shutil.rmtree(tmp, ignore_errors=True)  # kept when a worker failed: its log is there

    pipeline_rate = expected / elapsed
    result: dict[str, Any] = {
        "events": n, "listings": expected, "cluster": cluster, "pipeline_seconds": round(elapsed, 1),
        "pipeline_per_second": round(pipeline_rate), "normalizer_rss_mb_by_mapping": parent_map}
    if not baseline:
        backend.drop()  # type: ignore[attr-defined]
        backend.close()
        return {**result, **_resources(processes, cpu, expected, elapsed, samples, peaks, stages)}

    # baseline: the same final documents (read back from the pipeline's index),
    # bulk-indexed straight into a fresh index of the same template
    docs = [h["_source"] for h in helpers.scan(backend.es, index=prefix, size=2000)]  # type: ignore[attr-defined]
    base_alias = f"{prefix}-bulk"
    base = open_backend(es_url, alias=base_alias, replicas=int(extra.get("TILTS_INDEX_REPLICAS", "0")))
    base.setup()
    t = time.perf_counter()
    helpers.bulk(base.es, ({"_index": base_alias, "_id": d["id"], "_source": d} for d in docs),  # type: ignore[attr-defined]
                 chunk_size=500)
    base.refresh()
    bulk_elapsed = time.perf_counter() - t
    for b, _alias in ((backend, prefix), (base, base_alias)):
        b.drop()  # type: ignore[attr-defined]
        b.close()

    bulk_rate = len(docs) / bulk_elapsed
    return {**result, "bulk_seconds": round(bulk_elapsed, 1), "bulk_per_second": round(bulk_rate),
            "ratio": round(pipeline_rate / bulk_rate, 3),
            **_resources(processes, cpu, expected, elapsed, samples, peaks, stages)}


def _resources(processes: int, cpu: dict[str, float], listings: int, elapsed: float,
               samples: dict[str, list[tuple[float, int]]], peaks: dict[str, int],
               stages: list[str]) -> dict[str, Any]:
    def shape(stage: str) -> dict[str, int]:
        points = samples[stage]
        marks = {f"{p}%": points[min(len(points) - 1, len(points) * p // 100)][1] for p in (10, 50, 90)}
        return {**marks, "last": points[-1][1]}

    return {
        "normalize_processes": processes,
        "cpu_seconds": {k: round(v, 1) for k, v in cpu.items()},
        "cpu_ms_per_listing": {k: round(1000 * v / listings, 2) for k, v in cpu.items()},
        "cpu_available_seconds": round(elapsed * (os.cpu_count() or 1), 1),
        "peak_rss_mb": {s: v for s, v in peaks.items() if v},
        "rss_mb_over_time": {s: shape(s) for s in stages if samples[s]},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=2,
                        help="normalizer child processes (TILTS_NORMALIZE_PROCESSES; 1: in-process)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the bulk baseline (for the memory run over a large backlog)")
    parser.add_argument("--cluster", action="store_true",
                        help="on the small cluster (`tilts services up --cluster`) instead of the single node")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.events, args.processes, baseline=not args.no_baseline, cluster=args.cluster),
                     indent=2))


if __name__ == "__main__":
    main()
