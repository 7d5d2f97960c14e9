"""Written place names as sources send them, taken apart before a gazetteer lookup.

Pure string functions, no gazetteer: ``cities.resolve_city`` uses them.

- ``loose`` is the key written names and gazetteer names are compared by:
  case, diacritics, hyphens, apostrophes, dots and "St"/"Saint" do not
  count ("ST SATURNIN" = "Saint-Saturnin", "FRANKFURT ODER" = "Frankfurt (Oder)",
  "NİĞDE" = "Nigde").
- ``postal_code`` finds and removes a postal code ("LV-1050 Rīga",
  "10115 Berlin", "75011 Paris", "00-950 Warszawa", "602 00 Brno").
- ``strip_admin`` removes administrative words around a name: city words
  ("Kauno m.", "m. st. Warszawa", "Rīgas pilsēta", "Municipiul Târgu
  Secuiesc", "Bunovo village") and region words ("Daugavpils novads",
  "Alytus r.", "Valmiera municipality", "Co. Westmeath"), saying whether a
  region word was there (a region is a weaker answer than a town).
- ``is_sentence`` tells a sentence from a name ("The volunteer will be living
  in Jesús (…) and work in Roquetes." is not a town).
- ``split_parts`` cuts a field into the names it lists ("Sierra Elvira,
  Atarfe. Granada.", "Braga, Sanguedo, Cucujães and Guimarães").
- ``ORIGIN``/``LOCATIVE`` prepositions: "aus Syrien", "from Ukraine", "з
  України" name where people come from; "in Tallinn", "у Вільнюсі", "w
  Krakowie" where something is.
"""

from __future__ import annotations

import re

from pipeline.normalize.text import fold

# Letters fold() keeps that a person types as plain ones; separators that do
# not tell names apart.
_LOOSE = str.maketrans({
    "ı": "i", "\u0307": None, "ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ð": "d", "þ": "th",
    "ħ": "h", "ŧ": "t", "·": None, "-": " ", "‐": " ", "–": " ", "—": " ", "'": " ", "’": " ",
    "`": " ", "´": " ", ".": " ", "(": " ", ")": " ", "/": " ", ",": " ",
})
_SAINT = {"st": "saint", "ste": "sainte", "sta": "santa", "sto": "santo"}


def loose(text: str) -> str:
    """The comparison key of a place name."""
    return loose_folded(fold(text))


def loose_folded(folded: str) -> str:
    """``loose`` of a name already through ``fold``."""
    words = folded.translate(_LOOSE).split()
    return " ".join([_SAINT.get(w, w) for w in words])


def letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


# ------------------------------------------------------------ postal codes

_POSTAL = re.compile(
    r"(?<![\w-])(?:"
    r"[A-Z]{1,2}-\d{3,6}"          # LV-1050, D-10115, LT-44280, CH-8000
    r"|\d{2}-\d{3}"                # 00-950 (PL)
    r"|\d{4}-\d{3}"                # 1000-001 (PT)
    r"|\d{3} \d{2}(?!\d)"          # 602 00 (CZ, SK, SE, GR)
    r"|\d{4} ?[A-Z]{2}(?![\w])"    # 1011 AB (NL)
    r"|[A-Z]?\d{4,6}[A-Z]{0,3}"    # 10115, 75011, 1050, C1089ACA
    r")(?![\w])"
)


def postal_code(text: str) -> tuple[str, str | None]:
    """``text`` without its postal code, and the code."""
    m = _POSTAL.search(text)
    if not m:
        return text, None
    rest = (text[: m.start()] + " " + text[m.end():]).strip(" ,;-–/")
    return " ".join(rest.split()), m.group(0)


# District numbers after a city name: "Praha 8", "Dublin 7", "Lyon 7e", "Wien 3.".
_DISTRICT_NUMBER = re.compile(r"\s+\d{1,2}(?:e|er|ème|eme|\.)?$", re.IGNORECASE)


def district_number(text: str) -> str:
    return _DISTRICT_NUMBER.sub("", text).strip()


# ------------------------------------------------------- administrative words

