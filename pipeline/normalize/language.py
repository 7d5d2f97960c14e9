"""Languages: what a listing is written in, and which languages it asks for.

``detect_language`` uses lingua, restricted to the EU/EEA languages plus
Russian, Ukrainian, Arabic and Turkish (the languages our sources publish
in); short or ambiguous texts fall back to the source's declared language.

``required_languages`` reads requirements from free text in the languages we
crawl ("English B1 is required", "no Latvian needed", "знание латышского
языка не требуется", "nav nepieciešamas latviešu valodas zināšanas",
"Deutschkenntnisse auf Niveau C1", "se valora inglés"). A language named
without any requirement wording and without a CEFR level ("Polish
conversation clubs", "teach English") is not a requirement. Each mention is
resolved by, in order: the wording after it (up to the next language named),
a CEFR level near it (required unless the wording before says otherwise), the
wording before it in the same clause ("Voraussetzungen: Deutschkenntnisse"),
and a list it belongs to ("Latvian or Russian is not required"). Required
languages joined by "or" in any of these languages ("English or Russian",
"angļu vai krievu", "English, Russian or Ukrainian") are alternatives: one
requirement that any of them meets (``LanguageRequirement.one_of``); "and"
and a bare comma keep requirements apart.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pycld2

from pipeline.events import LanguageRequirement
from pipeline.normalize.text import literal_alternation, sentences

# ------------------------------------------------------------------ detection

_DETECTABLE = [
    "BULGARIAN", "CROATIAN", "CZECH", "DANISH", "DUTCH", "ENGLISH", "ESTONIAN", "FINNISH", "FRENCH", "GERMAN",
    "GREEK", "HUNGARIAN", "ICELANDIC", "IRISH", "ITALIAN", "LATVIAN", "LITHUANIAN", "BOKMAL", "POLISH",
    "PORTUGUESE", "ROMANIAN", "SLOVAK", "SLOVENE", "SPANISH", "SWEDISH", "RUSSIAN", "UKRAINIAN", "ARABIC",
    "TURKISH"
]
MIN_DETECT_CHARS = 25
MIN_CONFIDENCE = 0.5
SAMPLE_CHARS = 250  # the title and the opening: enough to tell, and fast
# Most listings are told apart by their first 100 characters already: a
# verdict that sure is kept, and only the rest pay for the full sample. On
# the benchmark corpus (4,214 real listings) this changes no verdict and
# halves lingua's time, a third of the normalizer's.
QUICK_CHARS = 100
QUICK_CONFIDENCE = 0.99
# Before lingua, CLD2 (Chromium's detector, about 20 times faster) reads the
# sample: when it calls its verdict reliable, finds at least this share of
# the text in that one language, and the language is one of ours, lingua is
# not asked. On the benchmark corpus (4,214 real listings) that is 73% of
# them. On every listing with a description the two agree; they differ only
# on 120 title-only listings, where lingua's low-accuracy mode misreads
# short English titles ("Volunteering in Waldorf Open school in Vilnius,
# Lithuania" as Lithuanian) and CLD2 is right on about 114 of them.
CLD2_PERCENT = 95


@lru_cache(maxsize=1)
def _detector():
    from lingua import Language, LanguageDetectorBuilder

    languages = [getattr(Language, name) for name in _DETECTABLE]
    return LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode().build()


def _code(language) -> str:
    code = language.iso_code_639_1.name.lower()
    return "no" if code == "nb" else code


@lru_cache(maxsize=1)
def _codes() -> frozenset[str]:
    from lingua import Language

    return frozenset(_code(getattr(Language, name)) for name in _DETECTABLE)


def _clear_verdict(sample: str) -> str | None:
    """CLD2's verdict on ``sample`` when it is beyond doubt (see CLD2_PERCENT)."""
    try:
        reliable, _bytes, found = pycld2.detect(sample, isPlainText=True)
    except (pycld2.error, UnicodeError, ValueError):  # e.g. lone surrogates
        return None
    code = found[0][1] if found else ""
    if reliable and found[0][2] >= CLD2_PERCENT and code in _codes():
        return code
    return None


