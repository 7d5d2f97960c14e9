"""Words of a query: tokens and their matching keys (case, accents, Arabic
spelling), and inflection: the stems of a place name's word per language and
a rough Cyrillic reading of a Latin transliteration."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from pipeline.normalize.text import fold

TOKEN = re.compile(r"[^\W_]+(?:['’ʼ`][^\W_]+)*", re.UNICODE)
_ELISION = re.compile(r"^(l|d|qu|j|n|s|c)['’ʼ`](?=\w)", re.IGNORECASE)  # French l'…, d'…
_APOSTROPHES = str.maketrans("", "", "'’ʼ`")
_ARABIC_MARKS = re.compile("[\u064b-\u065f\u0670\u0640]")  # harakat, dagger alif, tatweel
_ARABIC_LETTERS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه"})
ARABIC = re.compile("[\u0600-\u06ff]")
CYRILLIC = re.compile("[\u0400-\u04ff]")
_ARABIC_PREFIXES = ("وال", "بال", "فال", "كال", "لل", "ال")


def norm(word: str) -> str:
    """The matching form of a word: folded (case, accents), no apostrophes,
    Arabic letters unified (hamza forms of alif, alif maqsura, ta marbuta)."""
    key = fold(word).translate(_APOSTROPHES)
    if ARABIC.search(key):
        key = _ARABIC_MARKS.sub("", unicodedata.normalize("NFC", key)).translate(_ARABIC_LETTERS)
    return key


def arabic_bare(key: str) -> str:
    """An Arabic word without its article ("البيئة" → "بيئه")."""
    for prefix in ("ال",):
        if key.startswith(prefix) and len(key) - len(prefix) >= 2:
            return key[len(prefix):]
    return key


def _forms(key: str) -> tuple[str, ...]:
    """The keys a query word may stand for: itself; an Arabic word also
    without article and one-letter prefixes (و ب ل ف ك)."""
    if not ARABIC.search(key):
        return (key,)
    out = [key, arabic_bare(key)]
    for prefix in _ARABIC_PREFIXES:
        if key.startswith(prefix) and len(key) - len(prefix) >= 2:
            out.append(key[len(prefix):])
    if key[0] in "وبلفك" and len(key) >= 4:
        out.append(key[1:])
        out.append(arabic_bare(key[1:]))
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    raw: str
    key: str
    forms: tuple[str, ...]
    quoted: bool = False

    @property
    def capitalised(self) -> bool:
        return self.raw[:1].isupper()


def tokenize(q: str) -> list[Token]:
    quoted = [(m.start(), m.end()) for m in re.finditer(r'"[^"]*"|«[^»]*»|„[^“”]*[“”]', q)]
    out = []
    for m in TOKEN.finditer(q):
        start, raw = m.start(), m.group(0)
        elided = _ELISION.match(raw)
        if elided and len(raw) > elided.end() + 1:
            out.append(_token(q, start, start + elided.end() - 1, quoted))
            start += elided.end()
        out.append(_token(q, start, m.end(), quoted))
    return out


def _token(q: str, start: int, end: int, quoted: list[tuple[int, int]]) -> Token:
    raw = q[start:end]
    key = norm(raw)
    return Token(start, end, raw, key, _forms(key), any(a < start < b for a, b in quoted))


def _endings(words: str) -> tuple[str, ...]:
    return tuple(sorted({norm(w) for w in words.split()}, key=len, reverse=True))


# Noun endings (folded) a country's or city's name takes, per language.
ENDINGS: dict[str, tuple[str, ...]] = {
    "lv": _endings("ajiem ajām ajai ajam ajos ajās ajā ajo ais ajs iem ām ēm īm ai am ei os ās ēs is us "
                   "ie es as u a e i o s š ā ē ī ū"),
    "lt": _endings("iuose uose oje ėje uje iuje ose ėse ai os as is ys us ei ą ę į ų a e o u y i s"),
    "et": _endings("sse st le lt ga ni na ks ta l s d t"),
    "pl": _endings("iach ach ech ami iej ej ie ii ji ia ja ów om em ą ę y a e i u o"),
    "de": _endings("es en s n e"),
    "ru": _endings("иями ией ями ами ого его ому ему ыми ими ях ах ям ам ом ем ии ия ию ие ый ой ей ий "
                   "ая яя ую юю ое ее ые ых их а я е и у ю ы о"),
    "uk": _endings("ією ями ами ії ію ія ою ею ої ій ий ей ах ям ам ом ем ів а я і у ю е и о"),
}
# Locative endings that mark a place name without a preposition (Latvian
# "Sofijā", "Berlīnē", "Cēsīs", "Ventspilī"; Lithuanian "Vilniuje", "Kaune"),
# as typed (Latvian ones with their long vowel), and the nominative endings
# they replace, per language: ``(locative, nominative)``, longest first.
LOCATIVES: dict[str, tuple[tuple[str, str], ...]] = {
    "lv": (("īs", "is"), ("ās", "as"), ("ēs", "es"), ("ā", "a"), ("ā", "s"), ("ā", "as"), ("ē", "e"),
           ("ī", "is"), ("ī", "s"), ("ī", "i"), ("ū", "us"), ("ū", "u")),
    "lt": (("uje", "us"), ("oje", "a"), ("oje", "as"), ("yje", "is"), ("yje", "ys"), ("ėje", "ė"),
           ("ie", "ai"), ("e", "as")),
}


def locative_nominatives(raw: str) -> tuple[tuple[str, str], ...]:
    """(language, nominative) a word typed in a locative may stand for, in
    lowercase with the diacritics as typed: "sofijā" → ("lv", "sofija");
    "vilniuje" → ("lt", "vilnius"). The stem left must have 3 letters or more."""
    word = unicodedata.normalize("NFC", raw.lower())
    out = []
    for lang, pairs in LOCATIVES.items():
        for ending, nominative in pairs:
            if word.endswith(ending) and len(word) - len(ending) >= 3:
                out.append((lang, word[: -len(ending)] + nominative))
    return tuple(dict.fromkeys(out))


_ALTERNATIONS = {
    "pl": (("cz", "c"), ("sz", "ch"), ("rz", "r"), ("sc", "sk")),  # Niemczech, Włoszech, Polsce
    "uk": (("з", "г"), ("ц", "к"), ("с", "х")),  # Ризі, Америці
    "ru": (),
}
_LATIN_LANGUAGES = ("lv", "lt", "et", "pl", "de")
_CYRILLIC_LANGUAGES = ("ru", "uk")


@lru_cache(maxsize=100_000)
def stem(key: str, lang: str, least: int = 4) -> str | None:
    """The stem of a folded word by ``lang``'s endings, at least ``least``
    letters long (None: too short to tell)."""
    endings = ENDINGS.get(lang)
    if not endings:
        return None
    out = key
    for ending in endings:
        if key.endswith(ending) and len(key) - len(ending) >= least:
            out = key[: -len(ending)]
            break
    if len(out) < least:
        return None
    for tail, replacement in _ALTERNATIONS.get(lang, ()):
        if out.endswith(tail):
            out = out[: -len(tail)] + replacement
            break
    return out


def script_languages(key: str) -> tuple[str, ...]:
    if CYRILLIC.search(key):
        return _CYRILLIC_LANGUAGES
    if key.isascii() or not ARABIC.search(key):
        return _LATIN_LANGUAGES
    return ()


@lru_cache(maxsize=50_000)
def tagged_stems(key: str) -> frozenset[tuple[str, str]]:
    out = set()
    for lang in script_languages(key):
        s = stem(key, lang)
        if s:
            out.add((lang, s))
    return frozenset(out)


_TRANSLIT = [("shch", "щ"), ("sch", "щ"), ("zh", "ж"), ("kh", "х"), ("ch", "ч"), ("sh", "ш"),
             ("ts", "ц"), ("yu", "ю"), ("ya", "я"), ("yo", "е"), ("ye", "е"), ("ju", "ю"), ("ja", "я"),
             ("a", "а"), ("b", "б"), ("v", "в"), ("g", "г"), ("d", "д"), ("e", "е"), ("z", "з"),
             ("i", "и"), ("j", "и"), ("y", "и"), ("k", "к"), ("l", "л"), ("m", "м"), ("n", "н"),
             ("o", "о"), ("p", "п"), ("r", "р"), ("s", "с"), ("t", "т"), ("u", "у"), ("f", "ф"),
             ("h", "х"), ("c", "к"), ("w", "в"), ("x", "кс"), ("q", "к")]


@lru_cache(maxsize=50_000)
def to_cyrillic(key: str, overrides: tuple[tuple[str, str], ...] = ()) -> str | None:
    """A rough Russian spelling of a Latin transliteration ("latvii" → "латвии");
    ``overrides``: other readings of some letters, tried before the table's."""
    if not key.isascii() or not key.isalpha():
        return None
    # the longest spelling first; an override before the table's own of that length
    table = sorted([*overrides, *_TRANSLIT], key=lambda pair: -len(pair[0]))
    out, i = [], 0
    while i < len(key):
        for latin, cyr in table:
            if key.startswith(latin, i):
                out.append(cyr)
                i += len(latin)
                break
        else:
            return None
    return "".join(out)


