"""The `tilts` command as a user runs it (real subprocesses)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.events import raw_event


def tilts(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None,
          timeout: float = 180) -> subprocess.CompletedProcess[bytes]:
    """Run the CLI with ``env`` as its whole environment (``os.environ`` when None):
    ``embedded_env`` leaves Kafka and Elasticsearch out, and they must stay out."""
    return subprocess.run(
        [sys.executable, "-m", "tilts.cli", *args], input=stdin, capture_output=True,
        timeout=timeout, env=dict(os.environ) if env is None else env,
    )


def embedded_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "ELASTICSEARCH_URL")}
    env["TILTS_DATA_DIR"] = str(tmp_path)
    return env


def test_demo_once_on_embedded_default(tmp_path: Path) -> None:
    from devtools.replay import Replay
    from search.backends import open_backend

    env = embedded_env(tmp_path)
    env.pop("TILTS_DATABASE_URL", None)  # as on a fresh machine: the scheduler database in the data dir
    proc = subprocess.run([sys.executable, "-m", "tilts.cli", "demo", "--once"], capture_output=True,
                          timeout=300, env=env, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode()
    summary = json.loads(out.strip().splitlines()[-1])
    with Replay(limit=20) as replay:  # what the demo replayed: 20 listings per corpus, seed 0
        truth = replay.truth()
        sources = replay.sources()
    assert len(truth) >= 40 and {t.source_id for t in truth} >= {"replay-esc", "replay-nyc-site"}
    # every listing once, plus one crawl report per source; nothing dead-lettered
    assert summary == {"mode": "bus=embedded search=embedded", "normalizer_messages": len(truth) + len(sources),
                       "indexed_messages": len(truth), "documents": len(truth), "dead_letters_in_pipeline": 0}
    backend = open_backend(f"sqlite:///{tmp_path / 'search.sqlite3'}")
    try:
        assert all(backend.get(t.id) is not None for t in truth)  # the replay's listings, by id
    finally:
        backend.close()
    # a line per crawl and the publishers' attribution, on the terminal
    for source in sources:
        assert f"crawl {source.id}: ok, " in out, out
    assert "European Youth Portal, CC BY 4.0" in out and "NYC Open Data" in out
    title = next(t.fields["title"] for t in truth if t.source_id == "replay-esc")
    found = subprocess.run([sys.executable, "-m", "tilts.cli", "search", title],
                           capture_output=True, timeout=60, env=env, check=False)
    assert title in found.stdout.decode(), found.stdout.decode()
    # The demo again in the same data dir: the replay comes back where the
    # indexed listings link to, so their source links still open (and no
    # listing comes twice under another address).
    first = (tmp_path / "demo-sources.yaml").read_text(encoding="utf-8")
    again = subprocess.run([sys.executable, "-m", "tilts.cli", "demo", "--once"], capture_output=True,
                           timeout=300, env=env, check=False)
    assert again.returncode == 0, again.stderr.decode()
    assert (tmp_path / "demo-sources.yaml").read_text(encoding="utf-8") == first
    base = re.search(r"home_url: (http://127\.0\.0\.1:\d+)/", first)
    assert base is not None, first
    backend = open_backend(f"sqlite:///{tmp_path / 'search.sqlite3'}")
    try:
        shown = [backend.get(t.id) for t in truth]
        assert all(o is not None and o["url"].startswith(base[1] + "/") for o in shown)
        assert backend.count() == len(truth)
    finally:
        backend.close()


def test_normalize_stdin_filters_json_lines() -> None:
    lines = raw_event(1).to_bytes() + b"\n" + raw_event(2, title="").to_bytes() + b"\n"
    proc = tilts("normalize", "--stdin", stdin=lines)
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [o["title"] for o in out] == ["Opportunity 1"]
    assert proc.returncode == 1  # one line was rejected, and said so
    assert b"line 2" in proc.stderr and b"title" in proc.stderr


def test_unreachable_kafka_is_one_clear_line(tmp_path: Path) -> None:
    proc = tilts("normalize", env={**embedded_env(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"},
                 timeout=120)
    assert proc.returncode == 1
    err = proc.stderr.decode().strip()
    assert err.startswith("tilts: ") and "Traceback" not in err
    assert "127.0.0.1:9" in err


def test_unknown_source_is_one_clear_line(tmp_path: Path) -> None:
    proc = tilts("crawl", "no-such-source", env=embedded_env(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.decode().startswith("tilts: unknown source 'no-such-source'")


def test_dlq_commands_on_the_embedded_bus(tmp_path: Path) -> None:
    from pipeline.bus import open_bus
    from pipeline.config import bus_url_for
    from pipeline.events import RAW_TOPIC
    from pipeline.normalizer import make_normalizer

    env = embedded_env(tmp_path)
    bus = open_bus(bus_url_for(None, tmp_path))
    bus.ensure_topics()
    bus.publish(RAW_TOPIC, "s:1", b'{"source_id": "s", "external_id": "1", "url": "https://x.example/1",'
                b' "crawl_id": "c", "fetched_at": "2026-11-20T00:00:00Z", "extraction_method": "feed"}')
    bus.flush()
    worker = make_normalizer(bus)  # no title: the normalizer dead-letters it
    worker.drain(idle=2.0)
    worker.close()
    bus.close()
    listed = subprocess.run([sys.executable, "-m", "tilts.cli", "dlq", "list"], capture_output=True,
                            timeout=60, env=env)
    assert listed.returncode == 0, listed.stderr.decode()
    assert b"normalize" in listed.stdout and b"title" in listed.stdout
    assert b"1 dead letter(s)" in listed.stdout
    replayed = subprocess.run([sys.executable, "-m", "tilts.cli", "dlq", "replay"], capture_output=True,
                              timeout=60, env=env)
    assert replayed.stdout.strip() == b"re-drove 1 dead letter(s)"


def test_serve_with_several_workers(tmp_path: Path) -> None:
    """`tilts serve --workers 2`: uvicorn worker processes, each building the app from settings."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "ELASTICSEARCH_URL")}
    env["TILTS_DATA_DIR"] = str(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "tilts.cli", "serve", "--port", str(port), "--workers", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/search?q=x", timeout=2) as resp:
                    body = json.load(resp)
            except OSError:
                time.sleep(0.5)
        assert body is not None and body["total"] == 0
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        assert len(children) >= 2  # the worker processes
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(30)
