"""Theme, support, format, duration, activity and generic words: the data files
in ``search/vocabulary`` indexed, and the longest phrase of them at a token."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from search.understanding.words import ARABIC, Token, arabic_bare, norm, script_languages, stem, tokenize

VOCABULARY = Path(__file__).parent.parent / "vocabulary"


@dataclass(frozen=True)
class Pattern:
    key: str
    prefix: bool = False  # a stem: the key plus an ending of up to MAX_ENDING letters

    def matches(self, token: Token) -> bool:
        return self.spelled(token) or (not self.prefix and bool(inflected(self.key) & inflected(token.key)))

    def spelled(self, token: Token) -> bool:
        """The token is this word as the data writes it (or the stem's form), not another case of it."""
        if not self.prefix:
            return self.key in token.forms
        return any(f.startswith(self.key) and len(f) - len(self.key) <= MAX_ENDING for f in token.forms)


MIN_INFLECTED_STEM = 5


@lru_cache(maxsize=100_000)
def inflected(key: str) -> frozenset[tuple[str, str]]:
    """A word's (language, stem) pairs by the noun endings of the languages of
    its script, stems of 5+ letters: a vocabulary word and a query word with a
    pair in common are forms of one word ("страхування", "страхуванням";
    "apdrošināšana", "apdrošināšanu"), so the vocabulary need not list every case."""
    out = set()
    for lang in script_languages(key):
        s = stem(key, lang, least=MIN_INFLECTED_STEM)
        if s and s != key:
            out.add((lang, s))
        elif len(key) >= MIN_INFLECTED_STEM:
            out.add((lang, key))  # a word already without an ending is its own stem
        for ending in ADJECTIVE_ENDINGS.get(lang, ()):  # "einmaliger", "individueller"
            if key.endswith(ending) and len(key) - len(ending) >= MIN_INFLECTED_STEM + 2:
                out.add((lang, key[: -len(ending)]))
    return frozenset(out)


# Adjective endings the noun endings of words.ENDINGS lack (vocabulary words only, not places).
ADJECTIVE_ENDINGS = {"de": ("er", "em")}


MAX_ENDING = 4
TOPIC_KEYS = ("theme", "label", "match")  # a topic's keys that are not a language's typed words


@dataclass(frozen=True)
class Entry:
    words: tuple[Pattern, ...]
    meanings: tuple[tuple[str, str], ...]  # (field, value)


def phrase_keys(phrase: str) -> list[tuple[str, bool]] | None:
    """A vocabulary phrase's words as a query's tokens are read (French
    elisions split: "plantation d'arbres" is "plantation", "d", "arbres")."""
    out = []
    for token in tokenize(str(phrase)):
        raw = token.raw
        prefix = phrase[token.end: token.end + 1] == "*"
        key = norm(raw)
        if ARABIC.search(key):
            key = arabic_bare(key)
        if prefix and len(key) < 4:
            raise ValueError(f"vocabulary stem {raw!r} is shorter than 4 letters")
        out.append((key, prefix))
    return out or None


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, Any]:
    """The data files, parsed."""
    return {name: yaml.safe_load((VOCABULARY / f"{name}.yaml").read_text(encoding="utf-8"))
            for name in ("themes", "facets", "generic", "places", "topics")}


def meanings() -> Iterable[tuple[str, str, str, str]]:
    """(field, value, language, phrase) for every phrase in the data."""
    data = vocabulary()
    for theme, by_lang in data["themes"].items():
        for lang, phrases in by_lang.items():
            for phrase in phrases or ():
                yield "theme", theme, lang, phrase
    for facet, values in data["facets"].items():
        for value, by_lang in values.items():
            for lang, phrases in by_lang.items():
                for phrase in phrases or ():
                    yield facet, value, lang, phrase
    for topic, entry in data["topics"].items():
        for lang, phrases in entry.items():
            if lang not in TOPIC_KEYS:
                for phrase in phrases or ():
                    yield "topic", topic, lang, phrase
    for lang, phrases in data["generic"]["generic"].items():
        for phrase in phrases or ():
            yield "generic", "", lang, phrase


@dataclass
class VocabIndex:
    exact: dict[str, list[Entry]] = field(default_factory=dict)  # by first word
    prefix: dict[str, list[Entry]] = field(default_factory=dict)  # by first word's stem
    inflected: dict[tuple[str, str], list[Entry]] = field(default_factory=dict)  # by first word's (lang, stem)
    words: set[str] = field(default_factory=set)  # every whole word in the data
    stopwords: set[str] = field(default_factory=set)
    place_preps: set[tuple[str, ...]] = field(default_factory=set)
    origin_preps: set[tuple[str, ...]] = field(default_factory=set)
    translit_preps: set[str] = field(default_factory=set)
    articles: set[str] = field(default_factory=set)
    place_nouns: set[str] = field(default_factory=set)
    compound_tails: set[str] = field(default_factory=set)


