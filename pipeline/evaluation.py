"""Measure the normalizer against the hand-labelled gold set (``tests/gold``).

Every ``*.yaml`` file holds ``defaults`` (RawOpportunity fields shared by its
records) and ``records``, each with a ``raw`` RawOpportunity and the
``expected`` fields a careful reader extracts (see ``tests/gold/README.md``).
``evaluate(folder)`` normalizes every record at its own crawl time, clusters
them all for duplicates, and scores each field:

- precision: of the values the normalizer produced, the share that are right;
- recall: of the values the gold set holds, the share the normalizer produced.

Scalar fields count one value per record (``None`` means "not stated"); list
fields (themes, required languages, support flags) count each element;
duplicates count pairs of records. ``thresholds.toml`` in the same folder sets
the minimum precision and recall per field.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import yaml

from pipeline.events import Opportunity, RawOpportunity
from pipeline.normalize import normalize
from pipeline.normalize.dedupe import Deduplicator
from pipeline.normalize.text import fold

SCALARS = ("language", "country", "city", "start_date", "end_date", "deadline", "duration_class",
           "activity_type", "age_min", "age_max", "remote")
GROUPS = {"dates": ("start_date", "end_date"), "age_range": ("age_min", "age_max")}
SETS = ("themes", "required_languages", "support")


@dataclass
class Score:
    true_pos: int = 0
    predicted: int = 0
    expected: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.true_pos / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.true_pos / self.expected if self.expected else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, other: Score) -> None:
        self.true_pos += other.true_pos
        self.predicted += other.predicted
        self.expected += other.expected
        self.errors += other.errors


@dataclass
class GoldRecord:
    id: str
    raw: RawOpportunity
    expected: dict[str, Any]


def load_gold(folder: Path) -> list[GoldRecord]:
    records: list[GoldRecord] = []
    for path in sorted(folder.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        defaults = doc.get("defaults", {})
        for item in doc.get("records", []):
            raw = {"crawl_id": f"gold-{path.stem}", **defaults, **item["raw"]}
            records.append(GoldRecord(
                id=str(item["id"]),
                raw=RawOpportunity.model_validate(raw),
                expected=dict(item.get("expected") or {}),
            ))
    return records


def _language_set(items: list[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
    """Language requirements as (language, level, required, alternatives):
    ``alternatives`` are the other languages of its group (the fourth item of
    a label, the event's ``one_of``), so the numbers themselves never count."""
    groups: dict[Any, set[str]] = {}
    for lang, _level, required, one_of in items:
        if required and one_of is not None:
            groups.setdefault(one_of, set()).add(lang)
    return {(lang, level, required,
             tuple(sorted(groups[one_of] - {lang})) if required and one_of is not None else ())
            for lang, level, required, one_of in items}


def predicted_fields(opp: Opportunity) -> dict[str, Any]:
    place = opp.locations[0] if opp.locations else None
    return {
        "language": opp.language,
        "country": place.country if place else None,
        "city": place.city if place else None,
        "start_date": opp.start_date.isoformat() if opp.start_date else None,
        "end_date": opp.end_date.isoformat() if opp.end_date else None,
        "deadline": opp.deadline.isoformat() if opp.deadline else None,
        "duration_class": None if opp.duration_class.value == "unknown" else opp.duration_class.value,
        "activity_type": opp.activity_type.value,
        "age_min": opp.eligibility.age_min,
        "age_max": opp.eligibility.age_max,
        "remote": True if opp.remote else None,
        "themes": {t.value for t in opp.themes},
        "required_languages": _language_set([(r.language, r.level, r.required, r.one_of)
                                             for r in opp.eligibility.languages]),
        "support": {(k, v) for k, v in opp.support.model_dump().items() if v is not None},
    }


def expected_fields(expected: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {name: expected.get(name) for name in SCALARS}
    for name in ("start_date", "end_date", "deadline"):
        if out[name] is not None:
            out[name] = str(out[name])
    out["themes"] = set(expected.get("themes") or ["other"])
    out["required_languages"] = _language_set([(*x, None)[:4] for x in expected.get("required_languages") or []])
    out["support"] = {(k, v) for k, v in (expected.get("support") or {}).items()}
    return out


def _same(name: str, got: Any, want: Any) -> bool:
    if name == "city":
        return fold(str(got)) == fold(str(want))
    return got == want


def score_record(record_id: str, got: dict[str, Any], want: dict[str, Any]) -> dict[str, Score]:
    scores: dict[str, Score] = {}
    for name in SCALARS:
        s = Score(predicted=int(got[name] is not None), expected=int(want[name] is not None))
        if got[name] is not None and want[name] is not None and _same(name, got[name], want[name]):
            s.true_pos = 1
        elif got[name] != want[name]:
            s.errors.append(f"{record_id}: {name} = {got[name]!r}, expected {want[name]!r}")
        scores[name] = s
    for name in SETS:
        hits = got[name] & want[name]
        s = Score(len(hits), len(got[name]), len(want[name]))
        if got[name] != want[name]:
            s.errors.append(f"{record_id}: {name} extra {sorted(got[name] - want[name], key=str)}"
                            f" missing {sorted(want[name] - got[name], key=str)}")
        scores[name] = s
    for group, members in GROUPS.items():
        total = Score()
        for member in members:
            total.add(Score(scores[member].true_pos, scores[member].predicted,
                            scores[member].expected))
        scores[group] = total
    return scores


def duplicate_score(records: list[GoldRecord], opps: dict[str, Opportunity]) -> Score:
    dedupe = Deduplicator()
    for opp in opps.values():
        dedupe.add(opp)
    cluster = {r.id: dedupe.apply(opps[r.id]).cluster_id for r in records}
    label = {r.id: r.expected.get("dup") for r in records}
    predicted = {frozenset(p) for p in combinations(cluster, 2) if cluster[p[0]] == cluster[p[1]]}
    expected = {frozenset(p) for p in combinations(label, 2)
                if label[p[0]] is not None and label[p[0]] == label[p[1]]}
    s = Score(len(predicted & expected), len(predicted), len(expected))
    s.errors += [f"duplicates: false pair {sorted(p)}" for p in predicted - expected]
    s.errors += [f"duplicates: missed pair {sorted(p)}" for p in expected - predicted]
    return s


@dataclass
class Report:
    scores: dict[str, Score]
    thresholds: dict[str, float]
    records: int
    languages: int

    def failures(self) -> list[str]:
        out = []
        for name, minimum in self.thresholds.items():
            s = self.scores[name]
            value = s.f1 if name == "duplicates" else min(s.precision, s.recall)
            if value < minimum:
                out.append(f"{name}: {value:.3f} < {minimum:.2f}")
        return out

    def table(self) -> str:
        lines = [f"gold set: {self.records} records in {self.languages} languages", "",
                 f"{'field':<20}{'precision':>10}{'recall':>8}{'f1':>7}{'support':>9}{'min':>6}"]
        for name, s in self.scores.items():
            minimum = self.thresholds.get(name)
            lines.append(f"{name:<20}{s.precision:>10.3f}{s.recall:>8.3f}{s.f1:>7.3f}"
                         f"{s.expected:>9}{'' if minimum is None else f'{minimum:.2f}':>6}")
        return "\n".join(lines)


def evaluate(folder: Path) -> Report:
    records = load_gold(folder)
    opps = {r.id: normalize(r.raw, now=r.raw.fetched_at) for r in records}
    totals: dict[str, Score] = {}
    for r in records:
        per = score_record(r.id, predicted_fields(opps[r.id]), expected_fields(r.expected))
        for name, s in per.items():
            totals.setdefault(name, Score()).add(s)
    totals["duplicates"] = duplicate_score(records, opps)
    thresholds_file = folder / "thresholds.toml"
    thresholds: dict[str, float] = {}
    if thresholds_file.exists():
        thresholds = {k: float(v) for k, v in
                      tomllib.loads(thresholds_file.read_text())["minimum"].items()}
    unknown = set(thresholds) - set(totals)
    if unknown:
        raise ValueError(f"{thresholds_file}: unknown fields {sorted(unknown)}")
    languages = len({r.expected.get("language") for r in records})
    return Report(totals, thresholds, len(records), languages)
