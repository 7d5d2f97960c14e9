"""Commands about data: import a file, extract a saved page, evaluate
normalization, measure search relevance, search, preview digests, dead letters."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from pipeline.bus import Bus, make_bus
from pipeline.config import Settings
from search.backends import SearchRequest
from tilts import importer as imp
from tilts.shell import app, dlq_app, fail, load_settings


@app.command("import")
def import_file(
    file: Annotated[str, typer.Argument(metavar="FILE", help="RawOpportunity JSON lines, or CSV (with --mapping); "
                                                             "- for stdin; .gz is read as well.")],
    fmt: Annotated[str | None, typer.Option("--format", help="jsonl or csv (default: from the file name; "
                                                                "stdin: jsonl, or csv with --mapping).")] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", metavar="MAP.yaml|json",
                                                    help="Which columns make which fields (docs/import.md).")] = None,
    source_id: Annotated[str | None, typer.Option("--source-id", help="source_id of records without one "
                                                                         "(replaces the mapping's).")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Until searchable: embedded, run the normalizer and "
                                                      "indexer here; Kafka, wait for the running ones.")] = False,
    timeout: Annotated[float, typer.Option(help="With --wait on Kafka: seconds to wait for the workers.")] = 600.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and report; publish nothing.")] = False,
    rejects: Annotated[Path | None, typer.Option("--rejects", metavar="FILE",
                                                    help="Copy bad records here (as they were) to fix and "
                                                         "import again.")] = None,
) -> None:
    """Publish a file of listings to the raw topic, one clear line per bad record
    (FILE:LINE: reason); exit 1 if any record was bad."""
    if wait and dry_run:
        raise fail("--wait and --dry-run exclude each other")
    settings = load_settings()
    try:
        rules = imp.Mapping.load(mapping) if mapping else None
        imp.guess_format(file, fmt, rules)  # a wrong --format or name fails before anything is opened
    except imp.ImportFailed as exc:
        raise fail(str(exc)) from exc
    bus = None if dry_run else make_bus(settings)
    rejected = rejects.open("wb") if rejects else None
    try:
        if bus is not None:
            bus.ensure_topics()
        report = _publish(file, fmt, rules, imp.Importer(
            bus, source_id=source_id, rejects=rejected,
            retry_seconds=float(os.environ.get("TILTS_PUBLISH_RETRY_SECONDS", "120"))))
        typer.echo(report.summary())
        if rejected is not None and rejects is not None:
            rejected.close()
            if report.bad:
                typer.echo(f"{report.bad} bad record(s) copied to {rejects}", err=True)
            else:
                rejects.unlink(missing_ok=True)
        if wait and bus is not None and report.listings:
            report.bad += _wait_until_searchable(settings, bus, report, timeout)
    finally:
        if rejected is not None and not rejected.closed:
            rejected.close()
        if bus is not None:
            bus.close()
    if report.bad:
        raise typer.Exit(code=1)


def _publish(file: str, fmt: str | None, rules: imp.Mapping | None, importer: imp.Importer) -> imp.ImportReport:
    """Run the import with a progress bar on the terminal."""
    size = None if file == imp.STDIN or not Path(file).is_file() else Path(file).stat().st_size
    with imp.Bars() as bars:
        importer.say = bars.say

        def progress(position: int, records: int) -> None:
            bars.update("importing", position, size, f"{records} records")

        try:
            report = importer.run(file, fmt=fmt, mapping=rules, progress=progress)
        except imp.ImportFailed as exc:
            raise fail(str(exc)) from exc
        bars.update("importing", size or 0, size, f"{report.records} records")
    return report


def _wait_until_searchable(settings: Settings, bus: Bus, report: imp.ImportReport, timeout: float) -> int:
    """Until the imported listings are searchable; how many never became so."""
    try:
        with imp.Bars() as bars:
            if settings.kafka_bootstrap_servers:
                bars.say(f"waiting for the running normalizer and indexer (up to {timeout:.0f}s) ...")
            waited = imp.wait_until_searchable(settings, bus, report, timeout=timeout, bars=bars)
    except imp.WaitTimeout as exc:
        raise fail(str(exc)) from exc
    total = len(report.listings)
    typer.echo(f"{total - len(waited.missing)} of {total} imported listings searchable "
               f"after {waited.seconds:.1f}s more ({settings.mode})")
    for line in waited.missing:
        typer.echo(line, err=True)
    return len(waited.missing)


@app.command()
def evaluate(
    folder: Annotated[Path, typer.Argument(help="Gold set folder (YAML files + thresholds.toml).")]
    = Path("tests/gold"),
    errors: Annotated[bool, typer.Option("--errors", help="List every disagreement too.")] = False,
) -> None:
    """Score normalization against a labelled gold set; exit 1 below the thresholds."""
    from pipeline.evaluation import evaluate as run_evaluation

    if not folder.is_dir():
        raise fail(f"{folder}: not a folder")
    report = run_evaluation(folder)
    typer.echo(report.table())
    if errors:
        typer.echo("")
        for name, score in report.scores.items():
            if name not in ("dates", "age_range"):
                for line in score.errors:
                    typer.echo(line)
    failures = report.failures()
    if failures:
        typer.echo("\nbelow threshold: " + "; ".join(failures), err=True)
        raise typer.Exit(code=1)
    typer.echo("\nall thresholds met")


@app.command()
def extract(
    file: Annotated[Path, typer.Argument(help="A saved page, feed, calendar or API response.")],
    kind: Annotated[str | None, typer.Option(
        "--kind", help="schemaorg, sitemap, feed, wordpress, tribe, ical, eyp, listing, unv, "
                       "volunteer_connector, doit, idealist (default: the --source entry's spider)")] = None,
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="The URL the file was fetched from (default: the source's first start URL, "
                           "else http://localhost/).")] = None,
    options: Annotated[str | None, typer.Option(help="JSON options (for listing: the selectors object); "
                                                        "laid over the source's.")] = None,
    source_id: Annotated[str | None, typer.Option(
        "--source", help="A registry source: its kind, options or selectors and its defaults (programme, "
                         "language, country, attribution) apply, as in a crawl.")] = None,
) -> None:
    """Run one spider kind's extraction on a saved response; print RawOpportunity JSON lines."""
    from crawlers.saved_response import SavedResponseError, read_saved_response

    try:
        opts = json.loads(options) if options else None
    except ValueError as exc:
        raise fail(f"--options is not JSON: {exc}") from exc
    if opts is not None and not isinstance(opts, dict):
        raise fail("--options must be a JSON object")
    try:
        raws, errors = read_saved_response(file.read_bytes(), kind=kind, base_url=base_url, options=opts,
                                           source_id=source_id)
    except SavedResponseError as exc:
        raise fail(str(exc)) from exc
    for raw in raws:
        typer.echo(raw.model_dump_json(exclude_none=True))
    for message in errors:
        typer.echo(f"error: {message}", err=True)
    if errors:
        raise typer.Exit(code=1)


