"""Multilingual search quality, measured on the real corpora (issue 18).

The judged query set lives in ``tests/relevance/`` (``needs.yaml``: information
needs, each asked in several languages, with the rule that decides which
listings answer it; ``README.md``: the method; ``thresholds.toml``: the
issue's targets and today's floor). Relevance is decided here from the
*sources' own fields* (ESC country/town/topics/activity type/dates, the
Hamburg CSV's title, postcode and district, NYC's category and borough), read
straight from the files in ``../shared/data``; never from the normalizer's
output or from search results. The search side loads the same records through
the project's mapping (``bench.corpus``) and the real normalizer into a backend
and asks every phrasing through :func:`search.query.run` (query
understanding), or through ``backend.search`` alone when understanding is not
available (``mode="plain"``).

Metrics per query (``DEPTH`` hits are fetched; hits the rule leaves
*unjudged* are removed, a "condensed list", and the first 10 judged hits
count):

- P@10 = relevant among them / min(10, R), R = relevant open listings
  (counted as duplicate clusters, since collapsed results show a cluster once);
- nDCG@10 with binary gains, ideal = min(10, R) relevant hits.

A need's score is the mean over its phrasings in that language; a language's
score the mean over needs.

Time: listings are open or not as of ``EVAL_NOW`` (the day the ESC data was
gathered, 2026-08-22), both for the judgements (from the source's dates) and
for the normalizer (``normalize(raw, now=EVAL_NOW)``), so the numbers do not
drift with the calendar.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
import time
import tomllib
import unicodedata
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_SET = ROOT / "tests" / "relevance"
EVAL_NOW = datetime(2026, 8, 22, 6, 0, tzinfo=UTC)  # = bench.corpus.FETCHED
DEPTH = 30  # hits fetched per query; the first 10 judged ones count
K = 10
CACHE_FORMAT = 1  # bump when what the cache holds changes

ESC_FILE = "esc-opportunities-2026-08.json"
HAMBURG_FILE = "hamburg-ehrenamt.csv"
NYC_FILE = "nyc-service-volunteer-opportunities.csv"
DATA_FILES = (ESC_FILE, HAMBURG_FILE, NYC_FILE)
SOURCE_IDS = {"esc": "european-youth-portal", "hamburg": "hamburg-freiwilligenagenturen", "nyc": "nyc-service"}
ESC_COUNTRY_FIX = {"EL": "GR", "UK": "GB"}  # EU codes in the ESC data
ESC_PROGRAMME_SUPPORT = frozenset({"accommodation", "food", "travel", "insurance", "allowance"})
ESC_ACTIVITY_TYPES = frozenset({"Individual volunteering", "Volunteering teams"})
LANGUAGES = ("en", "lv", "ru", "uk", "ar", "de")


# ---------------------------------------------------------------- judging


def fold(text: str | None) -> str:
    """Lowercase without diacritics ("Rīga" → "riga", "Ö" → "o"), for judging only."""
    text = unicodedata.normalize("NFKD", (text or "").casefold())
    return "".join(c for c in text if not unicodedata.combining(c)).replace("ß", "ss")


@dataclass
class Record:
    """One source record as the source published it (the fields judging reads)."""

    id: str  # the tilts id the same record gets (opportunity_id(source_id, external_id))
    source: str  # esc, hamburg, nyc
    open: bool
    title: str
    country: str | None = None  # None: unknown
    places: list[str] = field(default_factory=list)  # folded town / district / city names
    topics: list[str] = field(default_factory=list)  # ESC topics, NYC category
    activity_type: str | None = None
    days: int | None = None  # end - start, when the source gives both
    description: str = ""  # folded


def _ham_city(plz: str, ortsteil: str) -> tuple[str | None, list[str]]:
    """(country, places) of a Hamburg CSV row from its postcode and district."""
    plz = plz.strip()
    places = [fold(ortsteil)] if ortsteil.strip() else []
    if re.fullmatch(r"\d{5}", plz):
        n = int(plz)
        if 20095 <= n <= 21149 or 22041 <= n <= 22769:  # the city of Hamburg's postcodes
            places.append("hamburg")
        return "DE", places
    if re.fullmatch(r"\d{4}", plz):
        return None, places  # a Swiss or Austrian postcode: not judged as Germany
    return "DE", places  # no postcode: a Hamburg agency's listing, in Germany


def _days(start: str | None, end: str | None) -> int | None:
    try:
        return (date.fromisoformat(end) - date.fromisoformat(start)).days if start and end else None
    except ValueError:
        return None


def load_records(data: Path) -> dict[str, Record]:
    """Every record of the three source files, keyed by its tilts id."""
    import ast
    import csv

    from pipeline.events import opportunity_id

    today = EVAL_NOW.date().isoformat()
    out: dict[str, Record] = {}
    for o in json.loads((data / ESC_FILE).read_text(encoding="utf-8"))["opportunities"]:
        deadline, end = o.get("deadline"), o.get("end_date")
        rid = opportunity_id(SOURCE_IDS["esc"], str(o["opid"]))
        code = (o.get("country") or "").upper()
        out[rid] = Record(
            id=rid, source="esc", title=o.get("title") or "",
            open=bool((o.get("title") or "").strip()) and (not deadline or deadline >= today)
            and (not end or end >= today),
            country=ESC_COUNTRY_FIX.get(code, code) or None, places=[fold(o.get("town"))],
            topics=list(o.get("topics") or []), activity_type=o.get("activity_type"),
            days=_days(o.get("start_date"), end),
        )
    with (data / HAMBURG_FILE).open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f, delimiter=";"):
            if not row.get("_angebotsId"):
                continue
            rid = opportunity_id(SOURCE_IDS["hamburg"], row["_angebotsId"])
            country, places = _ham_city(row.get("plz") or "", row.get("ortsteil") or "")
            out[rid] = Record(
                id=rid, source="hamburg", title=row.get("angebotsname") or "",
                open=bool((row.get("angebotsname") or "").strip()),  # no dates: listed = open
                country=country, places=places,
                description=fold(re.sub(r"<[^>]+>", " ", row.get("beschreibung") or "")),
            )
    months = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
              "october", "november", "december"]

    def nyc_date(text: str) -> str | None:
        m = re.fullmatch(r"([A-Za-z]+) (\d{1,2}) (\d{4})", (text or "").strip())
        if not m or m[1].lower() not in months:
            return None
        return date(int(m[3]), months.index(m[1].lower()) + 1, int(m[2])).isoformat()

    with (data / NYC_FILE).open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            rid = opportunity_id(SOURCE_IDS["nyc"], row["opportunity_id"])
            places = [fold(row.get("Borough")).strip()]
            try:
                loc = ast.literal_eval(row["locality"]) if row.get("locality") else {}
                places.append(fold(json.loads(loc.get("human_address", "{}")).get("city")))
            except (ValueError, SyntaxError):
                pass
            start, end = nyc_date(row.get("start_date_date", "")), nyc_date(row.get("end_date_date", ""))
            last = end or start
            out[rid] = Record(
                id=rid, source="nyc", title=row.get("title") or "",
                open=bool((row.get("title") or "").strip()) and (last is None or last >= today),
                country="US", places=[p for p in places if p] + ["new york"],
                topics=[row["category_desc"]] if row.get("category_desc") else [],
                days=_days(start, end), description=fold(row.get("summary")),
            )
    return out


def _pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """Keywords (folded, regular expressions; a leading word boundary is implied)."""
    words = [fold(w) for w in words]
    return re.compile(r"(?<![\w])(?:" + "|".join(words) + ")") if words else None


@dataclass
class Need:
    id: str
    kind: str
    description: str
    rule: dict[str, Any]
    queries: dict[str, list[str]]
    _compiled: dict[str, Any] = field(default_factory=dict, repr=False)

    def pattern(self, key: str) -> re.Pattern[str] | None:
        if key not in self._compiled:
            self._compiled[key] = _pattern(self.rule.get(key) or [])
        return self._compiled[key]

    def judge(self, r: Record) -> bool | None:
        """True (answers the need), False (does not) or None (cannot be told
        from the source's fields: unjudged). Criteria are AND-ed."""
        verdicts: list[bool | None] = []
        rule = self.rule
        if "country" in rule:
            verdicts.append(None if r.country is None else r.country in rule["country"])
        if "city" in rule:
            pat = self.pattern("city")
            assert pat is not None
            verdicts.append(None if not r.places else any(pat.search(p) for p in r.places))
        if "theme" in rule:  # topics (ESC/NYC categories) or title keywords
            verdicts.append(self._theme(r))
        if "support" in rule:
            verdicts.append(self._support(r))
        if "max_days" in rule:
            verdicts.append(self._short(r))
        if "activity_type" in rule:
            verdicts.append(r.activity_type in rule["activity_type"])
        if False in verdicts:
            return False
        return None if None in verdicts else True

    def _keywords(self, r: Record, key: str = "keywords") -> bool | None:
        pat = self.pattern(key)
        if pat is None:
            return False
        if pat.search(fold(r.title)):
            return True
        if r.description and pat.search(r.description):
            return None  # named in the description only: it may or may not be about it
        return False

    def _theme(self, r: Record) -> bool | None:
        spec = self.rule["theme"]
        if set(r.topics) & set(spec.get("esc_topics", []) + spec.get("nyc_categories", [])):
            return True
        if "keywords" not in self._compiled:
            self._compiled["keywords"] = _pattern(spec.get("keywords") or [])
        return self._keywords(r)

    def _support(self, r: Record) -> bool | None:
        if r.source == "esc":  # the programme's rules: every ESC volunteering activity covers these
            return r.activity_type in ESC_ACTIVITY_TYPES and set(self.rule["support"]) <= ESC_PROGRAMME_SUPPORT
        # elsewhere no field says it: a listing naming it ("Unterkunft") may offer it or be about it
        # (a refugee shelter), so it is unjudged; one that never names it does not offer it
        return None if self._keywords(r, "support_keywords") is not False else False

    def _short(self, r: Record) -> bool | None:
        if r.source == "esc":
            return r.activity_type == "Volunteering teams" or (
                r.days is not None and r.days <= self.rule["max_days"])
        if r.days is not None:
            return r.days <= self.rule["max_days"]
        return self._keywords(r, "short_keywords")


def load_needs(folder: Path = DEFAULT_SET) -> list[Need]:
    raw = yaml.safe_load((folder / "needs.yaml").read_text(encoding="utf-8"))
    needs = []
    for n in raw["needs"]:
        queries = {lang: [q] if isinstance(q, str) else list(q) for lang, q in n["queries"].items()}
        needs.append(Need(id=n["id"], kind=n["kind"], description=n["need"], rule=n["rule"], queries=queries))
    return needs


def load_thresholds(folder: Path = DEFAULT_SET) -> dict[str, dict[str, float]]:
    return tomllib.loads((folder / "thresholds.toml").read_text(encoding="utf-8"))


# ---------------------------------------------------------------- the corpus


def _file_hashes(paths: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def _code_files() -> list[Path]:
    """What the cached corpus depends on besides the data: the mapping and the normalizer."""
    return sorted([ROOT / "bench" / "corpus.py", ROOT / "pipeline" / "events.py",
                   *(ROOT / "pipeline" / "normalize").glob("*.py")])


def select(ids: Iterable[str], per_source: int | None) -> set[str]:
    """A deterministic sample: the first ``per_source`` ids of each source by hash
    (None: everything). ESC is always kept whole."""
    chosen: dict[str, list[str]] = defaultdict(list)
    for i in ids:
        chosen[i.rsplit("-", 1)[0]].append(i)
    keep: set[str] = set()
    for source, group in chosen.items():
        if per_source is None or source == SOURCE_IDS["esc"]:
            keep.update(group)
        else:
            keep.update(sorted(group, key=lambda x: hashlib.sha256(x.encode()).hexdigest())[:per_source])
    return keep


def normalized_corpus(data: Path, *, per_source: int | None = None, cache: Path | None = None,
                      log: Callable[[str], None] = lambda _: None) -> list[Any]:
    """The three corpora mapped by ``bench.corpus`` (as their spiders would) and
    normalized at ``EVAL_NOW``, clustered like the normalizer does; cached on
    disk under a key of the data files', the mapping's and the normalizer's
    hashes."""
    from pipeline.events import InvalidEvent, Opportunity
    from pipeline.normalize import normalize
    from pipeline.normalize.dedupe import Deduplicator
    from pipeline.normalize.places import cache_dir

    key = hashlib.sha256(json.dumps([
        CACHE_FORMAT, _file_hashes(data / f for f in DATA_FILES), _file_hashes(_code_files()),
        EVAL_NOW.isoformat(), per_source]).encode()).hexdigest()[:24]
    path = (cache or cache_dir() / "relevance") / f"corpus-{key}.jsonl"
    if path.exists():
        log(f"normalized corpus from cache {path}")
        # split on "\n" only: descriptions may hold U+2028 and other separators that splitlines() breaks on
        return [Opportunity.model_validate_json(line) for line in path.read_text(encoding="utf-8").split("\n")
                if line]
    if str(ROOT) not in sys.path:  # bench/ is a folder of the repository, not an installed package
        sys.path.insert(0, str(ROOT))
    from bench import corpus

    started = time.perf_counter()
    saved, corpus.DATA = corpus.DATA, data
    try:
        events = [*corpus._esc(), *corpus._hamburg(), *corpus._nyc()]
    finally:
        corpus.DATA = saved
    from pipeline.events import opportunity_id

    keep = select((opportunity_id(e.source_id, e.external_id) for e in events), per_source)
    opps = []
    for e in events:
        if opportunity_id(e.source_id, e.external_id) in keep:
            try:
                opps.append(normalize(e, now=EVAL_NOW))
            except InvalidEvent:
                pass  # no title: never a listing
    dedupe = Deduplicator()
    placed = [dedupe.place(o) for o in opps]
    dedupe.flush()
    opps = [dedupe.apply(o) for o in placed]
    dedupe.close()
    log(f"normalized {len(opps)} listings in {time.perf_counter() - started:.1f}s")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
    tmp.write_text("".join(o.model_dump_json() + "\n" for o in opps), encoding="utf-8")
    tmp.replace(path)
    return opps


# ---------------------------------------------------------------- measuring


def precision_at_k(rels: list[bool], n_relevant: int, k: int = K) -> float:
    """Relevant among the first k judged hits over min(k, n_relevant)."""
    return sum(rels[:k]) / min(k, n_relevant)


def ndcg_at_k(rels: list[bool], n_relevant: int, k: int = K) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, r in enumerate(rels[:k]) if r)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(k, n_relevant)))
    return dcg / ideal


