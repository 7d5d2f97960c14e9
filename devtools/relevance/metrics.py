"""Scores: P@10 and nDCG@10 per query, and the report over languages and
kinds of need with its thresholds check."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

K = 10


LANGUAGES = ("en", "lv", "ru", "uk", "ar", "de")


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