# How people write Russian and Ukrainian in Latin letters differs by habit
# and by the scheme they learnt: c for ц ("turciya"), y for ы ("kursy"), and
# the Ukrainian i, h and ie ("rumuniya", "kharkiv", "kyiv"). Each scheme is
# applied to the whole word: one person keeps to one.
_SCHEMES: tuple[tuple[tuple[str, str], ...], ...] = (
    (),
    (("c", "ц"),),
    (("c", "ц"), ("y", "ы")),
    (("c", "ц"), ("ie", "є"), ("i", "і"), ("h", "г")),
)


@lru_cache(maxsize=50_000)
def cyrillic_readings(key: str) -> tuple[str, ...]:
    """The Cyrillic words a Latin-letter word may stand for, most common first."""
    return tuple(dict.fromkeys(r for scheme in _SCHEMES if (r := to_cyrillic(key, scheme))))


# A consonant skeleton shared by a Latin name and its Arabic spelling: Arabic
# writes long vowels only (ا و ي), has no p or v (ب, ف) and renders g, sch
# and ch its own ways. A skeleton is its consonants ("Norderstedt" and
# "نوردرشتيدت" both "nrdrstdt", doubled letters once) and the places
# between them where a vowel is written (0: before the first consonant):
# an Arabic vowel letter must stand where the Latin name has a vowel.
_LATIN_SKELETON = (("tsch", "s"), ("sch", "s"), ("sh", "s"), ("ch", "k"), ("kh", "k"), ("ph", "f"), ("th", "t"),
                   ("gh", "g"), ("ck", "k"), ("tz", "z"), ("qu", "k"), ("x", "ks"), ("c", "k"), ("q", "k"),
                   ("p", "b"), ("v", "f"), ("j", "g"), ("w", ""), ("'", ""), ("-", ""), (" ", ""))