_CITY_PREFIXES = (
    "m. st.", "m.st.", "miasto stołeczne", "miasto", "gmina miejska", "m.", "g.", "г.", "город",
    "м.", "місто", "city of", "town of", "village of", "ville de", "ciudad de", "città di",
    "citta di", "comune di", "municipiul", "municipio de", "municipio", "oraș", "oras", "orașul",
    "orasul", "sat", "satul", "selo", "село", "grad", "stadt", "hansestadt", "gemeinde", "kaimas",
    "pueblo de", "aldea de", "vila de", "cidade de", "freguesia de", "localidad de",
)
_CITY_SUFFIXES = (
    "m.", "m", "miestas", "mieste", "miesto", "pilsēta", "pilsētā", "pilsētas", "linn", "linna",
    "city", "town", "village", "ville", "stadt", "(stadt)", "küla", "alevik", "alev", "kaimas",
    "miasto", "město", "mesto", "grad", "oasis",
)
_REGION_PREFIXES = (
    "co.", "county", "gmina", "powiat", "region", "région", "regione", "provincia de",
    "provincia di", "province of", "province de", "okres", "kraj", "judetul", "județul",
    "judeţul", "jud.", "comarca de", "distrito de", "district of", "landkreis", "kreis",
    "bezirk", "oblast", "область", "район",
)
_REGION_SUFFIXES = (
    "novads", "novadā", "pagasts", "pag.", "rajons", "raj.", "r.", "rajonas", "apskritis",
    "sav.", "savivaldybė", "valsčius", "seniūnija", "maakond", "vald", "vallas", "county",
    "municipality", "parish", "district", "region", "province", "provincia", "regione",
    "département", "departement", "gmina", "powiat", "województwo", "voivodeship", "kreis",
    "landkreis", "oblast", "область", "обл.", "район", "р-н", "jud.", "judetul", "județul",
    "prefecture", "governorate", "municipio", "comune",
)


def _affixes(words: tuple[str, ...], prefix: bool) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    if prefix:
        return re.compile(rf"^(?:{alternatives})(?:\s+|(?<=\.)(?=\w))", re.IGNORECASE)
    return re.compile(rf"(?:^|\s+)(?:{alternatives})$", re.IGNORECASE)


_CITY_PRE, _CITY_SUF = _affixes(_CITY_PREFIXES, True), _affixes(_CITY_SUFFIXES, False)
_REGION_PRE, _REGION_SUF = _affixes(_REGION_PREFIXES, True), _affixes(_REGION_SUFFIXES, False)


def strip_admin(text: str) -> tuple[str, bool]:
    """The name without administrative words, and whether one named a region."""
    region = False
    text = " ".join(text.split()).strip(" ,;:")
    changed = True
    while changed and text:
        changed = False
        for pattern, is_region in ((_CITY_PRE, False), (_CITY_SUF, False),
                                   (_REGION_PRE, True), (_REGION_SUF, True)):
            stripped = pattern.sub("", text).strip(" ,;:")
            if stripped != text and letters(stripped) >= 2:
                text, changed, region = stripped, True, region or is_region
    return text, region


# ----------------------------------------------------------------- sentences

_TOKEN = re.compile(r"[^\W\d_][\w'’.-]*", re.UNICODE)


def is_sentence(text: str) -> bool:
    """Running text rather than a name or a list of names: more than six
    words, or four or more with two lowercase words of four letters or more
    ("living", "close") besides administrative ones."""
    words = _TOKEN.findall(_PARENS.sub(" ", text))
    if len(words) > 6:
        return True
    if len(words) < 4:
        return False
    lower = [w for w in words if w[0].islower() and letters(w) >= 4 and w.isalpha()
             and not _CITY_SUF.search(" " + w) and not _REGION_SUF.search(" " + w)]
    return len(lower) >= 2


# --------------------------------------------------------------------- parts

_PARTS = re.compile(r"\s*(?:[,;\n]|\.\s+(?=[^\W\d_])|\.$|\s+(?:and|und|et|y|e|i|ir|un|ja|&)\s+)\s*")
_PARENS = re.compile(r"\s*\(([^()]*)\)?\s*")
_QUOTES = " .\"'«»„“”"


