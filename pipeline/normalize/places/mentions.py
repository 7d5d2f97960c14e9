"""Cities named in running text and in address-like location strings."""

from __future__ import annotations

import re
from itertools import pairwise

from pipeline.normalize.places import clean
from pipeline.normalize.places.countries import country_code
from pipeline.normalize.places.gazetteer import gazetteer
from pipeline.normalize.places.geonames import NOT_CITIES, City
from pipeline.normalize.places.stems import LOCATIVE_ENDING, capitalised, lookup_word
from pipeline.normalize.text import fold


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
    words = capitalised(text)
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
            if fold(word) in NOT_CITIES or len(word) < 3:
                i += 1
                continue
            found = gaz.lookup(word, country)
            if found is None and inflecting:
                found = gaz.best(lookup_word(word, gaz.by_stem), country)
            if found and not (country is None or found.country == country or found.population > 50000):
                found = None
        i += n
        if found is None:
            continue
        prep = clean.preposition_before(text, m.start())
        if prep == "origin":
            continue
        if home and found.country not in (home, country) and prep != "locative" and not (
                inflecting and LOCATIVE_ENDING.search(words[i - 1].group(0))):
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


# "NY", "CA", "NSW", "LV": a state, province or country code, never the town
_CODE = re.compile(r"[A-Z]{2,3}")


def city_from_location(text: str | None, country: str | None = None) -> str | None:
    """The city in an address-like string: "Rīga, Brīvības iela 55" → "Rīga"."""
    if not text:
        return None
    parts = [p.strip(" \"'«»„“”") for p in re.split(r"[,;\n]", text) if p.strip()]
    parts = [p for p in parts if not _CODE.fullmatch(p)]
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
