"""A bounded load test of the search API: ``python -m bench.load [--docs N] [--seconds S]``.

N generated opportunities in Elasticsearch (as in ``bench/search.py``),
``tilts serve`` in its own process on 127.0.0.1, and ``wrk`` (Debian's
package) with a Lua script cycling through the benchmark's query mix, for S
seconds at a fixed number of connections. Reports sustained requests/s,
latency percentiles and errors (non-2xx, socket errors). Loopback only; it
stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.search import _params, _serve, clear_request_cache, load_es, query_mix
from search.backends import open_backend


def index_alias(n: int) -> str:
    """The benchmark index of ``n`` documents, kept between runs."""
    return f"bench-load-{n}"


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return round(float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 2)


def parse_wrk(out: str) -> dict[str, Any]:
    result: dict[str, Any] = {"requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        if m:
            result[f"p{pct}_ms"] = _ms(m.group(1))
    m = re.search(r"^p95_us (\d+)$", out, re.M)
    if m:
        result["p95_ms"] = round(int(m.group(1)) / 1000, 2)
    m = re.search(r"(\d+) requests in", out)
    result["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["socket_errors"] = sum(map(int, m.groups())) if m else 0
    return result


def run(n: int = 100_000, seconds: int = 30, connections: int = 8, workers: int = 1) -> dict[str, Any]:
    from devtools import services

    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk")
    es_url = os.environ.get("ELASTICSEARCH_URL") or services.up(["elasticsearch"])["elasticsearch"]
    alias = index_alias(n)
    es = open_backend(es_url, alias=alias)
    es.setup()
    if es.count() != n:  # made by an earlier run (or `bench.search` with keep) otherwise
        es.drop()  # type: ignore[attr-defined]
        es.setup()
        load_es(es, n)
    # Long enough not to cycle within a run: repeats are the mix's own (popular
    # searches), and the request cache starts empty.
    mix = query_mix(5000)
    paths = ["/search?" + urlencode(_params(q)) for q in mix]
    clear_request_cache(es, alias)
    script = Path(tempfile.mkdtemp(prefix="tilts-load-")) / "mix.lua"
    script.write_text("paths = {" + ",".join(json.dumps(p) for p in paths) + "}\n"
                      "counter = 0\n"
                      "request = function()\n  counter = counter + 1\n"
                      "  return wrk.format('GET', paths[(counter % #paths) + 1])\nend\n"
                      # wrk's --latency table has no p95, the aim's percentile
                      "done = function(summary, latency, requests)\n"
                      "  io.write(string.format('p95_us %d\\n', latency:percentile(95)))\nend\n")
    proc, url = _serve({"ELASTICSEARCH_URL": es_url, "TILTS_INDEX_ALIAS": alias}, workers=workers)
    try:
        done = subprocess.run(["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency",
                               "--timeout", "10s", "-s", str(script), url],
                              capture_output=True, text=True, timeout=seconds + 60)
        out = done.stdout
        if "Requests/sec:" not in out:
            raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or out}")
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(script.parent, ignore_errors=True)
    es.close()
    return {"docs": n, "seconds": seconds, "connections": connections, "workers": workers,
            "mix": len(mix), "distinct_in_mix": len(set(paths)), **parse_wrk(out)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="`tilts serve --workers`")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.docs, args.seconds, args.connections, args.workers), indent=2))


if __name__ == "__main__":
    main()