def detect_language(text: str, hint: str | None = None) -> str | None:
    """ISO 639-1 code of ``text``'s language, or ``hint`` when unsure."""
    hint = (hint or "").strip().lower()[:2] or None
    sample = text[:SAMPLE_CHARS]
    if len(sample.strip()) < MIN_DETECT_CHARS:
        return hint
    if (clear := _clear_verdict(sample)) is not None:
        return clear
    detector = _detector()
    if len(sample) > QUICK_CHARS and len(sample[:QUICK_CHARS].strip()) >= MIN_DETECT_CHARS:
        quick = detector.compute_language_confidence_values(sample[:QUICK_CHARS])
        if quick and quick[0].value >= QUICK_CONFIDENCE:
            return _code(quick[0].language)
    values = detector.compute_language_confidence_values(sample)
    if not values:
        return hint
    best = values[0]
    if best.value < MIN_CONFIDENCE and hint:
        return hint
    return _code(best.language)


# ---------------------------------------------------------------- requirements

# Language names in the languages we read, as regexes over lowercased words.
_NAMES: dict[str, str] = {
    # English
    r"english": "en", r"latvian": "lv", r"russian": "ru", r"ukrainian": "uk", r"german": "de",
    r"french": "fr", r"spanish|castilian": "es", r"italian": "it", r"polish": "pl",
    r"lithuanian": "lt", r"estonian": "et", r"portuguese": "pt", r"greek": "el",
    r"arabic": "ar", r"turkish": "tr", r"dutch": "nl", r"swedish": "sv", r"finnish": "fi",
    r"czech": "cs", r"slovak": "sk", r"sloven(?:e|ian)": "sl", r"hungarian": "hu",
    r"romanian": "ro", r"bulgarian": "bg", r"croatian": "hr",
    # Latvian
    r"angļu": "en", r"latviešu": "lv", r"krievu": "ru", r"ukraiņu": "uk", r"vācu": "de",
    r"franču": "fr", r"spāņu": "es", r"itāļu": "it", r"poļu": "pl", r"lietuviešu": "lt",
    r"igauņu": "et", r"arābu": "ar", r"turku": "tr",
    # Russian / Ukrainian
    r"английск\w*": "en", r"латышск\w*": "lv", r"русск\w*": "ru", r"украинск\w*": "uk",
    r"немецк\w*": "de", r"французск\w*": "fr", r"испанск\w*": "es", r"итальянск\w*": "it",
    r"польск\w*": "pl", r"литовск\w*": "lt", r"эстонск\w*": "et", r"арабск\w*": "ar",
    r"англійськ\w*": "en", r"латиськ\w*|латвійськ\w*": "lv", r"російськ\w*": "ru",
    r"українськ\w*": "uk", r"німецьк\w*": "de", r"французьк\w*": "fr", r"іспанськ\w*": "es",
    r"італійськ\w*": "it", r"польськ\w*": "pl", r"литовськ\w*": "lt", r"естонськ\w*": "et",
    # German (compounds such as Deutschkenntnisse included)
    r"englisch\w*": "en", r"lettisch\w*": "lv", r"russisch\w*": "ru", r"ukrainisch\w*": "uk",
    r"deutsch(?!land)\w*": "de", r"französisch\w*": "fr", r"spanisch\w*": "es",
    r"italienisch\w*": "it", r"polnisch\w*": "pl", r"litauisch\w*": "lt", r"estnisch\w*": "et",
    r"arabisch\w*": "ar", r"türkisch\w*": "tr",
    # French, Spanish, Italian
    r"anglais": "en", r"letton": "lv", r"russe": "ru", r"ukrainien": "uk", r"allemand": "de",
    r"français|francais": "fr", r"espagnol": "es", r"italien": "it", r"polonais": "pl",
    r"lituanien": "lt", r"estonien": "et", r"arabe": "ar", r"turc": "tr",
    r"inglés|ingles|inglese": "en", r"letón|lettone": "lv", r"ruso|russo": "ru",
    r"ucraniano|ucraino": "uk", r"alemán|tedesco": "de", r"francés|francese": "fr",
    r"español|castellano|spagnolo": "es", r"italiano": "it", r"polaco|polacco": "pl",
    r"lituano": "lt", r"estonio|estone": "et", r"árabe|arabo": "ar", r"turco": "tr",
    # Polish, Lithuanian, Estonian
    r"angielsk\w*": "en", r"łotewsk\w*": "lv", r"rosyjsk\w*": "ru", r"ukraińsk\w*": "uk",
    r"niemieck\w*": "de", r"francusk\w*": "fr", r"hiszpańsk\w*": "es", r"włosk\w*": "it",
    r"polsk\w*": "pl", r"litewsk\w*": "lt", r"estońsk\w*": "et",
    r"anglų": "en", r"latvių": "lv", r"rusų": "ru", r"ukrainiečių": "uk", r"vokiečių": "de",
    r"prancūzų": "fr", r"ispanų": "es", r"italų": "it", r"lenkų": "pl", r"lietuvių": "lt",
    r"estų": "et",
    r"inglise": "en", r"läti": "lv", r"vene": "ru", r"saksa": "de", r"prantsuse": "fr",
    r"hispaania": "es", r"itaalia": "it", r"poola": "pl", r"leedu": "lt", r"eesti": "et",
}
_NAME_PATTERNS = [(re.compile(rx, re.IGNORECASE), code) for rx, code in _NAMES.items()]
_WORDS = re.compile(r"\w+")


