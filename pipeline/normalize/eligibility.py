"""Eligibility: who may take part (ages, where volunteers may come from, languages).

``age_range`` reads the volunteers' age limits ("18–30", "no 16 gadiem",
"от 18 до 30 лет", "Mindestalter 18 Jahre", "vähemalt 16-aastased"),
skipping ages that describe the children or participants served ("camp for
children aged 10–14"). ``of_listing`` falls back on the programme's fixed
rule (``programme.programme_age``) when the text gives none.
"""

from __future__ import annotations

import re

from pipeline.events import ActivityType, Eligibility, RawOpportunity
from pipeline.normalize import language, programme
from pipeline.normalize.places.countries import country_code
from pipeline.normalize.text import sentences

_AGE_UNIT = (
    r"(?:years?|year-olds?|y\.?\s?o\.?|gad(?:i|u|us|iem|a|iem)|лет|года?|років|роки|jahre?n?"
    r"|jährig\w*|ans|años|anni|lat|metų|metai|-?aasta\w*)"
)
_AGE_RANGE = re.compile(
    r"(?:from|no|от|від|von|de|desde|da|od|nuo|between)?\s*(?<!\d)(\d{1,2})\s*(?:-|–|—|to|līdz"
    r"|до|bis|à|a|al|do|iki|and|y|e|und)\s*(\d{1,2})\s*" + _AGE_UNIT + r"(?!\w)",
)
_AGE_RANGE_BEFORE = re.compile(
    r"\b(?:aged?|ages|vecum[sā]|возраст\w*|віком|alter|âge|edad|età|wiek\w*|amžiaus|vanuses)"
    r"\s*:?\s*(?:from|no|от|від|von|de|da|od|nuo)?\s*(\d{1,2})\s*(?:-|–|—|to|līdz|до|bis|à|a"
    r"|al|do|iki)\s*(\d{1,2})(?!\d)",
)
_AGE_MIN = re.compile(
    r"(?:\bfrom|\bno|\bот|\bвід|\bab|à partir de|a partir de|\bdesde|\bda(?:i)?|\bod|\bnuo"
    r"|at least|vismaz|не менее|не моложе|щонайменше|mindestens|minimum|au moins|al menos"
    r"|almeno|co najmniej|ne mažiau kaip|vähemalt|\bover|\bmin\.?)\s*(\d{1,2})\s*\+?\s*"
    + _AGE_UNIT + r"(?!\w)",
)
_AGE_MIN_LABEL = re.compile(
    r"(?:minimum age|mindestalter|edad mínima|età minima|âge minimum|minimālais vecums"
    r"|минимальный возраст|мінімальний вік|wiek minimalny|minimalus amžius|alampiir)"
    r"\s*:?\s*(?:is\s*)?(\d{1,2})",
)
_AGE_MUST_BE = re.compile(r"must be (?:at least )?(\d{1,2})\b(?! ?(?:-|–|to) ?\d)")
_CHILDREN = re.compile(
    r"(?:children|kids|child|bērn\w*|дет(?:и|ей|ям)|діт\w*|kinder\w*|enfants|niños|bambini|dzieci"
    r"|vaik\w*|laps\w*|pupils|schüler\w*|participants)\W+(?:\w+\W+){0,3}\W*$",
)


_DIGIT = re.compile(r"\d")


def _plausible(low: int, high: int | None) -> bool:
    return 10 <= low <= 99 and (high is None or low < high <= 99)


def age_range(text: str) -> tuple[int | None, int | None]:
    """(min, max) age of the volunteers sought, or (None, None)."""
    for sentence in sentences(text):
        if not _DIGIT.search(sentence):  # every age pattern needs a digit
            continue
        sentence = sentence.lower()
        candidates: list[tuple[int, int | None, int]] = []
        for rx in (_AGE_RANGE, _AGE_RANGE_BEFORE):
            for m in rx.finditer(sentence):
                candidates.append((int(m.group(1)), int(m.group(2)), m.start()))
        for rx in (_AGE_MIN, _AGE_MIN_LABEL, _AGE_MUST_BE):
            for m in rx.finditer(sentence):
                candidates.append((int(m.group(1)), None, m.start()))
        for low, high, start in sorted(candidates, key=lambda c: c[2]):
            if not _plausible(low, high):
                continue
            if _CHILDREN.search(sentence[max(0, start - 60) : start]):
                continue
            return low, high
    return None, None


def of_listing(raw: RawOpportunity, title: str, text: str, kind: ActivityType,
               programme_name: str | None) -> Eligibility:
    """Who may take part: the ages the text states, else (for volunteering and
    solidarity projects) the programme's rule; the countries volunteers may
    come from, as the source lists them; the languages the text requires."""
    age_min, age_max = age_range(text)
    if age_min is None and kind.value in ("volunteering", "volunteering_team", "solidarity_project"):
        age_min, age_max = programme.programme_age(
            programme_name, programme.humanitarian(title, raw.structured))
    residence = [c for c in (country_code(x) for x in raw.eligible_countries) if c]
    return Eligibility(age_min=age_min, age_max=age_max, residence_countries=residence,
                       languages=language.required_languages(text))