def _keys(words: Iterable[str]) -> set[tuple[str, ...]]:
    out = set()
    for phrase in words:
        keys = phrase_keys(str(phrase))
        if keys:
            out.add(tuple(k for k, _ in keys))
    return out


@lru_cache(maxsize=1)
def vocab_index() -> VocabIndex:
    v = VocabIndex()
    _add_phrases(v)
    _add_function_words(v, vocabulary()["generic"])
    return v


def _add_phrases(v: VocabIndex) -> None:
    """Every phrase of the data, merged by its words, indexed by its first word."""
    merged: dict[tuple[tuple[str, bool], ...], set[tuple[str, str]]] = {}
    for field_name, value, _lang, phrase in meanings():
        phrase_words = phrase_keys(str(phrase))
        if phrase_words:
            merged.setdefault(tuple(phrase_words), set()).add((field_name, value))
    for keys, found in merged.items():
        if len(found) > 1:  # a phrase with a meaning is not also generic
            found = {m for m in found if m[0] != "generic"}
        entry = Entry(tuple(Pattern(k, p) for k, p in keys), tuple(sorted(found)))
        first, is_prefix = keys[0]
        (v.prefix if is_prefix else v.exact).setdefault(first, []).append(entry)
        if not is_prefix:
            for pair in inflected(first):
                v.inflected.setdefault(pair, []).append(entry)
        v.words.update(k for k, p in keys if not p)
    for entries in (*v.exact.values(), *v.prefix.values(), *v.inflected.values()):
        entries.sort(key=lambda e: -len(e.words))


def _add_function_words(v: VocabIndex, generic: dict[str, Any]) -> None:
    """Stopwords, place and origin prepositions, articles and place nouns."""
    for words in generic["stopwords"].values():
        v.stopwords.update(k[0] for k in _keys(words or ()) if len(k) == 1)
    for lang, words in generic["place_prepositions"].items():
        keys = _keys(words or ())
        v.place_preps |= keys
        if lang.endswith("_latin"):
            v.translit_preps.update(k[0] for k in keys)
    for lang, words in generic["origin_prepositions"].items():
        keys = _keys(words or ())
        v.origin_preps |= keys
        if lang.endswith("_latin"):
            v.translit_preps.update(k[0] for k in keys)
    v.articles = {k[0] for k in _keys(generic["articles"])}
    for words in (generic.get("compound_tails") or {}).values():
        v.compound_tails.update(k[0] for k in _keys(words or ()) if len(k) == 1)
    for words in generic["place_nouns"].values():
        v.place_nouns.update(k[0] for k in _keys(words or ()) if len(k) == 1)
    v.stopwords |= v.articles | {p[0] for p in v.place_preps | v.origin_preps if len(p) == 1}


MIN_COMPOUND_HEAD = 5


def match_compound(t: Token) -> Entry | None:
    """A German compound of a vocabulary word and a tail that adds little
    ("computerhilfe" is "computer", "kulturprojekte" "kultur",
    "bewerbungstraining" "bewerbung"): the longest such head wins."""
    return _compound(t.key)


@lru_cache(maxsize=50_000)
def _compound(key: str) -> Entry | None:
    v = vocab_index()
    if not key.isalpha() or ARABIC.search(key) or len(key) < MIN_COMPOUND_HEAD + 3:
        return None
    for cut in range(len(key) - 3, MIN_COMPOUND_HEAD - 1, -1):
        if key[cut:] not in v.compound_tails:
            continue
        for head in (key[:cut], key[: cut - 1] if key[cut - 1] == "s" else None):
            if head and len(head) >= MIN_COMPOUND_HEAD:
                found = match_vocab([Token(0, len(head), head, head, (head,))], 0)
                if found and found[0] == 1 and all(f != "generic" for f, _ in found[1].meanings):
                    return found[1]
    return None


def match_vocab(tokens: list[Token], i: int) -> tuple[int, Entry] | None:
    """The longest phrase of the data starting at token ``i``."""
    v = vocab_index()
    t = tokens[i]
    candidates: list[Entry] = []
    for f in t.forms:
        candidates += v.exact.get(f, ())
        for cut in range(4, len(f) + 1):
            if len(f) - cut <= MAX_ENDING:
                candidates += v.prefix.get(f[:cut], ())
    for pair in inflected(t.key):  # after the exact and stem entries: those win a tie
        candidates += v.inflected.get(pair, ())
    best: tuple[int, Entry] | None = None
    for entry in candidates:
        n = len(entry.words)
        if best and n <= best[0]:
            continue
        if i + n <= len(tokens) and all(p.matches(tokens[i + j]) for j, p in enumerate(entry.words)):
            best = (n, entry)
    return best
