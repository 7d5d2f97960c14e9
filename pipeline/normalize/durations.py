"""Durations: how long an activity lasts, from the source's word, the dates, then the text.

``duration`` reads spans ("10 months", "for two weeks", "sechs Monate"), the
long-term and ongoing wording, and classifies: one-off (≤ 3 days),
short-term (< 60 days), long-term, ongoing. Unparseable text yields
``DurationClass.unknown``, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from pipeline.events import DurationClass
from pipeline.normalize.text import literal_alternation

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "ein": 1, "eine": 1, "einen": 1, "zwei": 2, "drei": 3, "vier": 4, "fünf": 5, "sechs": 6,
    "sieben": 7, "acht": 8, "neun": 9, "zehn": 10, "elf": 11, "zwölf": 12,
    "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "sept": 7,
    "huit": 8, "neuf": 9, "dix": 10, "douze": 12,
    "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8,
    "nueve": 9, "diez": 10, "doce": 12, "due": 2, "tre": 3, "quattro": 4, "cinque": 5,
    "sei": 6, "sette": 7, "otto": 8, "nove": 9, "dieci": 10, "dodici": 12,
    "divas": 2, "divi": 2, "trīs": 3, "četri": 4, "pieci": 5, "seši": 6, "desmit": 10,
    "два": 2, "две": 2, "три": 3, "четыре": 4, "пять": 5, "шесть": 6, "девять": 9,
    "десять": 10, "двенадцать": 12, "дві": 2, "шість": 6, "дев'ять": 9,
    "dwa": 2, "dwie": 2, "trzy": 3, "sześć": 6, "dwanaście": 12,
    "du": 2, "dvi": 2, "šeši": 6, "kaks": 2, "kuus": 6,
}
_UNITS = [
    (r"days?|dienas|dienu|dienām|дн\w*|день|tage?n?|jours?|d[ií]as?|giorn[oi]|dni|dzień|dien\w*|päev\w*", 1),
    (r"weeks?|nedēļ\w*|недел\w*|тиж\w*|wochen?|semaines?|semanas?|settiman\w*|tygod\w*|savait\w*|nädal\w*", 7),
    (r"months?|mēneš\w*|mēnes\w*|месяц\w*|місяц\w*|monate?n?|mois|mes(?:es)?|mes[ei]|miesi\w*|mėnes\w*|kuu\w*", 30),
    (r"years?|gad[siuaā]\w*|год\w*|лет|рок\w*|jahre?n?|ans?|años?|ann[oi]|lat|rok|met\w*|aasta\w*", 365),
]
_NUM = r"\d{1,3}|" + literal_alternation(_NUMBER_WORDS)
_SPAN = re.compile(
    rf"(?<![\w])(?P<a>{_NUM})(?:\s*(?:-|–|to|до|līdz|bis|à|a|do|iki)\s*(?P<b>{_NUM}))?[\s-]*"
    r"(?P<unit>" + "|".join(f"(?:{u})" for u, _ in _UNITS) + r")(?![\w])",
)
_LONG_TERM = re.compile(
    r"long[- ]term|ilgtermiņa|долгосрочн|довгостроков|langfristig|long terme|largo plazo"
    r"|lungo termine|długoterminow|ilgalaik|pikaajali")
_SHORT_TERM = re.compile(
    r"short[- ]term|īstermiņa|краткосрочн|короткостроков|kurzfristig|court terme|corto plazo"
    r"|breve termine|krótkoterminow|trumpalaik|lühiajali")
_ONGOING = re.compile(  # o(?<!\w.)ngoing is \bongoing, but faster to search (programme.py)
    r"o(?<!\w.)ngoing\b|r(?<!\w.)egular(?:ly)?\b|every (?:week|day|monday|tuesday|wednesday|thursday|friday"
    r"|saturday|sunday)|once a week|weekly\b|any time|pastāvīg|regulār|katru (?:nedēļ|sestdien"
    r"|svētdien|dien|pirmdien|otrdien|trešdien|ceturtdien|piektdien)|jebkurā laikā|постоянн"
    r"|регулярн|на постоянной основе|каждую неделю|постійн|щотижн|regelmäßig|unbefristet"
    r"|wöchentlich|pro woche|jeden (?:montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag)"
    r"|täglich|régulier|chaque (?:semaine|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)"
    r"|continuo|cada semana|regolar|ogni settimana|stał\w* wolontariat|regularn|co tydzień|nuolat"
    r"|reguliar|kiekvien\w* savait|pidev|kord nädalas|igal nädalal",
)
_FOR = re.compile(
    r"(?:\bfor|during|uz|на|für|pendant|durante|\bper|przez|\bna|\bkestel|\bdauer)\s*$",)
_UNIT_DAYS = [(re.compile(rf"^(?:{u})$"), d) for u, d in _UNITS]


def _number(token: str) -> int | None:
    if token.isdigit():
        return int(token)
    return _NUMBER_WORDS.get(token.lower())


def _unit_days(word: str) -> int | None:
    for rx, days in _UNIT_DAYS:
        if rx.match(word):
            return days
    return None


@dataclass(frozen=True)
class Duration:
    cls: DurationClass
    min_days: int | None = None
    max_days: int | None = None


def span_days(text: str) -> tuple[int, int] | None:
    """The first duration span in ``text`` as (min, max) days: "2–12 months" → (60, 360)."""
    text = text.lower()
    for m in _SPAN.finditer(text):
        low = _number(m.group("a"))
        high = _number(m.group("b")) if m.group("b") else None
        unit = _unit_days(m.group("unit"))
        if low is None or unit is None or low == 0 or low > 400:
            continue
        # "16 years" is usually an age; a span of years needs a duration word.
        if unit == 365 and not _FOR.search(text[max(0, m.start() - 14) : m.start()]):
            continue
        return low * unit, (high or low) * unit
    return None


def classify_days(days: int) -> DurationClass:
    if days <= 3:
        return DurationClass.one_off
    if days < 60:
        return DurationClass.short_term
    return DurationClass.long_term


def duration(start: date | None, end: date | None, text: str,
             declared: str | None = None, *, start_is_day: bool = True) -> Duration:
    """Duration class and span from the source's own word, the dates, then the text."""
    word = (declared or "").strip().lower()
    text = text.lower()
    if word in {"onetime", "one-time", "one time", "once", "one-off", "single"}:
        # an end before the start is a source's slip: the span is unknown, not negative
        days = (end - start).days + 1 if start and end and end >= start else None
        return Duration(DurationClass.one_off, days, days)
    if word in {"ongoing", "recurring", "regular", "continuous"}:
        return Duration(DurationClass.ongoing)
    if word:
        text = f"{word}. {text}"
    if start and end and end >= start:
        days = (end - start).days + 1
        return Duration(classify_days(days), days, days)
    span = span_days(text)
    if span:
        return Duration(classify_days(span[1]), span[0], span[1])
    if _LONG_TERM.search(text):
        return Duration(DurationClass.long_term)
    if _ONGOING.search(text):
        return Duration(DurationClass.ongoing)
    if _SHORT_TERM.search(text):
        return Duration(DurationClass.short_term)
    if start and not end and start_is_day:  # a single dated day: an event
        return Duration(DurationClass.one_off)
    return Duration(DurationClass.unknown)
