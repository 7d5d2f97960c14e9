"""Query understanding: what a person typed, as filters and free text.

``understand("волонтерство з дітьми в Латвії")`` →
``Understood(country=["LV"], theme=["youth"], text="", spans=[...])``.

A pure function (no I/O after the first call builds its indexes, which it
keeps): the search API and UI, digests and feeds call it on the ``q`` a
person typed and turn the result into filters or boosts, show what was
understood and let the person undo any part of it (``spans`` say which part of
the query each value came from).

What it recognises, in any case and with or without diacritics:

- **Countries** in every language CLDR names them in (Babel, the locales in
  ``vocabulary/places.yaml``) plus the normalizer's pycountry names, through
  inflection: each name's words are cut to a stem by its own language's
  endings (Latvian, Lithuanian, Estonian, Polish, German, Russian,
  Ukrainian), a query word by every language of its script, and the two
  stems compared ("Latvijā", "в Латвии", "у Латвії", "Latvijoje",
  "na Łotwie", "w Niemczech", "Deutschlands"). A stem that two countries
  share is not used. Latin transliteration of Russian ("v latvii") is tried
  last. The longest name wins ("Bosnia and Herzegovina", "Czech Republic").
- **Cities** from the normalizer's GeoNames gazetteer (exonyms and inflected
  forms: "Rīgā", "в Риге", "у Ризі", "Kaunas", "Gdansk"), only of
  ``city_min_population`` people or more. A word that is also a common word
  ("Nice", "Bath", "Most") is a city only with a capital letter or a place
  preposition ("in Nice"); a lowercase word with no preposition must be the
  city's own name or a big city's exonym. A city does not add its country
  as a filter (the span carries the country for display).
- **Themes, support, format, duration and activity type** from the data in
  ``vocabulary/themes.yaml`` and ``vocabulary/facets.yaml`` (lv, en, ru, uk,
  ar, de, fr, es, it, pl); **generic words** ("volunteering", "волонтерство",
  "brīvprātīgais darbs", "تطوع") from ``vocabulary/generic.yaml`` are dropped.
  Arabic words match with and without the article and one-letter prefixes.

What remains is ``text``: the words nothing claimed, in the person's own
spelling, without the prepositions that introduced a recognised place and
without function words left at its edges. Words in double quotes are never
interpreted. Anything unsure stays text: a wrong filter hides every right
listing, a word left as text only ranks.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from pipeline.normalize.text import fold

VOCABULARY = Path(__file__).parent / "vocabulary"
MAX_QUERY = 300  # characters understood; the rest stays text
LIST_FIELDS = ("country", "city", "theme", "support", "work_mode", "duration_class", "activity_type",
               "programme")


class Span(BaseModel):
    """One understood part of the query: ``q[start:end] == text``."""

    model_config = ConfigDict(frozen=True)
    field: str  # country, city, theme, support, work_mode, duration_class, activity_type, programme, generic
    value: str  # "LV", "Riga", "youth", "accommodation", "remote"… ("" for generic words)
    start: int
    end: int
    text: str
    country: str | None = None  # a city's country, for display only


class Understood(BaseModel):
    """What a query says: filters per listing field, and the free text left."""

    model_config = ConfigDict(frozen=True)
    country: list[str] = []  # ISO 3166-1 alpha-2
    city: list[str] = []  # GeoNames names, as pipeline.normalize.places.City.name
    theme: list[str] = []  # pipeline.events.Theme values
    support: list[str] = []  # pipeline.events.Support field names
    work_mode: list[str] = []  # WorkMode values
    duration_class: list[str] = []  # DurationClass values
    activity_type: list[str] = []  # ActivityType values
    programme: list[str] = []  # the listing's programme ("European Solidarity Corps", …)
    text: str = ""
    spans: list[Span] = []

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()

    @property
    def filters(self) -> dict[str, list[str]]:
        """The non-empty list fields."""
        return {f: getattr(self, f) for f in LIST_FIELDS if getattr(self, f)}


# ------------------------------------------------------------------ words

_TOKEN = re.compile(r"[^\W_]+(?:['’ʼ`][^\W_]+)*", re.UNICODE)
_ELISION = re.compile(r"^(l|d|qu|j|n|s|c)['’ʼ`](?=\w)", re.IGNORECASE)  # French l'…, d'…
_APOSTROPHES = str.maketrans("", "", "'’ʼ`")
_ARABIC_MARKS = re.compile("[\u064b-\u065f\u0670\u0640]")  # harakat, dagger alif, tatweel
_ARABIC_LETTERS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه"})
_ARABIC = re.compile("[\u0600-\u06ff]")
_CYRILLIC = re.compile("[\u0400-\u04ff]")
_ARABIC_PREFIXES = ("وال", "بال", "فال", "كال", "لل", "ال")
_QUOTES = "\"«»„“”"


def norm(word: str) -> str:
    """The matching form of a word: folded (case, accents), no apostrophes,
    Arabic letters unified (hamza forms of alif, alif maqsura, ta marbuta)."""
    key = fold(word).translate(_APOSTROPHES)
    if _ARABIC.search(key):
        key = _ARABIC_MARKS.sub("", unicodedata.normalize("NFC", key)).translate(_ARABIC_LETTERS)
    return key


def _arabic_bare(key: str) -> str:
    """An Arabic word without its article ("البيئة" → "بيئه")."""
    for prefix in ("ال",):
        if key.startswith(prefix) and len(key) - len(prefix) >= 2:
            return key[len(prefix):]
    return key


def _forms(key: str) -> tuple[str, ...]:
    """The keys a query word may stand for: itself; an Arabic word also
    without article and one-letter prefixes (و ب ل ف ك)."""
    if not _ARABIC.search(key):
        return (key,)
    out = [key, _arabic_bare(key)]
    for prefix in _ARABIC_PREFIXES:
        if key.startswith(prefix) and len(key) - len(prefix) >= 2:
            out.append(key[len(prefix):])
    if key[0] in "وبلفك" and len(key) >= 4:
        out.append(key[1:])
        out.append(_arabic_bare(key[1:]))
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    raw: str
    key: str
    forms: tuple[str, ...]
    quoted: bool = False

    @property
    def capitalised(self) -> bool:
        return self.raw[:1].isupper()


def tokenize(q: str) -> list[Token]:
    quoted = [(m.start(), m.end()) for m in re.finditer(r'"[^"]*"|«[^»]*»|„[^“”]*[“”]', q)]
    out = []
    for m in _TOKEN.finditer(q):
        start, raw = m.start(), m.group(0)
        elided = _ELISION.match(raw)
        if elided and len(raw) > elided.end() + 1:
            out.append(_token(q, start, start + elided.end() - 1, quoted))
            start += elided.end()
        out.append(_token(q, start, m.end(), quoted))
    return out


def _token(q: str, start: int, end: int, quoted: list[tuple[int, int]]) -> Token:
    raw = q[start:end]
    key = norm(raw)
    return Token(start, end, raw, key, _forms(key), any(a < start < b for a, b in quoted))


# ------------------------------------------------------------ inflection

def _endings(words: str) -> tuple[str, ...]:
    return tuple(sorted({norm(w) for w in words.split()}, key=len, reverse=True))


# Noun endings (folded) a country's or city's name takes, per language.
_ENDINGS: dict[str, tuple[str, ...]] = {
    "lv": _endings("ajiem ajām ajai ajam ajos ajās ajā ajo ais ajs iem ām ēm īm ai am ei os ās ēs is us "
                   "ie es as u a e i o s š ā ē ī ū"),
    "lt": _endings("iuose uose oje ėje uje iuje ose ėse ai os as is ys us ei ą ę į ų a e o u y i s"),
    "et": _endings("sse st le lt ga ni na ks ta l s d t"),
    "pl": _endings("iach ach ech ami iej ej ie ii ji ia ja ów om em ą ę y a e i u o"),
    "de": _endings("es en s n e"),
    "ru": _endings("иями ией ями ами ого его ому ему ыми ими ях ах ям ам ом ем ии ия ию ие ый ой ей ий "
                   "ая яя ую юю ое ее ые ых их а я е и у ю ы о"),
    "uk": _endings("ією ями ами ії ію ія ою ею ої ій ий ей ах ям ам ом ем ів а я і у ю е и о"),
}
_ALTERNATIONS = {
    "pl": (("cz", "c"), ("sz", "ch"), ("rz", "r"), ("sc", "sk")),  # Niemczech, Włoszech, Polsce
    "uk": (("з", "г"), ("ц", "к"), ("с", "х")),  # Ризі, Америці
    "ru": (),
}
_LATIN_LANGUAGES = ("lv", "lt", "et", "pl", "de")
_CYRILLIC_LANGUAGES = ("ru", "uk")


@lru_cache(maxsize=100_000)
def stem(key: str, lang: str, least: int = 4) -> str | None:
    """The stem of a folded word by ``lang``'s endings, at least ``least``
    letters long (None: too short to tell)."""
    endings = _ENDINGS.get(lang)
    if not endings:
        return None
    out = key
    for ending in endings:
        if key.endswith(ending) and len(key) - len(ending) >= least:
            out = key[: -len(ending)]
            break
    if len(out) < least:
        return None
    for tail, replacement in _ALTERNATIONS.get(lang, ()):
        if out.endswith(tail):
            out = out[: -len(tail)] + replacement
            break
    return out


def _script_languages(key: str) -> tuple[str, ...]:
    if _CYRILLIC.search(key):
        return _CYRILLIC_LANGUAGES
    if key.isascii() or not _ARABIC.search(key):
        return _LATIN_LANGUAGES
    return ()


@lru_cache(maxsize=50_000)
def tagged_stems(key: str) -> frozenset[tuple[str, str]]:
    out = set()
    for lang in _script_languages(key):
        s = stem(key, lang)
        if s:
            out.add((lang, s))
    return frozenset(out)


_TRANSLIT = [("shch", "щ"), ("sch", "щ"), ("zh", "ж"), ("kh", "х"), ("ch", "ч"), ("sh", "ш"),
             ("ts", "ц"), ("yu", "ю"), ("ya", "я"), ("yo", "е"), ("ye", "е"), ("ju", "ю"), ("ja", "я"),
             ("a", "а"), ("b", "б"), ("v", "в"), ("g", "г"), ("d", "д"), ("e", "е"), ("z", "з"),
             ("i", "и"), ("j", "и"), ("y", "и"), ("k", "к"), ("l", "л"), ("m", "м"), ("n", "н"),
             ("o", "о"), ("p", "п"), ("r", "р"), ("s", "с"), ("t", "т"), ("u", "у"), ("f", "ф"),
             ("h", "х"), ("c", "к"), ("w", "в"), ("x", "кс"), ("q", "к")]


def to_cyrillic(key: str) -> str | None:
    """A rough Russian spelling of a Latin transliteration ("latvii" → "латвии")."""
    if not key.isascii() or not key.isalpha():
        return None
    out, i = [], 0
    while i < len(key):
        for latin, cyr in _TRANSLIT:
            if key.startswith(latin, i):
                out.append(cyr)
                i += len(latin)
                break
        else:
            return None
    return "".join(out)


# -------------------------------------------------------------- vocabulary

@dataclass(frozen=True)
class Pattern:
    key: str
    prefix: bool = False  # a stem: the key plus an ending of up to MAX_ENDING letters

    def matches(self, token: Token) -> bool:
        if not self.prefix:
            return self.key in token.forms
        return any(f.startswith(self.key) and len(f) - len(self.key) <= MAX_ENDING for f in token.forms)


MAX_ENDING = 4


@dataclass(frozen=True)
class Entry:
    words: tuple[Pattern, ...]
    meanings: tuple[tuple[str, str], ...]  # (field, value)


def _phrase_keys(phrase: str) -> list[tuple[str, bool]] | None:
    out = []
    for m in _TOKEN.finditer(str(phrase)):
        raw = m.group(0)
        prefix = phrase[m.end(): m.end() + 1] == "*"
        key = norm(raw)
        if _ARABIC.search(key):
            key = _arabic_bare(key)
        if prefix and len(key) < 4:
            raise ValueError(f"vocabulary stem {raw!r} is shorter than 4 letters")
        out.append((key, prefix))
    return out or None


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, Any]:
    """The data files, parsed."""
    return {name: yaml.safe_load((VOCABULARY / f"{name}.yaml").read_text(encoding="utf-8"))
            for name in ("themes", "facets", "generic", "places")}


def _meanings() -> Iterable[tuple[str, str, str, str]]:
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
    for lang, phrases in data["generic"]["generic"].items():
        for phrase in phrases or ():
            yield "generic", "", lang, phrase


@dataclass
class _Vocab:
    exact: dict[str, list[Entry]] = field(default_factory=dict)  # by first word
    prefix: dict[str, list[Entry]] = field(default_factory=dict)  # by first word's stem
    words: set[str] = field(default_factory=set)  # every whole word in the data
    stopwords: set[str] = field(default_factory=set)
    place_preps: set[tuple[str, ...]] = field(default_factory=set)
    origin_preps: set[tuple[str, ...]] = field(default_factory=set)
    translit_preps: set[str] = field(default_factory=set)
    articles: set[str] = field(default_factory=set)
    place_nouns: set[str] = field(default_factory=set)


def _keys(words: Iterable[str]) -> set[tuple[str, ...]]:
    out = set()
    for phrase in words:
        keys = _phrase_keys(str(phrase))
        if keys:
            out.add(tuple(k for k, _ in keys))
    return out


@lru_cache(maxsize=1)
def _vocab() -> _Vocab:
    v = _Vocab()
    merged: dict[tuple[tuple[str, bool], ...], set[tuple[str, str]]] = {}
    for field_name, value, _lang, phrase in _meanings():
        keys = _phrase_keys(str(phrase))
        if keys:
            merged.setdefault(tuple(keys), set()).add((field_name, value))
    for keys, meanings in merged.items():
        if len(meanings) > 1:  # a phrase with a meaning is not also generic
            meanings = {m for m in meanings if m[0] != "generic"}
        entry = Entry(tuple(Pattern(k, p) for k, p in keys), tuple(sorted(meanings)))
        first, is_prefix = keys[0]
        (v.prefix if is_prefix else v.exact).setdefault(first, []).append(entry)
        v.words.update(k for k, p in keys if not p)
    for entries in (*v.exact.values(), *v.prefix.values()):
        entries.sort(key=lambda e: -len(e.words))
    generic = vocabulary()["generic"]
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
    for words in generic["place_nouns"].values():
        v.place_nouns.update(k[0] for k in _keys(words or ()) if len(k) == 1)
    v.stopwords |= v.articles | {p[0] for p in v.place_preps | v.origin_preps if len(p) == 1}
    return v


def _match_vocab(tokens: list[Token], i: int) -> tuple[int, Entry] | None:
    """The longest phrase of the data starting at token ``i``."""
    v = _vocab()
    t = tokens[i]
    candidates: list[Entry] = []
    for f in t.forms:
        candidates += v.exact.get(f, ())
        for cut in range(4, len(f) + 1):
            if len(f) - cut <= MAX_ENDING:
                candidates += v.prefix.get(f[:cut], ())
    best: tuple[int, Entry] | None = None
    for entry in candidates:
        n = len(entry.words)
        if best and n <= best[0]:
            continue
        if i + n <= len(tokens) and all(p.matches(tokens[i + j]) for j, p in enumerate(entry.words)):
            best = (n, entry)
    return best


# --------------------------------------------------------------- countries

@dataclass(frozen=True)
class _NameWord:
    key: str
    stems: frozenset[tuple[str, str]]

    def matches(self, token: Token, stems: frozenset[tuple[str, str]]) -> bool:
        return self.key in token.forms or bool(self.stems & stems)


@dataclass(frozen=True)
class _Name:
    words: tuple[_NameWord, ...]
    code: str
    english: bool  # an English name (wins over a city of the same name)


@dataclass
class _Countries:
    exact: dict[str, list[_Name]] = field(default_factory=dict)  # by first word's key
    stems: dict[tuple[str, str], list[_Name]] = field(default_factory=dict)  # by first word's stem


_LANG_OF_LOCALE = {"sr_Latn": "sr"}


def _country_name_sources() -> Iterable[tuple[str, str, str]]:
    """(name, code, language) from CLDR, pycountry (via the normalizer) and the aliases."""
    import pycountry
    from babel import Locale

    from pipeline.normalize import places

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
            for lang in places.LOCALES:
                yield _pycountry_translation(lang).gettext(name), str(country.alpha_2), lang
    for name, code in places._EXTRA_NAMES.items():
        yield name, code, ""
    for code, names in data["aliases"].items():
        for name in names:
            for lang in _script_languages(norm(str(name))) or ("",):
                yield str(name), code, lang


@cache
def _pycountry_translation(lang: str) -> Any:
    import gettext

    import pycountry

    return gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang])


@lru_cache(maxsize=1)
def _countries() -> _Countries:
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


def _build_countries() -> _Countries:
    index = _Countries()
    names: dict[tuple[str, ...], dict[str, set[str]]] = {}  # word keys → code → languages
    for name, code, lang in _country_name_sources():
        keys = tuple(k for k, _ in _phrase_keys(name) or ())
        if keys:
            names.setdefault(keys, {}).setdefault(code, set()).add(lang)
    # English and the normalizer's own names win over a city of the same name;
    # other languages' names ("Granada" is Grenada in Spanish) do not.
    english = {keys for keys, by_code in names.items()
               if any(ls & {"en", ""} for ls in by_code.values())}
    built: list[_Name] = []
    for keys, by_code in names.items():
        if len(by_code) > 1:  # one spelling, two countries: neither
            continue
        (code, langs), = by_code.items()
        words = []
        for k in keys:
            stems = frozenset((lang, s) for lang in langs
                              if len(k) >= 4 and lang in _ENDINGS and (s := stem(k, lang)))
            words.append(_NameWord(k, stems))
        built.append(_Name(tuple(words), code, keys in english))
    # A stem two countries share (or a country and a common word) names neither.
    owners: dict[tuple[str, str], set[str]] = {}
    for name in built:
        if len(name.words) == 1:
            for s in name.words[0].stems:
                owners.setdefault(s, set()).add(name.code)
    for name in built:
        first = name.words[0]
        index.exact.setdefault(first.key, []).append(name)
        for s in first.stems:
            # The words after the first tell "Великобритания" from "Великое Герцогство…".
            if len(name.words) > 1 or len(owners[s]) == 1:
                index.stems.setdefault(s, []).append(name)
    for entries in (*index.exact.values(), *index.stems.values()):
        entries.sort(key=lambda n: -len(n.words))
    return index


@dataclass(frozen=True)
class _Place:
    length: int  # tokens
    value: str  # a country code or a city's name
    exact: bool  # every word as spelled in a name (no inflection)
    country: str | None = None  # a city's country
    population: int = 0
    english: bool = False


def _match_country(tokens: list[Token], i: int, translit: bool) -> _Place | None:
    idx = _countries()
    t = tokens[i]
    stems = tagged_stems(t.key)
    candidates: list[tuple[_Name, bool]] = []
    for f in t.forms:
        candidates += [(n, True) for n in idx.exact.get(f, ())]
    candidates += [(n, False) for s in stems for n in idx.stems.get(s, ())]
    if translit and not candidates:
        cyr = to_cyrillic(t.key)
        if cyr and len(t.key) >= 5:
            stems = tagged_stems(cyr)
            candidates += [(n, False) for n in idx.exact.get(cyr, ())]
            candidates += [(n, False) for s in stems if s[0] == "ru" for n in idx.stems.get(s, ())]
    best: _Place | None = None
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
            best = _Place(n, name.code, all_exact, english=name.english)
    return best


# ------------------------------------------------------------------ cities

@dataclass
class _Cities:
    gazetteer: Any
    min_population: int
    big: int
    canonical: dict[str, list[tuple[str, str, int]]]  # fold(name) → (name, country, population)
    multiword_first: set[str]  # first words of the names with more than one word
    arabic: dict[str, tuple[str, str, int]]  # Arabic name (no article) → (name, country, population)


@lru_cache(maxsize=1)
def _cities() -> _Cities:
    from pipeline.normalize.places import gazetteer

    data = vocabulary()["places"]
    low, big = int(data["city_min_population"]), int(data["city_big"])
    gaz = gazetteer()
    canonical: dict[str, list[tuple[str, str, int]]] = {}
    first: set[str] = set()
    db = sqlite3.connect(f"file:{gaz.path}?mode=ro&immutable=1", uri=True)
    try:
        for name, country, population in db.execute(
                "SELECT name, country, population FROM cities WHERE population >= ?", (low,)):
            canonical.setdefault(norm(name), []).append((name, country, population))
            keys = [k for k, _ in _phrase_keys(name) or ()]
            if len(keys) > 1:
                first.add(keys[0])
        for (key,) in db.execute(
                "SELECT DISTINCT n.key FROM names n JOIN cities c ON c.id = n.city "
                "WHERE c.population >= ? AND (n.key LIKE '% %' OR n.key LIKE '%-%')", (low,)):
            keys = [k for k, _ in _phrase_keys(key) or ()]
            if len(keys) > 1:
                first.add(keys[0])
    finally:
        db.close()
    arabic: dict[str, tuple[str, str, int]] = {}
    for line in (VOCABULARY / "cities_ar.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, name, country, population = line.split("\t")
            if int(population) >= low:
                arabic[key] = (name, country, int(population))
    return _Cities(gaz, low, big, canonical, first, arabic)


def _city_candidates(key: str, stems: bool) -> tuple[list[Any], bool]:
    """Gazetteer cities called ``key`` (or, with ``stems``, an inflected form
    of it: the word must then end in a case ending), and whether exactly."""
    c = _cities()
    found = [x for x in c.gazetteer._cities("names", key)
             if x.population >= c.min_population]
    if found:
        return found, True
    if stems and len(key) >= 4 and _has_ending(key):
        return [x for x in _inflected(key, c.gazetteer.by_stem) if x.population >= c.min_population], False
    return [], False


def _has_ending(key: str) -> bool:
    return any(stem(key, lang, 3) not in (None, key) for lang in _script_languages(key))


def _inflected(key: str, index: Any) -> tuple[Any, ...]:
    """The gazetteer's own rule (places._lookup_word): a stem plus an ending of
    one letter after a 3-letter stem, two after 4, three after longer."""
    for cut in range(4):
        stem_ = key[: len(key) - cut] if cut else key
        if len(stem_) < 3:
            break
        if cut > max(1, len(stem_) - 2) or (len(stem_) == 4 and cut > 2):
            continue
        found = index.get(stem_)
        if found:
            return found
    return ()


def _match_city(tokens: list[Token], i: int, strong: bool, translit: bool) -> _Place | None:
    c = _cities()
    t = tokens[i]
    # Names of two or three words ("Frankfurt am Main", "Sankt Peterburg").
    if t.key in c.multiword_first:
        for n in (3, 2):
            if i + n <= len(tokens):
                words = [tk.key for tk in tokens[i: i + n]]
                for joined in (" ".join(words), "-".join(words)):
                    found, _ = _city_candidates(joined, stems=False)
                    if found:
                        best = max(found, key=lambda x: x.population)
                        return _Place(n, best.name, True, best.country, best.population)
    v = _vocab()
    if len(t.key) < 3 or any(f in v.words or f in v.stopwords for f in t.forms):
        return None
    ambiguous = t.key in _ambiguous()
    if not strong and (ambiguous or len(t.key) < 4):
        return None
    if _ARABIC.search(t.key):
        for f in t.forms:
            row = c.arabic.get(_arabic_bare(f))
            if row:
                return _Place(1, row[0], True, row[1], row[2])
        return None
    keys = [t.key]
    if translit and (cyr := to_cyrillic(t.key)):
        keys.append(cyr)
    if _CYRILLIC.search(t.key) and strong:
        keys += _ukrainian_nominatives(t.key)
    for k in keys:
        found, exact = _city_candidates(k, stems=(strong or not k.isascii()) and not ambiguous)
        if not found and strong:  # the normalizer leaves out e.g. "Nice": its own name still counts
            found = [_CityRow(*row) for row in c.canonical.get(k, ())]
        if not found:
            continue
        best = max(found, key=lambda x: x.population)
        if not strong:
            own_name = norm(best.name) == k
            if not (exact and (own_name or best.population >= c.big)):
                continue
        return _Place(1, best.name, exact, best.country, best.population)
    return None


def _ukrainian_nominatives(key: str) -> list[str]:
    """Ukrainian names whose last vowel turns to і in the nominative only:
    "Києві" → "Київ", "Львові" → "Львів", "Харкова" → "Харків" (folded)."""
    out = []
    for ending in ("ом", "і", "а", "у"):
        if key.endswith(ending) and len(key) - len(ending) >= 3:
            base = key[: -len(ending)]
            if base[-2] in "еоє":
                out.append(base[:-2] + "і" + base[-1])
    return out


@dataclass(frozen=True)
class _CityRow:
    name: str
    country: str
    population: int


@lru_cache(maxsize=1)
def _ambiguous_by_hand() -> frozenset[str]:
    return frozenset(norm(str(w)) for w in vocabulary()["places"].get("ambiguous_extra", ()))


@lru_cache(maxsize=1)
def _ambiguous() -> frozenset[str]:
    from pipeline.normalize import places

    data = vocabulary()["places"]
    words = {norm(str(w)) for w in data.get("ambiguous_extra", ())}
    generated = VOCABULARY / "ambiguous_places.txt"
    if generated.exists():
        for line in generated.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                words.add(norm(line))
    return frozenset(words | {norm(w) for w in places._NOT_CITIES})


# --------------------------------------------------------------- the parse

def _preposition_before(tokens: list[Token], i: int, used: list[bool],
                        preps: set[tuple[str, ...]]) -> int | None:
    """Index of the first token of a preposition (and article) ending just before ``i``."""
    v = _vocab()
    j = i
    if j > 0 and tokens[j - 1].key in v.articles and not used[j - 1]:
        j -= 1
    for n in (3, 2, 1):
        k = j - n
        if k < 0 or any(used[k:j]):
            continue
        if tuple(t.key for t in tokens[k:j]) in preps:
            return k
    # An Arabic preposition written on the word ("بلاتفيا") has no token of its own.
    return None


def _place_at(tokens: list[Token], i: int, used: list[bool]) -> tuple[_Place, str, int, bool] | None:
    """A country or city starting at token ``i``: (match, field, span start token, origin)."""
    v = _vocab()
    t = tokens[i]
    place_prep = _preposition_before(tokens, i, used, v.place_preps)
    origin_prep = None if place_prep is not None else _preposition_before(tokens, i, used, v.origin_preps)
    prep = place_prep if place_prep is not None else origin_prep
    translit = prep is not None and tokens[prep].key in v.translit_preps
    first_and_more = i == 0 and len(tokens) > 1
    strong = prep is not None or (t.capitalised and not (first_and_more and t.key in _ambiguous()))
    country = _match_country(tokens, i, translit=translit or len(t.key) >= 5)
    if country and not strong and country.length == 1 and t.key in _ambiguous() and (
            not country.exact or t.key in _ambiguous_by_hand()):
        # A country's own name as spelled in some language ("polen",
        # "italien", "украина") names the country even where the same letters
        # are a frequent word elsewhere; an inflected or stemmed reading of a
        # frequent word ("pole", "latwo") needs a capital or a preposition, and
        # so do the words listed by hand (turkey, chad, jordan, island…).
        country = None
    if country and country.length == 1 and not country.exact and _is_language_name(t.raw):
        country = None  # "german", "latviešu": a language; but "Italien" is Italy in German
    city = _match_city(tokens, i, strong, translit)
    if city and city.length == 1 and t.key in _vocab().words:
        city = None
    choice: tuple[_Place, str] | None = None
    if country and city:
        prefer_city = (city.length > country.length
                       or (city.length == country.length and not country.english and country.exact
                           and city.population >= _cities().big and city.country != country.value))
        choice = (city, "city") if prefer_city else (country, "country")
    elif country:
        choice = (country, "country")
    elif city:
        choice = (city, "city")
    if choice is None:
        return None
    return choice[0], choice[1], (prep if prep is not None else i), prep is not None and origin_prep is not None


@lru_cache(maxsize=4096)
def _is_language_name(word: str) -> bool:
    from pipeline.normalize.language import is_language_name

    return is_language_name(word)


@dataclass
class _Found:
    field: str
    value: str
    first: int  # token index of the span's start (its preposition, if any)
    last: int  # token index after the span
    country: str | None = None
    origin: bool = False


def _parse(q: str) -> Understood:
    tokens = tokenize(q[:MAX_QUERY])
    used = [False] * len(tokens)
    found: list[_Found] = []
    v = _vocab()
    i = 0
    while i < len(tokens):
        if tokens[i].quoted:
            i += 1
            continue
        vocab = _match_vocab(tokens, i)
        place = _place_at(tokens, i, used)
        if place and (vocab is None or place[0].length > vocab[0]):
            match, kind, first, origin = place
            last = i + match.length
            if kind == "city":  # "Kauno m.", "город Рига", "Riga city"
                if last < len(tokens) and tokens[last].key in v.place_nouns:
                    last += 1
                if first > 0 and not used[first - 1] and tokens[first - 1].key in v.place_nouns:
                    first -= 1
            found.append(_Found(kind, match.value, first, last, match.country, origin))
            for k in range(first, last):
                used[k] = True
            i = i + match.length
            continue
        if vocab:
            n, entry = vocab
            for field_name, value in entry.meanings:
                found.append(_Found(field_name, value, i, i + n))
            for k in range(i, i + n):
                used[k] = True
            i += n
            continue
        i += 1
    # "from Ukraine" is a filter only when no other place is named.
    places_here = [f for f in found if f.field in ("country", "city") and not f.origin]
    if places_here:
        for f in [f for f in found if f.origin]:
            found.remove(f)
            for k in range(f.first, f.last):
                used[k] = False
    return _result(q, tokens, used, found)


def _result(q: str, tokens: list[Token], used: list[bool], found: list[_Found]) -> Understood:
    v = _vocab()
    keep = [not u for u in used]
    # Function words next to what was understood, or at the edges of what is left, go.
    changed = True
    while changed:
        changed = False
        for k, t in enumerate(tokens):
            if not keep[k] or t.quoted or t.key not in v.stopwords:
                continue
            left = k == 0 or not keep[k - 1]
            right = k == len(tokens) - 1 or not keep[k + 1]
            if left or right:
                keep[k] = False
                changed = True
    if all(tokens[k].key in v.stopwords for k in range(len(tokens)) if keep[k]):
        keep = [k and t.quoted for k, t in zip(keep, tokens, strict=True)]
    runs: list[str] = []
    k = 0
    while k < len(tokens):
        if keep[k]:
            j = k
            while j + 1 < len(tokens) and keep[j + 1]:
                j += 1
            start, end = tokens[k].start, tokens[j].end
            if tokens[k].quoted and start > 0 and q[start - 1] in _QUOTES:  # keep "a phrase" quoted
                start -= 1
            if tokens[j].quoted and end < len(q) and q[end] in _QUOTES:
                end += 1
            runs.append(q[start:end])
            k = j + 1
        else:
            k += 1
    text = " ".join(runs)
    if len(q) > MAX_QUERY:
        text = (text + " " + q[MAX_QUERY:]).strip()
    values: dict[str, list[str]] = {f: [] for f in LIST_FIELDS}
    spans = []
    for f in sorted(found, key=lambda f: tokens[f.first].start):
        if f.field in values and f.value not in values[f.field]:
            values[f.field].append(f.value)
        start, end = tokens[f.first].start, tokens[f.last - 1].end
        spans.append(Span(field=f.field, value=f.value, start=start, end=end, text=q[start:end],
                          country=f.country))
    return Understood(**values, text=text, spans=spans)


@lru_cache(maxsize=8192)
def understand(q: str) -> Understood:
    """What the query ``q`` asks for (see the module's docstring)."""
    if not q or not q.strip():
        return Understood()
    return _parse(q)


def warm_up() -> None:
    """Build every index now (the first query otherwise pays for it)."""
    _vocab()
    _countries()
    _cities()
    _ambiguous()
    understand("volunteering with children in Riga")
