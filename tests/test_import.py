"""`tilts import` and `tilts index --stdin` as a user runs them: real
subprocesses on the embedded default (SQLite bus and search in a tmp data
folder), the real corpora in ../shared/data with the shipped mappings, and
real Kafka (a test-unique topic prefix, read back with plain kafka-python)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.bus import Message, open_bus
from pipeline.config import bus_url_for
from pipeline.events import RAW_TOPIC, RawOpportunity, opportunity_id, parse_event
from search.backends import SearchBackend, open_backend
from tests.support.events import raw_event
from tilts.importer import Importer, ImportFailed, Mapping

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
EXAMPLES = ROOT / "docs" / "examples"
HAMBURG = DATA / "hamburg-ehrenamt.csv"
NYC = DATA / "nyc-service-volunteer-opportunities.csv"


def embedded_env(tmp_path: Path) -> dict[str, str]:
    """The environment without Kafka and Elasticsearch: the embedded default in ``tmp_path``."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("KAFKA_BOOTSTRAP_SERVERS", "ELASTICSEARCH_URL", "TILTS_TOPIC_PREFIX")}
    env["TILTS_DATA_DIR"] = str(tmp_path)
    return env


def tilts(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None,
          timeout: float = 180) -> subprocess.CompletedProcess[bytes]:
    """``tilts ARGS`` in a child process with exactly ``env`` (nothing else inherited)."""
    return subprocess.run([sys.executable, "-m", "tilts.cli", *args], input=stdin, capture_output=True,
                          timeout=timeout, env=env if env is not None else dict(os.environ), cwd=ROOT,
                          check=False)


def read_raw(data_dir: Path) -> list[Message]:
    """Everything on the embedded raw topic, read with a group of its own."""
    bus = open_bus(bus_url_for(None, data_dir))
    consumer = bus.consumer("test-reader", [RAW_TOPIC])
    out: list[Message] = []
    try:
        while batch := consumer.poll(max_records=1000, timeout=0.2):
            out += batch
    finally:
        consumer.close()
        bus.close()
    return out


def search_db(data_dir: Path) -> SearchBackend:
    backend = open_backend(f"sqlite:///{data_dir / 'search.sqlite3'}")
    backend.setup()
    return backend


def need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path} is absent (the real corpora live in ../shared/data)")
    return path


# ------------------------------------------------------------------ JSON lines


def test_jsonl_publishes_good_records_with_defaults_and_reports_bad_ones(tmp_path: Path) -> None:
    own = raw_event(7).model_dump(mode="json")  # a complete event keeps its own values
    lines = [
        json.dumps({"external_id": "1", "url": "https://ngo.example/1", "title": "Beach clean-up"}),
        "not json",
        json.dumps({"external_id": "2", "url": "javascript:alert(1)", "title": "x"}),
        "",
        json.dumps(own),
        json.dumps(["a list"]),
    ]
    dump = tmp_path / "listings.jsonl"
    dump.write_text("\n".join(lines) + "\n")
    proc = tilts("import", str(dump), "--source-id", "ngo", env=embedded_env(tmp_path))

    assert proc.returncode == 1, proc.stderr.decode()
    err = proc.stderr.decode().splitlines()
    assert err == [
        f"{dump}:2: invalid JSON: Expecting value at column 1",
        f"{dump}:3: field 'url': Value error, only absolute http and https URLs are allowed",
        f"{dump}:6: not a JSON object but list",
    ]
    summary = proc.stdout.decode().strip()
    assert summary.startswith(f"{dump}: 2 published to opportunities.raw.v1, 3 bad; 5 records in ")

    published = read_raw(tmp_path)
    assert [m.key for m in published] == [b"ngo:1", b"src:7"]
    first = parse_event(RawOpportunity, published[0].value)
    assert first.source_id == "ngo" and first.extraction_method == "api"
    assert first.crawl_id.startswith("import-") and first.crawl_id in summary
    assert first.fetched_at.tzinfo is not None
    assert parse_event(RawOpportunity, published[1].value) == raw_event(7)  # nothing overwritten
    assert published[0].header("content-type") == b"application/json"
    assert published[0].header("schema-version") == b"1"


def test_dry_run_publishes_nothing_and_rejects_keep_the_bad_records(tmp_path: Path) -> None:
    dump = tmp_path / "listings.ndjson"
    good = json.dumps({"external_id": "1", "url": "https://ngo.example/1", "title": "Food bank"})
    dump.write_text(f"{good}\n{{\"external_id\": \"2\"}}\n")
    rejects = tmp_path / "bad.ndjson"
    proc = tilts("import", str(dump), "--source-id", "ngo", "--dry-run", "--rejects", str(rejects),
                 env=embedded_env(tmp_path))
    assert proc.returncode == 1
    assert b"1 valid (nothing published: --dry-run), 1 bad" in proc.stdout
    assert f"{dump}:2: field 'url': Field required".encode() in proc.stderr
    assert rejects.read_text() == '{"external_id": "2"}\n'
    assert not (tmp_path / "bus.sqlite3").exists()  # not even opened


