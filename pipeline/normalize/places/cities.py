"""A source's city field, read as a person would, within the listing's country.

Postal codes, administrative words ("Kauno m.", "m. st. Warszawa", "Rīgas
pilsēta"), districts ("Hamburg-Klein Flottbek"), case, missing diacritics and
one-letter typos aside; a sentence is never a city. The text handling is in
``clean``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pipeline.normalize.places import clean
from pipeline.normalize.places.countries import country_code
from pipeline.normalize.places.gazetteer import gazetteer
from pipeline.normalize.places.geonames import NOT_CITIES, City
from pipeline.normalize.places.stems import WORD
from pipeline.normalize.text import fold


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
            match = _match_part(part, step)
            if match:
                return Resolved(match[0], match[0].label, match[1], postal)
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
    words = list(WORD.finditer(text))
    for i, m in enumerate(words):
        if not m.group(0)[0].isupper() or clean.preposition_before(text, m.start()) == "origin":
            continue
        for n in (3, 2, 1):
            span = words[i:i + n]
            if len(span) < n or not span[-1].group(0)[0].isupper():
                continue
            name = text[span[0].start():span[-1].end()]
            if fold(name) in NOT_CITIES or clean.letters(name) < 4:
                continue
            found = gaz.place(name, country) if country else gaz.place(name, None)
            if found:
                return found
    return None
