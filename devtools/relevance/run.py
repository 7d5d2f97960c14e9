"""Running the judged queries on a backend loaded with the corpus, and scoring them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from devtools.relevance.corpus import normalized_corpus
from devtools.relevance.judgments import DEFAULT_SET, Need, load_needs
from devtools.relevance.metrics import K, QueryScore, Report, ndcg_at_k, precision_at_k
from devtools.relevance.records import DEFAULT_DATA, Record, load_records

DEPTH = 30  # hits fetched per query; the first 10 judged ones count


def understanding_available() -> bool:
    try:
        import search.understanding  # noqa: F401
    except ImportError:
        return False
    return True


def evaluate(backend: Any, docs: list[Any], records: dict[str, Record], needs: list[Need], *,
             mode: str = "auto", languages: Iterable[str] | None = None,
             seconds: dict[str, float] | None = None) -> Report:
    """Run every (need, language, phrasing) on ``backend`` (already loaded with
    ``docs``) and score it against the judgements of ``records``."""
    from search.request import SearchRequest

    if mode == "auto":
        mode = "query" if understanding_available() else "plain"
    if mode == "query":
        from search.query import run

        def search(req: SearchRequest) -> Any:
            return run(backend.search, req)
    else:
        search = backend.search
    wanted = set(languages) if languages else None
    indexed = {d.id: d for d in docs}
    open_clusters: dict[str, str] = {d.id: d.cluster_id for d in docs if d.status.value == "open"}
    scores: list[QueryScore] = []
    skipped: list[str] = []
    started = time.perf_counter()
    for need in needs:
        verdict = {i: need.judge(r) for i, r in records.items() if i in indexed}
        relevant = len({open_clusters[i] for i, v in verdict.items()
                        if v and i in open_clusters and records[i].open})
        if relevant == 0:
            skipped.append(need.id)
            continue
        for lang, phrasings in need.queries.items():
            if wanted is not None and lang not in wanted:
                continue
            for q in phrasings:
                t = time.perf_counter()
                result = search(SearchRequest(q=q, size=DEPTH))
                ms = 1000 * (time.perf_counter() - t)
                scores.append(_score(need, lang, q, relevant, result, ms, verdict, records))
    times = dict(seconds or {})
    times["queries"] = time.perf_counter() - started
    return Report(backend=getattr(backend, "name", type(backend).__name__), mode=mode, documents=len(docs),
                  scores=scores, skipped=skipped, seconds=times)


def _score(need: Need, lang: str, q: str, relevant: int, result: Any, ms: float,
           verdict: dict[str, bool | None], records: dict[str, Record]) -> QueryScore:
    """One phrasing's score: its first ``K`` judged hits (unjudged ones skipped)."""
    judged: list[bool] = []
    top: list[tuple[str, bool | None]] = []
    unjudged = 0
    for hit in result.hits:
        v = verdict.get(hit.id)
        if hit.id in records and not records[hit.id].open:
            v = False  # closed at the source: never an answer
        if len(top) < K:
            top.append((hit.opportunity.get("title", ""), v))
        if len(judged) >= K:
            break
        if v is None:
            unjudged += 1
            continue
        judged.append(v)
    return QueryScore(
        need=need.id, kind=need.kind, language=lang, q=q, relevant=relevant,
        p10=precision_at_k(judged, relevant), ndcg10=ndcg_at_k(judged, relevant),
        unjudged=unjudged, total=result.total, ms=ms,
        understood=getattr(result, "understood", None), relaxed=list(getattr(result, "relaxed", [])),
        top=top)


def load_backend(backend: Any, docs: list[Any], batch: int = 500) -> None:
    """Index ``docs``. SQLite is filled the way ``tilts reindex`` fills it (one
    transaction, then ANALYZE): filled by ``upsert_many`` alone, its planner
    has no statistics and runs the FTS match once per open listing (about 2 s
    per text query at 4,000 listings instead of milliseconds)."""
    backend.setup()
    if getattr(backend, "name", "") == "sqlite":
        backend.rebuild(docs)
        return
    for i in range(0, len(docs), batch):
        rejected = backend.upsert_many(docs[i:i + batch])
        if rejected:
            raise RuntimeError(f"{len(rejected)} documents rejected, e.g. {rejected[0]}")
    backend.refresh()


def run_relevance(*, backend_kind: str = "sqlite", data: Path = DEFAULT_DATA, folder: Path = DEFAULT_SET,
                  es_url: str | None = None, per_source: int | None = None, mode: str = "auto",
                  workdir: Path | None = None, log: Callable[[str], None] = lambda _: None) -> Report:
    """Load the corpora into a fresh backend (a temporary SQLite file, or a
    throw-away alias on Elasticsearch), evaluate, clean up."""
    import tempfile

    from search.backends import open_backend
    from search.backends.elastic import ElasticsearchBackend

    seconds: dict[str, float] = {}
    t = time.perf_counter()
    records = load_records(data)
    needs = load_needs(folder)
    docs = normalized_corpus(data, per_source=per_source, log=log)
    seconds["corpus"] = time.perf_counter() - t
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        if backend_kind == "elasticsearch":
            if not es_url:
                raise ValueError("--backend elasticsearch needs ELASTICSEARCH_URL (or --es-url)")
            backend = open_backend(es_url, alias=f"tilts-relevance-{uuid.uuid4().hex[:8]}")
        else:
            backend = open_backend(f"sqlite:///{Path(tmp) / 'search.sqlite3'}")
        try:
            t = time.perf_counter()
            load_backend(backend, docs)
            seconds["index"] = time.perf_counter() - t
            log(f"indexed {len(docs)} listings on {backend_kind} in {seconds['index']:.1f}s")
            return evaluate(backend, docs, records, needs, mode=mode, seconds=seconds)
        finally:
            if isinstance(backend, ElasticsearchBackend):  # the throw-away alias goes
                backend.drop()
            backend.close()
