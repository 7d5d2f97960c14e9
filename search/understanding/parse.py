"""The parse: places, then phrases, claimed token by token; what nothing claimed
stays text."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from search.understanding.cities import ambiguous, ambiguous_by_hand, city_index, match_city
from search.understanding.countries import country_index, match_country
from search.understanding.model import LIST_FIELDS, MAX_QUERY, Place, Span, Understood
from search.understanding.vocab import match_compound, match_vocab, vocab_index
from search.understanding.words import _SCHEMES, Token, to_cyrillic, tokenize

_QUOTES = "\"«»„“”"


def _preposition_before(tokens: list[Token], i: int, used: list[bool],
                        preps: set[tuple[str, ...]]) -> int | None:
    """Index of the first token of a preposition (and article) ending just before ``i``."""
    v = vocab_index()
    j = i
    if j > 0 and tokens[j - 1].key in v.articles and not used[j - 1]:
        j -= 1
    for n in (3, 2, 1):
        k = j - n
        if k < 0 or any(used[k:j]):
            continue
        if tuple(t.key for t in tokens[k:j]) in preps:
            return k
    # An Arabic preposition written on the word ("بلاتفيا") has no token of its own.
    return None


def _title_case(tokens: list[Token]) -> bool:
    """Whether most words are capitalised, as in a listing's title ("Animal
    Foster Parent", picked from the suggestions): a capital then tells no place
    from another word."""
    words = [t for t in tokens if len(t.raw) >= 3 and t.raw[:1].isalpha()]
    capitalised = sum(t.capitalised for t in words)
    return capitalised >= 2 and capitalised * 3 >= len(words) * 2


def _place_at(tokens: list[Token], i: int, used: list[bool]) -> tuple[Place, str, int, bool] | None:
    """A country or city starting at token ``i``: (match, field, span start token, origin)."""
    v = vocab_index()
    t = tokens[i]
    place_prep = _preposition_before(tokens, i, used, v.place_preps)
    origin_prep = None if place_prep is not None else _preposition_before(tokens, i, used, v.origin_preps)
    prep = place_prep if place_prep is not None else origin_prep
    translit = prep is not None and tokens[prep].key in v.translit_preps
    first_and_more = i == 0 and len(tokens) > 1
    strong = prep is not None or (t.capitalised and not _title_case(tokens)
                                  and not (first_and_more and t.key in ambiguous()))
    country = match_country(tokens, i, translit=translit or len(t.key) >= 5)
    if country and not strong and country.length == 1 and t.key in ambiguous() and (
            not country.exact or t.key in ambiguous_by_hand()):
        # A country's own name as spelled in some language ("polen",
        # "italien", "украина") names the country even where the same letters
        # are a frequent word elsewhere; an inflected or stemmed reading of a
        # frequent word ("pole", "latwo") needs a capital or a preposition, and
        # so do the words listed by hand (turkey, chad, jordan, island…).
        country = None
    if country and country.length == 1 and not country.exact and _is_language_name(t.raw):
        country = None  # "german", "latviešu": a language; but "Italien" is Italy in German
    city = match_city(tokens, i, strong, translit)
    if city and city.length == 1 and t.key in vocab_index().words:
        city = None
    choice: tuple[Place, str] | None = None
    if country and city:
        prefer_city = (city.length > country.length
                       or (city.length == country.length and not country.english and country.exact
                           and city.population >= city_index().big and city.country != country.value))
        choice = (city, "city") if prefer_city else (country, "country")
    elif country:
        choice = (country, "country")
    elif city:
        choice = (city, "city")
    if choice is None:
        return None
    return choice[0], choice[1], (prep if prep is not None else i), prep is not None and origin_prep is not None


def _transliterated_vocab(tokens: list[Token], i: int) -> tuple[int, Any] | None:
    """A vocabulary phrase typed in Latin letters as Russian or Ukrainian
    ("perevodchik", "protiv diskriminacii", "bank edy"): the words from ``i``
    read in Cyrillic by one transliteration scheme (one person keeps to
    one), for words of 4 letters or more that nothing else understood."""
    t = tokens[i]
    if not t.raw.isascii() or not t.raw.isalpha() or len(t.key) < 4:
        return None
    for scheme in _SCHEMES:
        shadow = list(tokens)
        for j in range(i, min(i + 3, len(tokens))):
            tj = tokens[j]
            reading = to_cyrillic(tj.key, scheme) if tj.raw.isascii() and tj.raw.isalpha() else None
            if reading is None:
                break
            shadow[j] = Token(tj.start, tj.end, tj.raw, reading, (reading,), tj.quoted)
        found = match_vocab(shadow, i)
        if found:
            return found
    return None


@lru_cache(maxsize=4096)
def _is_language_name(word: str) -> bool:
    from pipeline.normalize.language import is_language_name

    return is_language_name(word)


@dataclass
class _Found:
    field: str
    value: str
    first: int  # token index of the span's start (its preposition, if any)
    last: int  # token index after the span
    country: str | None = None
    origin: bool = False


def _parse(q: str) -> Understood:
    tokens = tokenize(q[:MAX_QUERY])
    used = [False] * len(tokens)
    found: list[_Found] = []
    v = vocab_index()
    i = 0
    while i < len(tokens):
        if tokens[i].quoted:
            i += 1
            continue
        vocab = match_vocab(tokens, i)
        place = _place_at(tokens, i, used)
        # a place wins over a vocabulary word as long, unless the word is spelled
        # as the data writes it ("romania" is Romania, not a case of "romani")
        if place and (vocab is None or place[0].length > vocab[0]
                      or (place[0].length == vocab[0] and not vocab[1].words[0].spelled(tokens[i]))):
            match, kind, first, origin = place
            last = i + match.length
            if kind == "city":  # "Kauno m.", "город Рига", "Riga city"
                if last < len(tokens) and tokens[last].key in v.place_nouns:
                    last += 1
                if first > 0 and not used[first - 1] and tokens[first - 1].key in v.place_nouns:
                    first -= 1
            found.append(_Found(kind, match.value, first, last, match.country, origin))
            for k in range(first, last):
                used[k] = True
            i = i + match.length
            continue
        if vocab is None and place is None:
            vocab = _transliterated_vocab(tokens, i)
        if vocab is None and place is None and (compound := match_compound(tokens[i])) is not None:
            vocab = (1, compound)
        if vocab:
            n, entry = vocab
            for field_name, value in entry.meanings:
                found.append(_Found(field_name, value, i, i + n))
            for k in range(i, i + n):
                used[k] = True
            i += n
            continue
        i += 1
    # "from Ukraine" is a filter only when no other place is named.
    places_here = [f for f in found if f.field in ("country", "city") and not f.origin]
    if places_here:
        for f in [f for f in found if f.origin]:
            found.remove(f)
            for k in range(f.first, f.last):
                used[k] = False
    return _result(q, tokens, used, found)


def _result(q: str, tokens: list[Token], used: list[bool], found: list[_Found]) -> Understood:
    v = vocab_index()
    keep = [not u for u in used]
    # Function words next to what was understood, or at the edges of what is left, go.
    changed = True
    while changed:
        changed = False
        for k, t in enumerate(tokens):
            if not keep[k] or t.quoted or t.key not in v.stopwords:
                continue
            left = k == 0 or not keep[k - 1]
            right = k == len(tokens) - 1 or not keep[k + 1]
            if left or right:
                keep[k] = False
                changed = True
    if all(tokens[k].key in v.stopwords for k in range(len(tokens)) if keep[k]):
        keep = [k and t.quoted for k, t in zip(keep, tokens, strict=True)]
    runs: list[str] = []
    k = 0
    while k < len(tokens):
        if keep[k]:
            j = k
            while j + 1 < len(tokens) and keep[j + 1]:
                j += 1
            start, end = tokens[k].start, tokens[j].end
            if tokens[k].quoted and start > 0 and q[start - 1] in _QUOTES:  # keep "a phrase" quoted
                start -= 1
            if tokens[j].quoted and end < len(q) and q[end] in _QUOTES:
                end += 1
            runs.append(q[start:end])
            k = j + 1
        else:
            k += 1
    text = " ".join(runs)
    if len(q) > MAX_QUERY:
        text = (text + " " + q[MAX_QUERY:]).strip()
    values: dict[str, list[str]] = {f: [] for f in LIST_FIELDS}
    spans = []
    for f in sorted(found, key=lambda f: tokens[f.first].start):
        if f.field in values and f.value not in values[f.field]:
            values[f.field].append(f.value)
        start, end = tokens[f.first].start, tokens[f.last - 1].end
        spans.append(Span(field=f.field, value=f.value, start=start, end=end, text=q[start:end],
                          country=f.country))
    return Understood(**values, text=text, spans=spans)


@lru_cache(maxsize=8192)
def understand(q: str) -> Understood:
    """What the query ``q`` asks for (see the module's docstring)."""
    if not q or not q.strip():
        return Understood()
    return _parse(q)


def warm_up() -> None:
    """Build every index now (the first query otherwise pays for it)."""
    from search.understanding.cities import warm_up_cities

    vocab_index()
    country_index()
    city_index()
    ambiguous()
    warm_up_cities()
    understand("volunteering with children in Riga")