@app.command()
def search(
    query: Annotated[str, typer.Argument()],
    country: Annotated[list[str] | None, typer.Option()] = None,
    size: Annotated[int, typer.Option(min=1, max=100)] = 10,
) -> None:
    """Search the index from the terminal."""
    from search.backends import make_backend

    backend = make_backend(load_settings())
    backend.setup()
    from search.query import run

    result = run(backend.search, SearchRequest(q=query, country=[c.upper() for c in country or []], size=size))
    typer.echo(f"{result.total} results")
    if result.understood:
        typer.echo("understood: " + json.dumps(result.understood, ensure_ascii=False)
                   + (f"; relaxed: {', '.join(result.relaxed)}" if result.relaxed else ""))
    for hit in result.hits:
        o = hit.opportunity
        loc = o["locations"][0] if o.get("locations") else {}
        where = ", ".join(filter(None, [loc.get("city"), loc.get("country")]))
        typer.echo(f"- {o['title']}  [{where}]  {o['url']}")


@app.command()
def digest(
    preview: Annotated[str | None, typer.Option(
        "--preview", metavar="EMAIL", help="Render this subscriber's next digest without sending.")] = None,
    html: Annotated[bool, typer.Option("--html", help="With --preview: print the HTML part.")] = False,
    send_due: Annotated[bool, typer.Option("--send-due", help="Send every due digest now.")] = False,
) -> None:
    """Weekly/daily digests: preview one subscriber's, or send the due ones now."""
    from search.backends import make_backend
    from storage.db import connect, utcnow
    from subscriptions.digest import Subscriptions, send_due_digests

    settings = load_settings()
    engine = connect(settings.db_url)
    if send_due:
        outcomes = send_due_digests(settings, engine)
        typer.echo(f"{len(outcomes)} due: " + ", ".join(f"{k[:8]}… {v}" for k, v in outcomes.items()))
        return
    if not preview:
        raise fail("give --preview EMAIL or --send-due")
    subs = Subscriptions(settings, engine)
    found = subs.by_email(preview)
    if not found:
        raise fail(f"no subscription for {preview}")
    backend = make_backend(settings)
    try:
        for sub in found:
            built = subs.build(sub, backend, utcnow())
            message = subs.render(built)
            state = "confirmed" if sub["confirmed_at"] else "not confirmed (nothing is sent)"
            typer.echo(f"# subscription {sub['id']} ({sub['frequency']}, {sub['lang']}, {state}); "
                       f"period {built.period}; {len(built.items)} items")
            typer.echo(f"Subject: {message['Subject']}\n")
            body = message.get_body(("html" if html else "plain",))
            typer.echo(body.get_content() if body is not None else "(no such part)")
    finally:
        backend.close()


