"""Countries: every name CLDR, pycountry and the aliases give, indexed by its
first word and that word's stems, and the longest name at a token."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from search.understanding.model import Place
from search.understanding.regions import is_region, region_names
from search.understanding.vocab import phrase_keys, vocabulary
from search.understanding.words import (
    ENDINGS,
    Token,
    cyrillic_readings,
    norm,
    script_languages,
    stem,
    tagged_stems,
    tokenize,
)


@dataclass(frozen=True)
class _NameWord:
    key: str
    stems: frozenset[tuple[str, str]]
    spelled: frozenset[str] = frozenset()  # lowercase, with diacritics, as the sources write it

    def matches(self, token: Token, stems: frozenset[tuple[str, str]]) -> bool:
        return self.key in token.forms or bool(self.stems & stems)


@dataclass(frozen=True)
class _Name:
    words: tuple[_NameWord, ...]
    code: str
    english: bool  # an English name (wins over a city of the same name)


@dataclass
class CountryIndex:
    exact: dict[str, list[_Name]] = field(default_factory=dict)  # by first word's key
    stems: dict[tuple[str, str], list[_Name]] = field(default_factory=dict)  # by first word's stem


_LANG_OF_LOCALE = {"sr_Latn": "sr"}


def _country_name_sources() -> Iterable[tuple[str, str, str]]:
    """(name, code, language) from CLDR, pycountry (via the normalizer) and the aliases."""
    import pycountry
    from babel import Locale

    from pipeline.normalize.places.countries import EXTRA_NAMES, LOCALES

    codes = {str(c.alpha_2) for c in pycountry.countries} | {"XK"}
    data = vocabulary()["places"]
    for locale in data["locales"]:
        lang = _LANG_OF_LOCALE.get(locale, locale.split("_")[0])
        for code, name in Locale.parse(locale).territories.items():
            if code in codes:
                yield name, code, lang
                if "&" in name and lang == "en":
                    yield name.replace("&", "and"), code, lang
    # The normalizer's names: pycountry's, in English and translated, and its extras.
    for country in pycountry.countries:
        english = {country.name, getattr(country, "common_name", None),
                   getattr(country, "official_name", None)}
        for name in filter(None, english):
            yield name, str(country.alpha_2), ""
            for lang in LOCALES:
                translated = _pycountry_translation(lang).gettext(name)
                if translated != name:  # untranslated: the English name, not one in ``lang``
                    yield translated, str(country.alpha_2), lang
    for name, code in EXTRA_NAMES.items():
        yield name, code, ""
    # World regions ("Africa", "Европа"): a filter over their countries (search.understanding.regions).
    yield from region_names(data["locales"])
    for code, names in data["aliases"].items():
        for name in names:
            for lang in script_languages(norm(str(name))) or ("",):
                yield str(name), code, lang


@cache
def _pycountry_translation(lang: str) -> Any:
    import gettext

    import pycountry

    return gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang])


@lru_cache(maxsize=1)
def country_index() -> CountryIndex:
    from babel import localedata

    # Babel keeps every locale it loads (~1 MB each): let go of those loaded here.
    caches = [c for c in (getattr(localedata, "_cache", None), getattr(localedata, "_dict_cache", None))
              if isinstance(c, dict)]
    before = [set(c) for c in caches]
    try:
        return _build_countries()
    finally:
        for cache_, keys in zip(caches, before, strict=True):
            for key in set(cache_) - keys:
                cache_.pop(key, None)


def _build_countries() -> CountryIndex:
    index = CountryIndex()
    names: dict[tuple[str, ...], dict[str, set[str]]] = {}  # word keys → code → languages
    spellings: dict[str, set[str]] = {}  # word key → its spellings (lowercase)
    for spelling, code, lang in _country_name_sources():
        keys = tuple(k for k, _ in phrase_keys(spelling) or ())
        if keys:
            names.setdefault(keys, {}).setdefault(code, set()).add(lang)
            for token in tokenize(spelling):
                spellings.setdefault(token.key, set()).add(_lower(token.raw))
    # English and the normalizer's own names win over a city of the same name;
    # other languages' names ("Granada" is Grenada in Spanish) do not.
    english = {keys for keys, by_code in names.items()
               if any(ls & {"en", ""} for ls in by_code.values())}
    built: list[_Name] = []
    for keys, by_code in names.items():
        if len(by_code) > 1 and any(not is_region(c) for c in by_code):
            # a spelling of a country and of a region ("Америка"): the country's
            by_code = {c: ls for c, ls in by_code.items() if not is_region(c)}
        if len(by_code) > 1:  # one spelling, two countries: neither
            continue
        (code, langs), = by_code.items()
        words = []
        for k in keys:
            stems = frozenset((lang, s) for lang in langs
                              if len(k) >= 4 and lang in ENDINGS and (s := stem(k, lang)))
            words.append(_NameWord(k, stems, frozenset(spellings.get(k, ()))))
        built.append(_Name(tuple(words), code, keys in english))
    # A stem two countries share (or a country and a common word) names neither.
    owners: dict[tuple[str, str], set[str]] = {}
    for name in built:
        if len(name.words) == 1:
            for tagged in name.words[0].stems:
                owners.setdefault(tagged, set()).add(name.code)
    for name in built:
        first = name.words[0]
        index.exact.setdefault(first.key, []).append(name)
        for tagged in first.stems:
            # The words after the first tell "Великобритания" from "Великое Герцогство…".
            if len(name.words) > 1 or len(owners[tagged]) == 1:
                index.stems.setdefault(tagged, []).append(name)
    for entries in (*index.exact.values(), *index.stems.values()):
        entries.sort(key=lambda n: -len(n.words))
    return index


def _lower(word: str) -> str:
    return unicodedata.normalize("NFC", word.lower())


def _as_spelled(t: Token, word: _NameWord) -> bool:
    """Whether a word that folds to a name's word may be that word: a Latin
    word typed with diacritics is, when they agree with a spelling of it but
    for its last two letters (a case ending: "Latvijā", "Ukrainā"), and
    otherwise is another word ("cīņa", struggle, is not Italian "Cina")."""
    if t.raw.isascii() or not _LATIN.match(t.raw):
        return True
    typed = _lower(t.raw)
    return any(len(s) == len(typed) and s[:-2] == typed[:-2] for s in word.spelled)


def _stem_spelled(t: Token, word: _NameWord, n: int) -> bool:
    """Whether the letters with diacritics among the first ``n`` (the stem) of
    a Latin word stand where a spelling of the name has them ("itālijā" as
    "Itālija", "Włoszech" as "Włochy"), not another word's ("bēniņos", in the
    attic, is no "Benin")."""
    if t.raw.isascii() or not _LATIN.match(t.raw):
        return True
    typed = _lower(t.raw)[:n]
    marked = [(i, ch) for i, ch in enumerate(typed) if not ch.isascii()]  # the stem may alternate ("Włoszech")
    return any(all(i < len(s) and s[i] == ch for i, ch in marked) for s in word.spelled)


_LATIN = re.compile(r"^[A-Za-z\u00c0-\u024f]+$")


def match_country(tokens: list[Token], i: int, translit: bool) -> Place | None:
    idx = country_index()
    t = tokens[i]
    stems = tagged_stems(t.key)
    candidates: list[tuple[_Name, bool]] = []
    for f in t.forms:
        candidates += [(n, True) for n in idx.exact.get(f, ()) if _as_spelled(t, n.words[0])]
    candidates += [(n, False) for s in stems for n in idx.stems.get(s, ()) if _stem_spelled(t, n.words[0], len(s[1]))]
    if translit and not candidates and len(t.key) >= 5 and t.raw.isascii():  # "latvii"; not "hermaņa"
        for cyr in cyrillic_readings(t.key):
            candidates += [(n, False) for n in idx.exact.get(cyr, ())]
            candidates += [(n, False) for s in tagged_stems(cyr) if s[0] in ("ru", "uk") for n in idx.stems.get(s, ())]
            if candidates:
                break
    best: Place | None = None
    for name, exact in candidates:
        n = len(name.words)
        if best and (n < best.length or (n == best.length and (best.exact or not exact))):
            continue
        if i + n > len(tokens):
            continue
        ok, all_exact = True, exact
        for j in range(1, n):
            tj = tokens[i + j]
            w = name.words[j]
            if w.key in tj.forms:
                continue
            if w.stems and w.stems & tagged_stems(tj.key):
                all_exact = False
                continue
            ok = False
            break
        if ok:
            best = Place(n, name.code, all_exact, english=name.english)
    return best
