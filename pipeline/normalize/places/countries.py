"""Countries: codes and names in structured fields and running text.

- ``country_code`` reads ISO codes, the EU's own codes (EL, UK) and country
  names in English and in the languages we crawl (pycountry's translations),
  case- and accent-insensitively, ignoring notes ("Kosovo * UN resolution").
- ``countries_in`` finds names in running text, inflected forms included
  (``stems``). ``location_countries_in`` keeps only the countries text puts
  a listing in: never where people come from ("aus Syrien", "from Ukraine",
  "з України").
"""

from __future__ import annotations

import gettext
import re
from functools import lru_cache

import pycountry

from pipeline.normalize.language import is_language_name
from pipeline.normalize.places import clean
from pipeline.normalize.places.stems import LOCATIVE_ENDING, capitalised, lookup_word, name_stems
from pipeline.normalize.text import fold

# Codes the EU institutions use that differ from ISO 3166-1.
EU_CODES = {"EL": "GR", "UK": "GB"}
LOCALES = ("lv", "ru", "uk", "de", "fr", "es", "it", "pl", "lt", "et")
EXTRA_NAMES = {
    "uk": "GB", "great britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "russia": "RU", "czechia": "CZ", "moldova": "MD", "turkey": "TR", "türkiye": "TR",
    "kosovo": "XK", "the netherlands": "NL", "holland": "NL", "usa": "US",
    "united states": "US", "bolivia": "BO", "iran": "IR", "syria": "SY", "vietnam": "VN",
    "south korea": "KR", "north macedonia": "MK", "macedonia": "MK", "palestine": "PS",
    "россия": "RU", "росія": "RU", "krievija": "RU", "молдова": "MD", "moldāvija": "MD",
}


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
    for name, code in EXTRA_NAMES.items():
        names[fold(name)] = code
    return names


@lru_cache(maxsize=1)
def _country_stems() -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for name, code in _country_names().items():
        if " " in name or len(name) < 4:
            continue
        for stem in name_stems(name):
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
    for m in capitalised(text):
        if is_language_name(m.group(0)):  # "Ukrainian" is a language, not Ukraine
            continue
        exact = names.get(fold(m.group(0)))
        codes = [exact] if exact else lookup_word(m.group(0), index)
        if len(codes) == 1:
            out.append((codes[0], m.start(), m.group(0), exact is not None))
    return sorted(out, key=lambda x: x[1])


def countries_in(text: str) -> list[str]:
    """Countries named in ``text`` (inflected forms included), in order of mention."""
    return list(dict.fromkeys(code for code, *_ in countries_at(text)))




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
            if not after_prep and not (inflecting and LOCATIVE_ENDING.search(word)):
                continue
        if code not in out:
            out.append(code)
    return out

