"""Cities: the normalizer's GeoNames gazetteer (and Arabic names) above a
population, the words that are also common words, and the city at a token."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from search.understanding.model import Place
from search.understanding.vocab import VOCABULARY, phrase_keys, vocab_index, vocabulary
from search.understanding.words import (
    ARABIC,
    CYRILLIC,
    Token,
    arabic_bare,
    cyrillic_readings,
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
    is_ambiguous = t.key in ambiguous()
    if not strong and (is_ambiguous or len(t.key) < 4):
        return None
    if ARABIC.search(t.key):
        for f in t.forms:
            row = c.arabic.get(arabic_bare(f))
            if row:
                return Place(1, row[0], True, row[1], row[2])
        return None
    keys = [t.key]
    if translit or len(t.key) >= 5:  # "buharest": a Cyrillic name written in Latin letters
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