def test_no_source_id_anywhere_is_one_line_per_record(tmp_path: Path) -> None:
    dump = tmp_path / "x.jsonl"
    dump.write_text(json.dumps({"external_id": "1", "url": "https://ngo.example/1"}) + "\n")
    proc = tilts("import", str(dump), env=embedded_env(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.decode().strip() == f"{dump}:1: no source_id (give --source-id)"


def test_stdin_and_unknown_formats(tmp_path: Path) -> None:
    env = embedded_env(tmp_path)
    proc = tilts("import", "-", "--source-id", "ngo", env=env,
                 stdin=json.dumps({"external_id": "1", "url": "https://ngo.example/1"}).encode())
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.startswith(b"<stdin>: 1 published")
    odd = tmp_path / "listings.xml"
    odd.write_text("<x/>")
    proc = tilts("import", str(odd), env=env)
    assert proc.returncode == 1
    assert proc.stderr.decode().strip() == f"tilts: {odd}: cannot tell the format from the name; " \
                                           "give --format jsonl or csv"


# ------------------------------------------------------------------------- CSV


CSV_TEXT = (
    "\ufeffid;title;desc;url;tags\n"                      # 1 (a BOM, skipped)
    "1;First;\"line one\nline two\";https://a.example/1;a, b\n"  # 2-3
    "2;Second;plain;javascript:alert(1);\n"                # 4
    "\n"                                                   # 5
    "3;Third;\"multi\n\nline\";https://a.example/3;\n"    # 6-8
    "4;Fourth;too;many;fields;https://a.example/4\n"       # 9
).encode() + "5;Fünf;x;https://a.example/5;\n".encode("latin-1") + (  # 10
    b"6;Six;\"unclosed;https://a.example/6;\n"             # 11 (swallows 12)
    b"7;Seven;x;https://a.example/7;\n"
)
MAPPING = {"source_id": "csv-src", "fields": {
    "external_id": "id", "title": "title", "description_html": "desc", "url": "url",
    "categories": {"column": "tags", "split": ","}, "source_language": {"value": "en"}}}


def test_csv_reports_the_line_each_bad_record_starts_on(tmp_path: Path) -> None:
    dump = tmp_path / "listings.csv"
    dump.write_bytes(CSV_TEXT)
    said: list[str] = []
    rejects = io.BytesIO()
    bus = open_bus(bus_url_for(None, tmp_path))
    report = Importer(bus, say=said.append, rejects=rejects).run(str(dump), mapping=Mapping.from_dict(MAPPING))
    bus.close()

    assert said == [
        f"{dump}:4: field 'url': Value error, only absolute http and https URLs are allowed",
        f"{dump}:9: 6 fields where the header has 5",
        f"{dump}:10: not utf-8 (byte 4: invalid start byte)",
        f"{dump}:11: 3 fields where the header has 5 (an unclosed quote?)",
    ]
    assert (report.records, report.published, report.bad) == (6, 2, 4)
    # The rejects file is a CSV of its own: the header and each bad record's original bytes.
    assert rejects.getvalue().splitlines()[0] == "\ufeffid;title;desc;url;tags".encode()
    assert rejects.getvalue().count(b"\n") == 1 + 1 + 1 + 1 + 2
    events = [parse_event(RawOpportunity, m.value) for m in read_raw(tmp_path)]
    assert [(e.key, e.description_html, e.categories) for e in events] == [
        ("csv-src:1", "line one\nline two", ["a", "b"]), ("csv-src:3", "multi\n\nline", [])]
    assert events[0].source_language == "en"


def test_mapping_mistakes_fail_before_anything_is_published(tmp_path: Path) -> None:
    dump = tmp_path / "listings.csv"
    dump.write_bytes(CSV_TEXT)
    env = embedded_env(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("fields:\n  titel: title\n")
    proc = tilts("import", str(dump), "--mapping", str(bad), env=env)
    assert proc.returncode == 1
    assert proc.stderr.decode().startswith(f"tilts: {bad}: 'titel' is not a RawOpportunity field")

    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps({"fields": {"external_id": "id", "url": "link", "title": "name"}}))
    proc = tilts("import", str(dump), "--mapping", str(missing), "--source-id", "s", env=env)
    assert proc.returncode == 1
    assert proc.stderr.decode().startswith(
        f"tilts: {dump}: the mapping names columns the header does not have: link, name (columns: id, title")
    assert read_raw(tmp_path) == []

    with pytest.raises(ImportFailed, match="give exactly one of column, value, template"):
        Mapping.from_dict({"fields": {"title": {"column": "a", "value": "b"}}})
    with pytest.raises(ImportFailed, match="split is for list fields"):
        Mapping.from_dict({"fields": {"title": {"column": "a", "split": ","}}})


def test_csv_without_mapping_takes_columns_named_like_fields(tmp_path: Path) -> None:
    dump = tmp_path / "plain.csv"
    dump.write_text("external_id,url,title,colour\n1,https://a.example/1,Tree planting,green\n")
    proc = tilts("import", str(dump), "--source-id", "plain", env=embedded_env(tmp_path))
    assert proc.returncode == 0, proc.stderr.decode()
    assert f"{dump}: columns not used (no mapping; not RawOpportunity fields): colour".encode() in proc.stderr
    [msg] = read_raw(tmp_path)
    assert parse_event(RawOpportunity, msg.value).title == "Tree planting"


# ------------------------------------------------------------ --wait, embedded


def test_wait_drives_the_embedded_pipeline_until_searchable(tmp_path: Path) -> None:
    dump = tmp_path / "listings.jsonl"
    records = [raw_event(n, source_id="file", title=f"Forest school helper {n}").model_dump(mode="json")
               for n in range(1, 31)]
    records[4]["title"] = "   "  # valid for the contract, refused by the normalizer
    dump.write_text("".join(json.dumps(r) + "\n" for r in records))
    proc = tilts("import", str(dump), "--wait", env=embedded_env(tmp_path))

    assert proc.returncode == 1  # one listing was dead-lettered downstream, and said so
    out = proc.stdout.decode()
    assert "30 published" in out and "29 of 30 imported listings searchable" in out
    assert f"{dump}:5: dead-lettered by the normalize stage: RawOpportunity: field 'title'" in proc.stderr.decode()
    backend = search_db(tmp_path)
    try:
        assert backend.count() == 29
        assert backend.get(opportunity_id("file", "12"))["title"] == "Forest school helper 12"
    finally:
        backend.close()
    # Importing the same file again overwrites: still 29 documents.
    again = tilts("import", str(dump), "--wait", env=embedded_env(tmp_path))
    assert b"29 of 30 imported listings searchable" in again.stdout
    backend = search_db(tmp_path)
    assert backend.count() == 29
    backend.close()


def test_hamburg_csv_with_the_shipped_mapping(tmp_path: Path) -> None:
    """UTF-8 with BOM, `;`, descriptions over several lines, decimal-comma coordinates."""
    proc = tilts("import", str(need(HAMBURG)), "--mapping", str(EXAMPLES / "hamburg-ehrenamt.yaml"),
                 "--wait", env=embedded_env(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    out = proc.stdout.decode()
    assert "2311 published to opportunities.raw.v1, 0 bad; 2311 records" in out
    assert "2311 of 2311 imported listings searchable" in out
    backend = search_db(tmp_path)
    try:
        doc = backend.get(opportunity_id("hamburg-freiwilligenagenturen", "50057"))  # the first record
        assert doc["title"] == "Bürotätigkeiten in einem Verein"
        assert doc["organisation"]["name"] == "Blauer-Weihnachtsmann.org e.V."
        assert doc["locations"][0]["geo"] == {"lat": 53.4554, "lon": 9.97522}  # "53,4554"
        assert doc["locations"][0]["country"] == "DE"
        assert "Adresslisten" in doc["description_text"]  # the description's second paragraph
        assert doc["language"] == "de"
    finally:
        backend.close()


def test_nyc_csv_with_the_shipped_mapping(tmp_path: Path) -> None:
    """Coordinates and city from inside the `locality` column (a dict string holding JSON)."""
    proc = tilts("import", str(need(NYC)), "--mapping", str(EXAMPLES / "nyc-service.yaml"), "--wait",
                 env=embedded_env(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert b"665 of 665 imported listings searchable" in proc.stdout
    backend = search_db(tmp_path)
    try:
        doc = backend.get(opportunity_id("nyc-service", "5017"))
        assert doc["title"] == "Cents Ability Classroom Set-up"
        loc = doc["locations"][0]
        assert (loc["country"], loc["postal_code"]) == ("US", "10009")
        assert loc["city"].startswith("New York")  # the address's city (the normalizer may say "New York City")
        assert loc["geo"] == {"lat": 40.72664935898081, "lon": -73.97911148500697}
        assert doc["places_available"] == 5 and doc["duration_class"] == "one_off"
    finally:
        backend.close()


# -------------------------------------------------------------- index --stdin


def test_normalize_stdin_piped_into_index_stdin(tmp_path: Path) -> None:
    env = embedded_env(tmp_path)
    raw = b"".join(raw_event(n, title=f"Library reading buddy {n}" if n != 3 else "").to_bytes() + b"\n"
                   for n in range(1, 6))
    cmd = [sys.executable, "-m", "tilts.cli"]
    normalize = subprocess.Popen([*cmd, "normalize", "--stdin"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    index = subprocess.Popen([*cmd, "index", "--stdin"], stdin=normalize.stdout, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
    assert normalize.stdout is not None and normalize.stdin is not None
    normalize.stdout.close()  # index holds the pipe now
    normalize.stdin.write(raw)
    normalize.stdin.close()
    out, err = index.communicate(timeout=180)
    assert normalize.wait(timeout=60) == 1  # line 3 has no title, and it said so
    assert b"line 3" in normalize.stderr.read()  # type: ignore[union-attr]
    assert index.returncode == 0, err.decode()
    assert out.startswith(b"indexed 4 opportunities, 0 bad line(s)")
    found = tilts("search", "reading buddy", env=env)
    assert b"4 results" in found.stdout


def test_index_stdin_reports_bad_lines(tmp_path: Path) -> None:
    good = tilts("normalize", "--stdin", stdin=raw_event(1).to_bytes() + b"\n", env=embedded_env(tmp_path)).stdout
    lines = good + b'{"id": "x"}\n\nnot json\n'
    proc = tilts("index", "--stdin", stdin=lines, env=embedded_env(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        "<stdin>:2: field 'cluster_id': Field required (and 5 more)",
        "<stdin>:4: invalid JSON: Expecting value at 0",
    ]
    assert proc.stdout.startswith(b"indexed 1 opportunities, 2 bad line(s)")


# ----------------------------------------------------------------------- Kafka


def kafka_env(tmp_path: Path, servers: str, unique: str) -> dict[str, str]:
    env = embedded_env(tmp_path)
    env.update(KAFKA_BOOTSTRAP_SERVERS=servers, TILTS_TOPIC_PREFIX=f"{unique}.")
    return env


@pytest.mark.kafka
def test_import_to_kafka_read_back_with_kafka_python(tmp_path: Path, kafka_servers: str, unique: str) -> None:
    from kafka import KafkaConsumer

    dump = tmp_path / "listings.csv"
    dump.write_bytes(CSV_TEXT)
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps(MAPPING))
    proc = tilts("import", str(dump), "--mapping", str(mapping), env=kafka_env(tmp_path, kafka_servers, unique))
    assert proc.returncode == 1  # the four bad records
    assert b"2 published to opportunities.raw.v1, 4 bad" in proc.stdout

    consumer = KafkaConsumer(f"{unique}.{RAW_TOPIC}", bootstrap_servers=kafka_servers,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=10_000, group_id=f"{unique}-reader")
    try:
        records = []
        for record in consumer:
            records.append(record)
            if len(records) == 2:
                break
    finally:
        consumer.close()
    assert sorted(r.key for r in records) == [b"csv-src:1", b"csv-src:3"]
    assert all(dict(r.headers)["content-type"] == b"application/json" for r in records)
    titles = sorted(parse_event(RawOpportunity, r.value).title for r in records)
    assert titles == ["First", "Third"]


@pytest.mark.kafka
def test_wait_on_kafka_watches_the_running_workers(tmp_path: Path, kafka_servers: str, unique: str) -> None:
    from pipeline.config import Settings
    from tilts.runtime import BackgroundWorkers

    env = kafka_env(tmp_path, kafka_servers, unique)
    dump = tmp_path / "listings.jsonl"
    dump.write_text("".join(raw_event(n, source_id="kfile").to_bytes().decode() + "\n" for n in range(1, 21)))

    alone = tilts("import", str(dump), "--wait", "--timeout", "3", env=env)  # nobody is running
    assert alone.returncode == 1
    assert "tilts: timed out after 3s: 20 messages on opportunities.raw.v1 not yet processed by group " \
           "tilts-normalizer (is `tilts normalize` running?)" in alone.stderr.decode()

    settings = Settings(data_dir=tmp_path, topic_prefix=f"{unique}.", KAFKA_BOOTSTRAP_SERVERS=kafka_servers,
                        ELASTICSEARCH_URL=None)
    pipeline = BackgroundWorkers.build(settings)
    pipeline.start()  # what `tilts run` (or `tilts normalize` and `tilts index`) runs
    try:
        proc = tilts("import", str(dump), "--wait", "--timeout", "180", env=env, timeout=240)
    finally:
        pipeline.close()
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"20 of 20 imported listings searchable" in proc.stdout
    assert b"bus=kafka" in proc.stdout