def _literal_starts(rx: str) -> set[str]:
    """The literal text each top-level alternative of ``rx`` starts with."""
    alternatives, depth, current = [], 0, ""
    for ch in rx:
        depth += (ch == "(") - (ch == ")")
        if ch == "|" and depth == 0:
            alternatives.append(current)
            current = ""
        else:
            current += ch
    alternatives.append(current)
    return {re.split(r"[\\.^$*+?{}\[\]()|]", alt, maxsplit=1)[0].lower() for alt in alternatives}


# Every language name starts with one of these stems, so a text or sentence
# with none of them names no language: most listings (all but 377 of the
# 4,214 in the benchmark corpus) skip the word-by-word look. Searched in the
# lowercased text, case-sensitively, which is about 3x faster than IGNORECASE.
_NAME_STEMS = set().union(*(_literal_starts(rx) for rx in _NAMES))
assert "" not in _NAME_STEMS
_ANY_NAME = re.compile(r"\b(?:" + literal_alternation(_NAME_STEMS) + ")")
# A word can only be a name if it starts like one of them.
_NAME_PREFIXES = {stem[:3] for stem in _NAME_STEMS}


def _may_name_a_language(text: str) -> bool:
    lowered = text.lower()
    # A character whose lowercase is longer (such as "İ") could hide a name
    # from the lowercased text: such text takes the full look.
    return len(lowered) != len(text) or _ANY_NAME.search(lowered) is not None


def _language_of(word: str) -> str | None:
    if word[:3].lower() not in _NAME_PREFIXES:
        return None
    for pattern, code in _NAME_PATTERNS:
        if pattern.fullmatch(word):
            return code
    return None