@app.command()
def relevance(
    backend: Annotated[str, typer.Option(help="sqlite (a temporary embedded index) or elasticsearch "
                                              "(a throw-away alias on ELASTICSEARCH_URL).")] = "sqlite",
    data: Annotated[Path | None, typer.Option(help="Folder with the real corpora "
                                                      "(default ../shared/data next to the repository).")] = None,
    folder: Annotated[Path | None, typer.Option(help="Judged query set (needs.yaml, thresholds.toml; "
                                                        "default tests/relevance).")] = None,
    mode: Annotated[str, typer.Option(help="query: through search.query.run (understanding); plain: "
                                           "backend.search alone; auto: query when available.")] = "auto",
    sample: Annotated[int | None, typer.Option(help="At most this many Hamburg and NYC records each "
                                                       "(chosen by hash; ESC always whole).")] = None,
    es_url: Annotated[str | None, typer.Option(help="Elasticsearch URL (default ELASTICSEARCH_URL).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail below the issue's targets, not only the floor.")]
    = False,
    worst: Annotated[int, typer.Option(help="Also list the N worst queries.")] = 0,
) -> None:
    """Multilingual search quality on the real corpora: P@10 and nDCG@10 per language; exit 1 below
    the floor of tests/relevance/thresholds.toml (--strict: below the issue's targets)."""
    from devtools import relevance as rel

    if backend not in ("sqlite", "elasticsearch"):
        raise fail(f"--backend must be sqlite or elasticsearch, not {backend!r}")
    if mode not in ("auto", "query", "plain"):
        raise fail(f"--mode must be auto, query or plain, not {mode!r}")
    data = data or rel.DEFAULT_DATA
    folder = folder or rel.DEFAULT_SET
    missing = [name for name in rel.DATA_FILES if not (data / name).is_file()]
    if missing:
        raise fail(f"{data}: missing {', '.join(missing)}")
    es_url = es_url or os.environ.get("ELASTICSEARCH_URL")
    if backend == "elasticsearch" and not es_url:
        raise fail("--backend elasticsearch needs ELASTICSEARCH_URL or --es-url")
    if mode == "query" and not rel.understanding_available():
        raise fail("--mode query needs search.understanding, which is not importable")
    report = rel.run_relevance(
        backend_kind=backend, data=data, folder=folder, es_url=es_url,
        per_source=sample, mode=mode, log=lambda m: typer.echo(m, err=True))
    thresholds = rel.load_thresholds(folder)
    typer.echo(report.table(thresholds))
    if worst:
        typer.echo("\nworst queries (P@10 nDCG@10):\n" + report.worst(worst))
    failures = report.check(thresholds["floor"]) + (report.check(thresholds["target"]) if strict else [])
    if failures:
        typer.echo("\nbelow threshold: " + "; ".join(dict.fromkeys(failures)), err=True)
        raise typer.Exit(code=1)


@contextmanager
def _bus() -> Iterator[Bus]:
    """The configured bus, closed afterwards."""
    from pipeline.bus import make_bus

    bus = make_bus(load_settings())
    try:
        yield bus
    finally:
        bus.close()


@dlq_app.command("list")
def dlq_list(
    stage: Annotated[str | None, typer.Option(help="Only this stage: crawl, normalize, index.")] = None,
    limit: Annotated[int, typer.Option(help="The latest N letters.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="DeadLetter JSON lines.")] = False,
) -> None:
    """List dead letters with their stage and reason (nothing is consumed)."""
    from pipeline.dlq import list_letters

    with _bus() as bus:
        letters = list_letters(bus, stage=stage, limit=limit)
    for letter in letters:
        if as_json:
            typer.echo(letter.model_dump_json())
        else:
            typer.echo(f"{letter.failed_at:%Y-%m-%d %H:%M:%S} {letter.stage:9} {letter.key or '-':40.40} "
                       f"{letter.error_class}: {letter.error_message[:120]}")
    if not as_json:
        typer.echo(f"{len(letters)} dead letter(s)")


@dlq_app.command("replay")
def dlq_replay(
    stage: Annotated[str | None, typer.Option(help="Only this stage: crawl, normalize, index.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be re-driven.")] = False,
) -> None:
    """Send dead letters back to their original topics, each once, after a fix."""
    from pipeline.dlq import replay

    with _bus() as bus:
        letters = replay(bus, stage=stage, dry_run=dry_run)
    verb = "would re-drive" if dry_run else "re-drove"
    typer.echo(f"{verb} {len(letters)} dead letter(s)")
