"""Dates and durations from structured values and free text.

Structured values are read exactly when they are ISO 8601, RFC 2822 (feeds) or
Unix timestamps; other strings go through our own multilingual patterns and
then dateparser with the source's language. Free text is scanned with
patterns for the forms real listings use in lv, lt, en, ru, uk, de, fr, es,
it, pl and et, including the inflected official forms plain dateparser misses
("2026. gada 3. aprīlī", "2026 m. gruodžio 10 d.", "до 20 декабря 2026 г.",
"15.12.2026", "20 de enero de 2027"). A date without a year is the next such
date on or after the crawl time; a month alone is its first day for a start
and its last day for an end.

``text_dates`` classifies the dates it finds by the words around them:
application deadline ("Bewerbungsschluss", "pieteikšanās līdz", "заявки
принимаются до", "date limite"...), a period ("from … to …", "no … līdz …",
"с … по …", "od … do …"), or a single day (a start). Unparseable text
yields ``None``, never a guess. ``period`` and ``published`` read a listing's
dates, fields first, and drop those outside 1990–2100. Durations are in
``durations``.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime

import dateparser

from pipeline.events import RawOpportunity
from pipeline.normalize.text import literal_alternation, sentences

_MONTH_FORMS = {
    1: "january jan janvāris janvārī janvāra janvārim января январь январе січня січень січні "
       "januar jänner janvier enero gennaio stycznia styczeń styczniu sausio sausis jaanuar "
       "jaanuaril jaanuari",
    2: "february feb februāris februārī februāra februārim февраля февраль феврале лютого лютий "
       "лютому februar février fevrier febrero febbraio lutego luty vasario vasaris veebruar "
       "veebruaril veebruari",
    3: "march mar marts martā marta martam марта март марте березня березень березні märz maerz "
       "mars marzo marca marzec kovo kovas märts märtsil märtsi",
    4: "april apr aprīlis aprīlī aprīļa aprīlim апреля апрель апреле квітня квітень квітні "
       "avril abril aprile kwietnia kwiecień balandžio balandis aprill aprillil aprilli",
    5: "may maijs maijā maija maijam мая май мае травня травень травні mai mayo maggio maja maj "
       "gegužės gegužė mail",
    6: "june jun jūnijs jūnijā jūnija jūnijam июня июнь июне червня червень червні juni juin "
       "junio giugno czerwca czerwiec birželio birželis juuni juunil",
    7: "july jul jūlijs jūlijā jūlija jūlijam июля июль июле липня липень липні juli juillet "
       "julio luglio lipca lipiec liepos liepa juuli juulil",
    8: "august aug augusts augustā augusta augustam августа август августе серпня серпень серпні "
       "août aout agosto sierpnia sierpień rugpjūčio rugpjūtis augustil augusti",
    9: "september sep sept septembris septembrī septembra septembrim сентября сентябрь сентябре "
       "вересня вересень вересні septembre septiembre setiembre settembre września wrzesień "
       "rugsėjo rugsėjis septembril septembri",
    10: "october oct oktobris oktobrī oktobra oktobrim октября октябрь октябре жовтня жовтень "
        "жовтні oktober octobre octubre ottobre października październik spalio spalis "
        "oktoober oktoobril oktoobri",
    11: "november nov novembris novembrī novembra novembrim ноября ноябрь ноябре листопада "
        "листопад листопаді novembre noviembre listopada listopad lapkričio lapkritis "
        "novembril novembri",
    12: "december dec decembris decembrī decembra decembrim декабря декабрь декабре грудня "
        "грудень грудні dezember décembre decembre diciembre dicembre grudnia grudzień gruodžio "
        "gruodis detsember detsembril detsembri",
}
MONTHS: dict[str, int] = {
    form: number for number, forms in _MONTH_FORMS.items() for form in forms.split()
}
# Month words that are also ordinary words: only read with a day or a year.
_AMBIGUOUS_ALONE = {"may", "mar", "jun", "jul", "aug", "sep", "oct", "nov", "dec", "jan", "feb",
                    "apr", "sept", "mai", "maj", "maja", "marta", "liepa", "luty"}

# The month forms as a trie: every date pattern tries them, at every
# position for "March 2027".
_MON = "(?P<mon>" + literal_alternation(MONTHS) + r")\.?"
_MON2 = _MON.replace("?P<mon>", "?P<mon2>")
_YEAR_TAIL = r"(?:\s*(?:г\.|года|год|року|р\.|r\.|m\.|a\.))?"
_PATTERNS = [
    # 2026. gada 12. decembrī (lv)
    rf"(?P<y>\d{{4}})\.?\s*gada\s+(?P<d>\d{{1,2}})\.\s*{_MON}",
    # 2026 m. gruodžio 10 d. (lt)
    rf"(?P<y>\d{{4}})\s*m\.\s*{_MON}\s+(?P<d>\d{{1,2}})\s*d\.?",
    # 4 [-|–|to|do|до|bis|…] 6 grudnia 2026 r. : a range inside one month
    rf"(?P<d0>\d{{1,2}})\.?\s*(?:-|–|—|to|do|до|по|bis|au|al|iki|līdz|kuni)\s*(?P<d>\d{{1,2}})\.?"
    rf"\s*(?:de\s+)?{_MON}(?:\s*(?:de\s+)?,?\s*(?P<y>\d{{4}}){_YEAR_TAIL})?",
    # 20 декабря 2026 г. / 12. decembrī / 15 décembre 2026 / 20 de enero de 2027 / 1st May 2027
    rf"(?P<d>\d{{1,2}})(?:\.|st|nd|rd|th)?\s*(?:de\s+)?{_MON}(?:\s*(?:de\s+)?,?\s*(?P<y>\d{{4}})"
    rf"{_YEAR_TAIL})?",
    # September 12 2011 / April 30, 2011
    rf"{_MON}\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})",
    # 2027-01-15 / 15.12.2026 / 15/12/2026
    r"(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})",
    r"(?P<nd>\d{1,2})[./](?P<nm>\d{1,2})[./](?P<ny>\d{4})",
    # 2027. gada martā / marts 2027 / March 2027 (month only)
    rf"(?P<y>\d{{4}})\.?\s*gada\s+{_MON}",
    rf"{_MON}\s+(?P<y>\d{{4}})",
]
def _compile() -> re.Pattern[str]:
    parts = []
    for i, pattern in enumerate(_PATTERNS):
        # Each alternative gets its own group names: p3_d, p3_mon, ...
        parts.append(re.sub(r"\?P<(\w+)>", rf"?P<p{i}_\1>", pattern))
    return re.compile(r"(?<![\w])(?:" + "|".join(f"(?:{p})" for p in parts) + r")(?![\w])")


_DATE_RE = _compile()
# A month alone after a start/end word: "ab Oktober", "no marta līdz augustam".
_BARE_MONTH = re.compile(
    r"(?<![\w])(?P<cue>from|since|starting|ab|von|vom|no|līdz|to|until|till|bis|с|по|з|до|od|do|"
    r"nuo|iki|à partir d[e']|de|du|au|a|desde|hasta|dal|al|fino a|alates|kuni)\s+"
    + _MON.replace("?P<mon>", "?P<bmon>") + r"(?![\w])"
)


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    year: int | None
    month: int
    day: int | None  # None: a month alone
    day0: int | None = None  # first day of an in-month range


def _found(m: re.Match[str]) -> Found | None:
    groups = {k.split("_", 1)[1]: v for k, v in m.groupdict().items() if v is not None}
    try:
        if "iy" in groups:
            return Found(m.start(), m.end(), int(groups["iy"]), int(groups["im"]), int(groups["id"]))
        if "ny" in groups:
            return Found(m.start(), m.end(), int(groups["ny"]), int(groups["nm"]), int(groups["nd"]))
        month = MONTHS[groups["mon"].lower().rstrip(".")]
        year = int(groups["y"]) if "y" in groups else None
        day = int(groups["d"]) if "d" in groups else None
        day0 = int(groups["d0"]) if "d0" in groups else None
    except (KeyError, ValueError):
        return None
    if day is None and year is None:
        return None
    return Found(m.start(), m.end(), year, month, day, day0)


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def resolve(found: Found, base: date, *, end: bool = False, first: bool = False) -> date | None:
    """A concrete date for ``found``; a missing year is the next one on/after ``base``."""
    if not 1 <= found.month <= 12:
        return None
    day = found.day0 if first and found.day0 else found.day
    if day is None:
        day = calendar.monthrange(found.year or base.year, found.month)[1] if end else 1
    if found.year is not None:
        return _valid(found.year, found.month, day) if 1900 <= found.year <= 2200 else None
    candidate = _valid(base.year, found.month, day)
    if candidate is not None and candidate < base - timedelta(days=1):
        candidate = _valid(base.year + 1, found.month, day)
    return candidate


_DIGIT = re.compile(r"\d")


def find_dates(text: str) -> list[Found]:
    """Dates in ``text``, which must already be lower-case."""
    out = ([f for m in _DATE_RE.finditer(text) if (f := _found(m))]
           if _DIGIT.search(text) else [])  # every full pattern has a digit
    taken = [(f.start, f.end) for f in out]
    for m in _BARE_MONTH.finditer(text):
        word = m.group("bmon").lower().rstrip(".")
        if word in _AMBIGUOUS_ALONE:
            continue
        start = m.start("bmon")
        if any(a <= start < b for a, b in taken):
            continue
        out.append(Found(start, m.end(), None, MONTHS[word], None))
    return sorted(out, key=lambda f: f.start)


# ----------------------------------------------------------------- structured

_EPOCH = re.compile(r"^\d{9,10}(?:\.\d+)?$")


def parse_date(value: str | None, *, languages: list[str] | None = None,
               relative_base: datetime | None = None, end: bool = False) -> date | None:
    if not value or not value.strip():
        return None
    text = value.strip()[:200]
    if _EPOCH.match(text):
        return datetime.fromtimestamp(float(text), UTC).date()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        pass
    if "," in text[:5] or re.match(r"^\w{3}, \d", text):
        try:
            return parsedate_to_datetime(text).date()
        except (TypeError, ValueError, IndexError):
            pass
    base = (relative_base or datetime.now(UTC)).date()
    found = find_dates(text.lower())
    if found:
        return resolve(found[0], base, end=end)
    settings = {"PREFER_DAY_OF_MONTH": "first", "RETURN_AS_TIMEZONE_AWARE": False}
    if relative_base is not None:
        settings["RELATIVE_BASE"] = relative_base.replace(tzinfo=None)
    try:
        parsed = dateparser.parse(text, languages=languages or None, settings=settings)
        if parsed is None and languages:
            parsed = dateparser.parse(text, settings=settings)
    except (ValueError, OverflowError):  # dateparser raises on some nonsense
        return None
    return parsed.date() if parsed else None


# ------------------------------------------------------------------ free text

_DEADLINE_CUE = re.compile(
    r"deadline|apply (?:by|before|until)|applications? (?:close|until|by|before)|closing date"
    r"|pieteik\w*|termiņ\w*|заявк\w*|срок подачи|приём|прием|подати заявку|реєстрац\w*"
    r"|bewerbungsschluss|bewerbung\w* bis|anmeldeschluss|anmeldung bis|einsendeschluss"
    r"|date limite|candidat\w* (?:avant|jusqu)|inscri\w* (?:avant|jusqu)"
    r"|fecha l[ií]mite|plazo|inscripci\w* hasta|scadenza|iscrizion\w* entro|candidatur\w* entro"
    r"|entro il|termin zgłosze\w*|zgłoszeni\w* (?:do|przyjmujemy)|registracija iki|paraišk\w*"
    r"|registreerimise tähtaeg|tähtaeg|kandideeri\w*|registreeru\w*",
)
_RANGE_JOIN = re.compile(
    r"^\s*(?:-|–|—|to|until|till|bis|au|al|a|hasta|fino al|do|по|до|iki|līdz|kuni|and)\s*$",
)


@dataclass
class TextDates:
    start: date | None = None
    end: date | None = None
    deadline: date | None = None
    start_is_month: bool = False  # "ab Oktober": a month, not a day


def text_dates(text: str, base: date) -> TextDates:
    """Start, end and deadline stated in free text (see module doc)."""
    out = TextDates()
    for sentence in sentences(text):
        sentence = sentence.lower()
        found = find_dates(sentence)
        if not found:
            continue
        cue = _DEADLINE_CUE.search(sentence)
        if cue and out.deadline is None:
            after = [f for f in found if f.start >= cue.start()] or found
            out.deadline = resolve(after[0], base)
            found = [f for f in found if f is not after[0]]
            if not found:
                continue
        if out.start is not None:
            continue
        first = found[0]
        if first.day0 is not None:  # "4.–6. Dezember"
            out.start = resolve(first, base, first=True)
            out.end = resolve(first, base, end=True)
            continue
        if len(found) >= 2 and _RANGE_JOIN.match(sentence[first.end : found[1].start]):
            second = found[1]
            if first.year is None and second.year is not None:
                first = Found(first.start, first.end, second.year, first.month, first.day)
                start = resolve(first, base)
                end = resolve(second, base, end=True)
                if start and end and start > end:
                    start = resolve(Found(0, 0, second.year - 1, first.month, first.day), base)
            else:
                start = resolve(first, base)
                end_base = start or base
                end = resolve(second, end_base, end=True)
            out.start, out.end = start, end
        else:
            out.start = resolve(first, base)
            out.start_is_month = first.day is None
    return out


# ------------------------------------------------------------------ a listing

# Dates outside this window are a source's typo or a placeholder ("9999-12-31"):
# dropped (and named in provenance.dropped), never shown or computed with.
EARLIEST_DATE = date(1990, 1, 1)
LATEST_DATE = date(2100, 12, 31)


@dataclass(frozen=True)
class Period:
    start: date | None
    end: date | None
    deadline: date | None
    start_is_day: bool  # not a month alone ("ab Oktober")


def period(raw: RawOpportunity, text: str, languages: list[str], dropped: list[str]) -> Period:
    """When the activity runs and the deadline to apply: the source's fields,
    else what the text says (an end from the text only with the text's start)."""
    found = text_dates(text, raw.fetched_at.date())
    start = _field(raw, "start_date", languages, dropped) or _sane("start_date", found.start, dropped)
    end = _field(raw, "end_date", languages, dropped, end=True)
    if end is None and found.start in (None, start):
        end = _sane("end_date", found.end, dropped)
    deadline = _field(raw, "deadline", languages, dropped) or _sane("deadline", found.deadline, dropped)
    return Period(start, end, deadline, start_is_day=bool(raw.start_date) or not found.start_is_month)


def published(raw: RawOpportunity, languages: list[str], dropped: list[str]) -> tuple[date | None, date | None]:
    """When the source posted and last updated the listing."""
    return (_field(raw, "posted_date", languages, dropped),
            _field(raw, "updated_date", languages, dropped))


def _field(raw: RawOpportunity, name: str, languages: list[str], dropped: list[str], *,
           end: bool = False) -> date | None:
    value = parse_date(getattr(raw, name), languages=languages, relative_base=raw.fetched_at, end=end)
    return _sane(name, value, dropped)


def _sane(name: str, value: date | None, dropped: list[str]) -> date | None:
    """``value`` if within EARLIEST_DATE..LATEST_DATE, else None (noted in ``dropped``)."""
    if value is None or EARLIEST_DATE <= value <= LATEST_DATE:
        return value
    dropped.append(f"{name}: {value.isoformat()} is outside {EARLIEST_DATE.year}–{LATEST_DATE.year}")
    return None