_NEG = re.compile(
    r"\b(?:not|no)\b[^.;]{0,30}\b(?:required|needed|necessary|mandatory|obligatory|essential|a must)"
    r"|\bnot (?:required|needed|necessary|mandatory)|nav (?:nepieciešam|obligāt|jāzina|vajadzīg)"
    r"|не (?:требуется|нуж(?:ен|н)|обязател|необходим|обов|потрібн)"
    r"|nicht (?:erforderlich|notwendig|nötig|vorausgesetzt|zwingend)|\bkeine \w*kenntnisse"
    r"|pas (?:obligatoire|nécessaire|requis|exigé)|no (?:es|son) (?:necesari|obligatori|imprescindible)"
    r"|no se (?:requiere|necesita)|non (?:è |sono )?(?:richiest|necessari|obbligatori)"
    r"|nie (?:jest |są )?(?:wymagan|konieczn|potrzebn)|niewymagan|nebūtin|nereikia"
    r"|ei ole (?:vajalik|nõutud|kohustuslik)|pole (?:vajalik|nõutud)",
    re.IGNORECASE,
)
_OPT = re.compile(
    r"\b(?:asset|advantage|advantageous|plus|helps|helpful|desirable|nice to have|welcome"
    r"|preferred|preferable)\b|priekšrocīb|vēlam|преимуществ|приветству|желательн|плюсом"
    r"|перевага|перевагою|бажан|вітається|von vorteil|vorteilhaft|wünschenswert|erwünscht"
    r"|willkommen|atout|souhait|apprécié|un plus|se valora|valorará|deseable|preferib|gradit"
    r"|vantaggio|mile widzian|\batut|pożądan|pageidautin|privalum|kasuks|eelis|soovitav",
    re.IGNORECASE,
)
_REQ = re.compile(
    r"\b(?:required|requires?|requirements?|necessary|must|mandatory|obligatory|essential"
    r"|needed|need|fluent|fluency|native|proficien\w*)\b|nepieciešam|obligāt|jāzina|prasīb"
    r"|требуется|требовани|обязател|необходим|нуж(?:ен|н)|обов.язков|необхідн|потрібн|вимог"
    r"|erforderlich|vorausgesetzt|voraussetzung|notwendig|\bmuss\b|fließend|requis|obligatoire"
    r"|exigé|nécessaire|courant|se requiere|requisit|imprescindible|necesari|obligatori|nativ"
    r"|richiest|obbligatori|indispensabil|wymagan|niezbędn|konieczn|obowiązk|biegł|būtin"
    r"|reikalaujam|privalom|reikia|vajalik|nõutud|kohustuslik|nõue",
    re.IGNORECASE,
)
_LEVEL = re.compile(r"\b([ABC][12])\b")
# "or" in the languages we read. Two required languages with only one of
# these between them (and a comma, a hyphen, a CEFR level, brackets or the
# word for "language": "Englisch- oder Deutschkenntnisse", "English (B2) or
# Russian", "angļu valoda vai krievu valoda") are alternatives.
OR_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("or", "and/or"), "lv": ("vai",), "ru": ("или", "либо", "и/или"), "uk": ("або", "чи", "і/або"),
    "de": ("oder", "und/oder"), "fr": ("ou", "et/ou"), "es": ("o", "ó", "u", "y/o"), "it": ("o", "oppure", "e/o"),
    "pl": ("lub", "albo", "bądź", "i/lub"), "lt": ("arba",), "et": ("või", "ja/või"),
}
# The word for "language" in those languages, which may stand between the two.
_LANGUAGE_NOUNS = (r"languages?|valod\w*|язык\w*|мов[аиуо]\w*|sprache\w*|langues?|lenguas?|idiomas?"
                   r"|lingu[ae]|język\w*|kalb\w*|keel\w*")
_GAP_FILLER = re.compile(rf"\b(?:[ABC][12]|{_LANGUAGE_NOUNS})\b|[()\[\]]", re.IGNORECASE)
_OR_WORD = "|".join(sorted({re.escape(w) for words in OR_WORDS.values() for w in words}, key=len, reverse=True))
_OR_GAP = re.compile(rf"^[\s,\-–]*(?:{_OR_WORD})\s*$", re.IGNORECASE)
_COMMA_GAP = re.compile(r"^\s*,\s*$")
# Words that join the languages of a list: one resolved member resolves the others.
_LIST_GAP = re.compile(
    r"^[\s,-]*(?:,|/|\band\b|\bor\b|\bvai\b|\bun\b|\bи\b|\bили\b|\bі\b|\bабо\b|\bчи\b|\bund\b|\boder\b"
    r"|\bet\b|\bou\b|\by\b|\bo\b|\be\b|\bed\b|\bi\b|\blub\b|\balbo\b|\bar\b|\bir\b|\barba\b"
    rf"|\bja\b|\bvõi\b|{_OR_WORD})\s*$",
    re.IGNORECASE,
)
_CLAUSES = re.compile(r"\s[–—-]\s|;")


def is_language_name(word: str) -> bool:
    return _language_of(word) is not None


def _polarity(text: str) -> bool | None:
    if _NEG.search(text) or _OPT.search(text):
        return False
    if _REQ.search(text):
        return True
    return None


def _mentions(clause: str) -> list[tuple[int, int, str]]:
    found = []
    for m in _WORDS.finditer(clause):
        code = _language_of(m.group(0))
        if code:
            found.append((m.start(), m.end(), code))
    return found


def _gap(clause: str, mentions: list[tuple[int, int, str]], i: int) -> str:
    """The text between mention ``i`` and the next, without levels, brackets
    and the word "language" ("English (B2) or Russian", "angļu valoda vai krievu")."""
    return _GAP_FILLER.sub(" ", clause[mentions[i][1] : mentions[i + 1][0]])