def split_parts(text: str) -> list[str]:
    """The comma-, semicolon-, full stop- and "and"-separated parts of a field
    (the text in parentheses is not cut: see ``parenthesised``)."""
    return [p.strip(_QUOTES) for p in _PARTS.split(text) if p and p.strip(_QUOTES)]


def parenthesised(text: str) -> tuple[str, list[str]]:
    """``text`` without its parentheses, and what they held ("DEURNE (ANTWERPEN)")."""
    inner = [m.group(1).strip() for m in _PARENS.finditer(text) if m.group(1).strip()]
    outer = " ".join(_PARENS.sub(" ", text).split())
    return outer, inner


# "Berlin - Wannsee", "Çankaya/Ankara": a dash with a space or a slash; inside
# a piece, hyphens before capital letters ("Hamburg-Klein Flottbek"; not
# "Louvain-la-Neuve", whose lowercase "la" says the hyphens join one name).
_DASH = re.compile(r"\s+[-–—]\s*|(?<=\w)[-–—]\s+|\s*/\s*")
_HYPHEN = re.compile(r"(?<=\w)[-–](?=\w)")


def subparts(text: str) -> list[tuple[str, str]]:
    """The pieces of "City - District", "District/City" (``"chunk"``) and of
    "City-District" (the city: ``"head"``; the rest, ``"tail"``, which may
    just as well be the second half of one name: "Font-Rubí"); [] when there
    is nothing to cut."""
    out: list[tuple[str, str]] = []
    chunks = [c.strip() for c in _DASH.split(text) if c.strip()]
    for chunk in chunks:
        if len(chunks) > 1:
            out.append((chunk, "chunk"))
        pieces = _HYPHEN.split(chunk)
        if len(pieces) > 1 and all(p[:1].isupper() for p in pieces[1:]):
            out.append((pieces[0], "head"))
            out += [(p, "tail") for p in pieces[1:]]
    return out


# ------------------------------------------------------------- prepositions

# "from": the place is where someone comes from (never where the listing is).
ORIGIN = frozenset({
    "from", "aus", "von", "vom", "z", "ze", "з", "із", "зі", "від", "из", "изо", "от", "iz",
    "is", "no", "desde", "dalla", "dal", "dall", "herkunft", "origin", "origine", "fleeing",
})
# French, Spanish, Italian "de/da" are "from" only after a word for people who fled.
ROMANCE_ORIGIN = frozenset({"de", "d", "du", "des", "da", "di"})
_FLED = re.compile(r"^(?:r[eé]fugi|refugi|rifugi|exil|migra|desplaz|d[eé]plac|profug|sfollat|asylum)",
                   re.IGNORECASE)
# "in": where something is (or goes).
LOCATIVE = frozenset({
    "in", "im", "ins", "nach", "to", "within", "near", "en", "a", "au", "aux", "dans", "à", "em",
    "na", "nel", "nella", "w", "we", "в", "во", "у", "ў", "v", "vo", "на", "pie", "uz",
    "te", "bei", "around",
})
ARTICLES = frozenset({"the", "der", "die", "das", "den", "dem", "la", "le", "les", "l", "el", "los",
                      "las", "il", "lo"})
_WORDS_BEFORE = re.compile(r"[\w’']+", re.UNICODE)


def words_before(text: str, start: int, n: int = 4) -> list[str]:
    """Up to ``n`` folded words right before ``start``, nearest first."""
    return [fold(w).strip("'’") for w in reversed(_WORDS_BEFORE.findall(text[max(0, start - 80):start]))][:n]


def preposition_before(text: str, start: int) -> str | None:
    """``"origin"``, ``"locative"`` or None for the word(s) before a name at ``start``."""
    before = words_before(text, start)
    if before and before[0] in ARTICLES:
        before = before[1:]
    if not before:
        return None
    word = before[0]
    if word in ORIGIN:
        return "origin"
    if word in ROMANCE_ORIGIN and any(_FLED.match(w) for w in before[1:4]):
        return "origin"
    if word in LOCATIVE:
        return "locative"
    return None
