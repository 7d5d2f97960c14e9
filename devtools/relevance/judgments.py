"""The judged query set: information needs with the rule that decides, from a
source record's own fields, which listings answer them; and the thresholds."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devtools.relevance.records import ROOT, Record, fold

DEFAULT_SET = ROOT / "tests" / "relevance"


ESC_PROGRAMME_SUPPORT = frozenset({"accommodation", "food", "travel", "insurance", "allowance"})
ESC_ACTIVITY_TYPES = frozenset({"Individual volunteering", "Volunteering teams"})


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