_LATIN_VOWELS = set("aeiouy")
_ARABIC_CONSONANTS = {
    "ب": "b", "پ": "b", "ت": "t", "ط": "t", "ث": "s", "ج": "g", "گ": "g", "غ": "g", "ح": "h", "ه": "h",
    "خ": "k", "ك": "k", "ق": "k", "د": "d", "ض": "d", "ذ": "z", "ز": "z", "ظ": "z", "ر": "r", "س": "s",
    "ص": "s", "ش": "s", "ف": "f", "ڤ": "f", "ل": "l", "م": "m", "ن": "n"}
_ARABIC_VOWELS = set("اويى")


def _skeleton(parts: list[str]) -> tuple[str, frozenset[int]]:
    """Consonants (doubled once) and the vowel places from a list of letters and "V"s."""
    consonants: list[str] = []
    vowels = set()
    for p in parts:
        if p == "V":
            vowels.add(len(consonants))
        elif p and not (consonants and consonants[-1] == p and len(consonants) not in vowels):
            consonants.append(p)
    if consonants and consonants[-1] == "h" and len(consonants) not in vowels:  # a final h, ة: a vowel
        consonants.pop()
        vowels.add(len(consonants))
    return "".join(consonants), frozenset(vowels)


@lru_cache(maxsize=100_000)
def latin_skeleton(key: str) -> tuple[str, frozenset[int]]:
    """The skeleton of a folded Latin name ("tartu" → ("trt", {1, 3}))."""
    parts, i = [], 0
    while i < len(key):
        if key[i] in _LATIN_VOWELS:
            parts.append("V")
            i += 1
            continue
        for latin, plain in _LATIN_SKELETON:
            if key.startswith(latin, i):
                parts.append(plain)
                i += len(latin)
                break
        else:
            parts.append(key[i] if key[i].isalpha() else "")
            i += 1
    return _skeleton(parts)


def arabic_skeleton(key: str) -> tuple[str, frozenset[int]]:
    """The skeleton of an Arabic word (normalized by :func:`norm`: "تارتو" → ("trt", {1, 3}))."""
    return _skeleton(["V" if ch in _ARABIC_VOWELS else _ARABIC_CONSONANTS.get(ch, "") for ch in key])