@dataclass
class QueryScore:
    need: str
    kind: str
    language: str
    q: str
    relevant: int  # R
    p10: float
    ndcg10: float
    unjudged: int  # unjudged hits skipped before the 10th judged one
    total: int
    ms: float
    understood: dict[str, Any] | None = None
    relaxed: list[str] = field(default_factory=list)
    top: list[tuple[str, bool | None]] = field(default_factory=list)


@dataclass
class Report:
    backend: str
    mode: str  # query (search.query.run) or plain (backend.search)
    documents: int
    scores: list[QueryScore]
    skipped: list[str]  # needs with no relevant open listing in the index
    seconds: dict[str, float]

    def by_language(self) -> dict[str, dict[str, float]]:
        """language → p10, ndcg10 (mean over needs of the mean over phrasings), needs, queries."""
        per: dict[str, dict[str, list[QueryScore]]] = defaultdict(lambda: defaultdict(list))
        for s in self.scores:
            per[s.language][s.need].append(s)
        out = {}
        for lang in sorted(per, key=lambda x: (LANGUAGES.index(x) if x in LANGUAGES else 99, x)):
            needs = per[lang].values()
            out[lang] = {
                "p10": sum(sum(s.p10 for s in q) / len(q) for q in needs) / len(needs),
                "ndcg10": sum(sum(s.ndcg10 for s in q) / len(q) for q in needs) / len(needs),
                "needs": len(needs), "queries": sum(len(q) for q in needs),
            }
        return out

    def by_kind(self) -> dict[str, dict[str, float]]:
        per: dict[str, list[QueryScore]] = defaultdict(list)
        for s in self.scores:
            per[s.kind].append(s)
        return {k: {"p10": sum(s.p10 for s in v) / len(v), "ndcg10": sum(s.ndcg10 for s in v) / len(v),
                    "queries": len(v)} for k, v in sorted(per.items())}

    def mean(self) -> dict[str, float]:
        langs = self.by_language()
        return {m: sum(v[m] for v in langs.values()) / len(langs) for m in ("p10", "ndcg10")} if langs else {}

    def latency_ms(self) -> dict[str, float]:
        ms = sorted(s.ms for s in self.scores)
        return {"p50": ms[len(ms) // 2], "p95": ms[min(len(ms) - 1, int(len(ms) * 0.95))]} if ms else {}

    def check(self, limits: dict[str, float]) -> list[str]:
        """What falls below ``limits`` (keys min_p10, min_p10_en, max_gap_to_en)."""
        langs = self.by_language()
        failures = []
        en = langs.get("en", {}).get("p10")
        for lang, v in langs.items():
            if v["p10"] < limits["min_p10"] - 1e-9:
                failures.append(f"{self.backend}: {lang} P@10 {v['p10']:.3f} < {limits['min_p10']}")
            if en is not None and lang != "en" and en - v["p10"] > limits["max_gap_to_en"] + 1e-9:
                failures.append(f"{self.backend}: {lang} P@10 {v['p10']:.3f} is {en - v['p10']:.3f} below "
                                f"English (> {limits['max_gap_to_en']})")
        if en is not None and en < limits["min_p10_en"] - 1e-9:
            failures.append(f"{self.backend}: en P@10 {en:.3f} < {limits['min_p10_en']}")
        return failures

    def table(self, thresholds: dict[str, dict[str, float]] | None = None) -> str:
        langs = self.by_language()
        via = "search.query.run" if self.mode == "query" else "backend.search"
        lines = [(f"backend {self.backend}, {self.mode} ({via}), {self.documents} listings indexed, "
                  f"{len({s.need for s in self.scores})} needs, {len(self.scores)} queries"),
                 f"{'language':<10}{'P@10':>8}{'nDCG@10':>9}{'needs':>7}{'queries':>9}"]
        for lang, v in langs.items():
            lines.append(f"{lang:<10}{v['p10']:>8.3f}{v['ndcg10']:>9.3f}{v['needs']:>7}{v['queries']:>9}")
        mean = self.mean()
        if mean:
            lines.append(f"{'mean':<10}{mean['p10']:>8.3f}{mean['ndcg10']:>9.3f}")
        lines.append("by kind: " + ", ".join(f"{k} {v['p10']:.2f}/{v['ndcg10']:.2f}"
                                             for k, v in self.by_kind().items()) + "  (P@10/nDCG@10)")
        lat = self.latency_ms()
        unjudged = sum(s.unjudged for s in self.scores)
        lines.append(f"per query p50 {lat.get('p50', 0):.1f} ms, p95 {lat.get('p95', 0):.1f} ms; "
                     f"unjudged hits skipped: {unjudged}; "
                     + ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items()))
        if self.skipped:
            lines.append("needs without a relevant open listing here (not scored): " + ", ".join(self.skipped))
        if thresholds:
            for name in ("floor", "target"):
                limits = thresholds.get(name)
                if limits:
                    failures = self.check(limits)
                    lines.append(f"{name} (P@10 ≥ {limits['min_p10']}, en ≥ {limits['min_p10_en']}, "
                                 f"gap to en ≤ {limits['max_gap_to_en']}): "
                                 + ("met" if not failures else "NOT met: " + "; ".join(failures)))
        return "\n".join(lines)

    def worst(self, n: int = 15) -> str:
        rows = sorted(self.scores, key=lambda s: (s.p10, s.ndcg10))[:n]
        return "\n".join(f"{s.p10:.2f} {s.ndcg10:.2f} R={s.relevant:<4} {s.language} {s.need}: {s.q!r}"
                         f" understood={json.dumps(s.understood, ensure_ascii=False) if s.understood else '-'}"
                         f"{' relaxed=' + ','.join(s.relaxed) if s.relaxed else ''}"
                         for s in rows)


def understanding_available() -> bool:
    try:
        import search.understand  # noqa: F401
    except ImportError:
        return False
    return True


def evaluate(backend: Any, docs: list[Any], records: dict[str, Record], needs: list[Need], *,
             mode: str = "auto", languages: Iterable[str] | None = None,
             seconds: dict[str, float] | None = None) -> Report:
    """Run every (need, language, phrasing) on ``backend`` (already loaded with
    ``docs``) and score it against the judgements of ``records``."""
    from search.backends import SearchRequest

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
                scores.append(QueryScore(
                    need=need.id, kind=need.kind, language=lang, q=q, relevant=relevant,
                    p10=precision_at_k(judged, relevant), ndcg10=ndcg_at_k(judged, relevant),
                    unjudged=unjudged, total=result.total, ms=ms,
                    understood=getattr(result, "understood", None), relaxed=list(getattr(result, "relaxed", [])),
                    top=top))
    times = dict(seconds or {})
    times["queries"] = time.perf_counter() - started
    return Report(backend=getattr(backend, "name", type(backend).__name__), mode=mode, documents=len(docs),
                  scores=scores, skipped=skipped, seconds=times)


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
            if backend_kind == "elasticsearch":
                backend.drop()
            backend.close()