def _resolve_clause(clause: str) -> list[LanguageRequirement]:
    mentions = _mentions(clause)
    n = len(mentions)
    gaps = [_gap(clause, mentions, i) for i in range(n - 1)]
    required: list[bool | None] = [None] * n
    levels: list[str | None] = [None] * n
    for i, (start, _end, _code) in enumerate(mentions):
        fwd = clause[start : mentions[i + 1][0] if i + 1 < n else len(clause)]
        prev_end = mentions[i - 1][1] if i else 0
        back = clause[prev_end:start]
        back = back[back.rfind(",") + 1 :]
        # A level before the name counts only when no other language precedes it.
        level = _LEVEL.search(fwd) or (_LEVEL.search(back) if i == 0 else None)
        levels[i] = level.group(1) if level else None
        if _NEG.search(back + fwd):
            required[i] = False
        elif (pol := _polarity(fwd)) is not None:
            required[i] = pol
        elif level:
            required[i] = _polarity(back) is not False
        else:
            required[i] = _polarity(back)
    # Lists: "Latvian or Russian is not required" -> both inherit the resolved neighbour.
    for _ in range(n):
        for i in range(n):
            if required[i] is not None:
                continue
            if i + 1 < n and required[i + 1] is not None and _LIST_GAP.match(gaps[i]):
                required[i] = required[i + 1]
            elif i and required[i - 1] is not None and _LIST_GAP.match(gaps[i - 1]):
                required[i] = required[i - 1]
    groups = _alternatives(gaps, [code for _s, _e, code in mentions], required)
    return [
        LanguageRequirement(language=code, level=levels[i], required=bool(required[i]), one_of=groups[i])
        for i, (_s, _e, code) in enumerate(mentions)
        if required[i] is not None
    ]


def _alternatives(gaps: list[str], codes: list[str], required: list[bool | None]) -> list[int | None]:
    """The group of alternatives (numbered from 1 in this clause) of each
    mention, ``None`` for one standing alone. Required neighbours joined by
    "or" are alternatives, and so is a list before a closing "or" ("English,
    Russian or Ukrainian"); "or" and commas join nothing else ("English or
    Russian, German": two requirements)."""
    kinds: list[str | None] = [
        ("or" if _OR_GAP.match(gap) else "," if _COMMA_GAP.match(gap) else None)
        if required[i] is True and required[i + 1] is True else None
        for i, gap in enumerate(gaps)
    ]
    groups: list[int | None] = [None] * len(codes)
    number = 0
    for i, kind in enumerate(kinds):
        if kind == ",":
            after = next((k for k in kinds[i + 1 :] if k != ","), None)
            before = next((k for k in reversed(kinds[:i]) if k != ","), None)
            joins = after == "or" and before != "or"
        else:
            joins = kind == "or"
        if joins and codes[i] != codes[i + 1]:
            if groups[i] is None:
                number += 1
                groups[i] = number
            groups[i + 1] = groups[i]
    return groups


def _add(out: dict[str, LanguageRequirement], group: list[LanguageRequirement], groups: int) -> int:
    """Add one requirement (a language, or a group of alternatives) to
    ``out``, where an earlier statement of a language wins; returns the
    number of groups in ``out``. Alternatives of which an earlier
    statement already requires one add nothing: that one covers them."""
    new = [r for r in group if r.language not in out]
    for req in group:
        known = out.get(req.language)
        if known is not None and known.level is None and req.level and known.required == req.required:
            known.level = req.level
    if len(group) > 1 and any(out[r.language].required for r in group if r.language in out):
        new = []
    one_of = None
    if len({r.language for r in new}) > 1:
        groups += 1
        one_of = groups
    for req in new:
        out.setdefault(req.language, req.model_copy(update={"one_of": one_of}))
    return groups


def required_languages(text: str) -> list[LanguageRequirement]:
    """Language requirements stated in ``text``, one per language (first
    statement wins); alternatives share a ``one_of`` number (1, 2…)."""
    out: dict[str, LanguageRequirement] = {}
    if not _may_name_a_language(text):
        return []
    groups = 0
    for sentence in sentences(text):
        if not _may_name_a_language(sentence):
            continue
        for clause in _CLAUSES.split(sentence):
            stated: dict[object, list[LanguageRequirement]] = {}
            for i, req in enumerate(_resolve_clause(clause)):
                stated.setdefault(i if req.one_of is None else ("one_of", req.one_of), []).append(req)
            for group in stated.values():
                groups = _add(out, group, groups)
    return list(out.values())
