"""Property-based tests: whatever a source sends, the normalizer returns a valid,
sanitized Opportunity or raises the one typed error that sends the event to
the DLQ. The example budget is bounded so CI time stays bounded; the test
timeout catches a hang.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline.events import InvalidEvent, Opportunity, RawOpportunity, parse_event
from pipeline.normalize import normalize
from pipeline.normalize.text import sanitize_html
from pipeline.normalizer import normalize_bytes

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

HOSTILE = [
    "<script>alert(1)</script>", '<img src=x onerror="alert(1)">', '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>', "<svg onload=alert(1)>", "<iframe src=//evil></iframe>",
    "<style>body{display:none}</style>", '<p style="background:url(javascript:x)">p</p>',
    "&lt;script&gt;alert(1)&lt;/script&gt;", "<!-- <script>x</script> -->", "<scr<script>ipt>",
    '<a href="data:text/html,<script>alert(1)</script>">d</a>', "<form action=//evil><input></form>",
    "<object data=x></object>", "<math><mi xlink:href=javascript:x>", "</p></div></body>",
    "2026. gada 31. februārī", "до 99 декабря 20266 г.", "from 40 to 10 years", "B7 level required",
]
text = st.one_of(st.text(max_size=300), st.sampled_from(HOSTILE),
                 st.lists(st.one_of(st.text(max_size=40), st.sampled_from(HOSTILE)), max_size=8)
                 .map("".join))
maybe = st.one_of(st.none(), text)
ACTIVE = re.compile(r"<script|<iframe|<object|<svg|<style|javascript:|\son\w+\s*=|data:text/html",
                    re.IGNORECASE)


def _raw(**fields: object) -> RawOpportunity:
    return RawOpportunity.model_validate({
        "source_id": "fuzz", "external_id": "1", "url": "https://ngo.example/1",
        "crawl_id": "c", "fetched_at": datetime(2026, 11, 20, tzinfo=UTC),
        "extraction_method": "json-ld", **fields,
    })


def _check(opp: Opportunity) -> None:
    assert opp.title.strip()
    assert not ACTIVE.search(opp.description_html)
    assert sanitize_html(opp.description_html) == opp.description_html  # already clean
    assert opp.themes  # never empty: unknown stays "other"
    Opportunity.model_validate_json(opp.to_bytes())  # the event round-trips


@FUZZ
@given(title=text, description=maybe, start=maybe, end=maybe, deadline=maybe, city=maybe,
       country=maybe, location=maybe, lat=maybe, categories=st.lists(text, max_size=4),
       places=maybe, duration=maybe)
def test_any_fields_give_a_clean_opportunity_or_invalid_event(
    title, description, start, end, deadline, city, country, location, lat, categories, places,
    duration,
) -> None:
    raw = _raw(title=title, description_html=description, start_date=start, end_date=end,
               deadline=deadline, city=city, country=country, location_text=location,
               latitude=lat, longitude=lat, categories=categories, places_available=places,
               duration_text=duration)
    try:
        opp = normalize(raw)
    except InvalidEvent as exc:
        assert exc.field == "title"
        return
    _check(opp)


@FUZZ
@given(payload=st.binary(max_size=400))
def test_arbitrary_bytes_are_invalid_events_not_crashes(payload: bytes) -> None:
    try:
        normalize_bytes(payload)
    except InvalidEvent:
        return
    pytest.fail("random bytes parsed as a RawOpportunity")  # pragma: no cover


def test_invalid_utf8_is_an_invalid_event() -> None:
    with pytest.raises(InvalidEvent, match="UTF-8"):
        parse_event(RawOpportunity, b'{"title": "\xff\xfe"}')


@pytest.mark.timeout(120)
def test_ten_megabyte_description_is_bounded_and_sanitized() -> None:
    block = "<p>Help <b>us</b> 2026. gada 3. aprīlī <script>alert(1)</script> in Rīga.</p>"
    huge = block * (10 * 1024 * 1024 // len(block))
    assert len(huge) >= 9_900_000
    opp = normalize(_raw(title="Huge listing", description_html=huge))
    _check(opp)
    assert len(opp.description_text) <= 50_000
    assert len(opp.description_html) <= 200_000


def _stem_lists() -> list[list[tuple[str, str]]]:
    from pipeline.normalize import support as sup
    from pipeline.normalize import themes
    from pipeline.normalize.text import fold

    owners = {fold(w).replace("-", " ") for words in themes._KEYWORDS.values() for w in words.split()}
    theme_entries = [(s.rstrip("="), r"(?!\w)" if len(s) <= 3 or s.endswith("=") else "")
                     for s in sorted(owners, key=len, reverse=True)]
    support = [[(t, "") for t in sorted(terms, key=len, reverse=True)] for terms in sup._TERMS.values()]
    return [theme_entries, *support]


STEM_LISTS = _stem_lists()
ALL_STEMS = sorted({lit for entries in STEM_LISTS for lit, _ in entries})


@FUZZ
@given(which=st.integers(0, len(STEM_LISTS) - 1),
       pieces=st.lists(st.one_of(st.sampled_from(ALL_STEMS), st.text(max_size=6),
                                 st.sampled_from([" ", "-", "s", "ing", "é", "ß"])), max_size=25))
def test_trie_alternation_finds_what_the_flat_one_finds(which: int, pieces: list[str]) -> None:
    """The trie-shaped regex of the theme and support stems is an
    optimisation only: on any text it matches exactly what the plain
    ``stem1|stem2|…`` alternation (longest first, tried in order) matches."""
    from pipeline.normalize.text import literal_alternation

    entries = STEM_LISTS[which]  # longest first: what a flat alternation needs
    flat = re.compile(r"(?<!\w)(" + "|".join(re.escape(lit) + suf for lit, suf in entries) + ")")
    trie = re.compile(r"(?<!\w)(" + literal_alternation(reversed(entries)) + ")")  # any order
    sample = "".join(pieces)
    assert [(m.start(), m.group(1)) for m in trie.finditer(sample)] == \
        [(m.start(), m.group(1)) for m in flat.finditer(sample)]


SUPPORT_WORDING = ["we provide", "is covered", "not covered", "no accommodation", "nodrošinām",
                   "не предоставляется", "wir bieten", "inklusive", "Latvian course", "курсы латышского языка",
                   "corso di lingua", "Swedish language course", "curso de alemán", ". ", "\n", " and ", ", "]


@FUZZ
@given(pieces=st.lists(st.one_of(st.sampled_from(ALL_STEMS), st.sampled_from(SUPPORT_WORDING),
                                 st.text(max_size=8)), max_size=20).map(" ".join))
def test_support_quick_look_changes_nothing(pieces: str) -> None:
    """``support`` skips sentences without a support term or course word; the
    flags are what checking every sentence gives."""
    from pipeline.events import Support
    from pipeline.normalize import support as sup
    from pipeline.normalize.text import fold, sentences

    flags: dict[str, bool] = {}
    for sentence in sentences(pieces):  # every sentence, no quick look
        folded = fold(sentence)
        negative = bool(sup._NOT_PROVIDED.search(folded))
        if not negative and not sup._PROVIDED.search(folded):
            continue
        for flag, pattern in sup._SUPPORT.items():
            hit = bool(pattern.search(folded)) or (
                flag == "language_course" and bool(sup._LANGUAGE_COURSE.search(folded)))
            if hit and flag not in flags:
                flags[flag] = not negative
    assert sup.support(pieces) == Support(**flags)


@FUZZ
@given(pieces=st.lists(st.sampled_from(["un", "unv", "un volunteers", "esc", "еск", "екс", "hybrid", "ongoing",
                                        "regularly", "x", "é", "_", " ", "-", ".", "1", "\n"]), max_size=12)
       .map("".join))
def test_word_start_lookbehind_is_word_boundary(pieces: str) -> None:
    """``x(?<!\\w.)rest`` (used for speed in programme, activity and durations) matches where ``\\bxrest`` does."""
    for word in ("unv", "un volunteers", "esc", "екс", "hybrid", "ongoing", "regularly"):
        fast = re.compile(re.escape(word[0]) + r"(?<!\w.)" + re.escape(word[1:]))
        plain = re.compile(r"\b" + re.escape(word))
        assert [m.span() for m in fast.finditer(pieces)] == [m.span() for m in plain.finditer(pieces)]


_NAME_WORDS = ["English", "englisch", "Deutschkenntnisse", "deutschland", "Slovene", "slovenian", "RUSSE",
               "русского", "Латышский", "англійською", "łotewskiego", "anglų", "vācu", "Français", "francais",
               "eesti", "İngilizce", "ENGLİSH", "castellano", "Polish", "polishing", "ital", "lat", "ang"]


@FUZZ
@given(pieces=st.lists(st.tuples(st.sampled_from([*_NAME_WORDS, "is", "required", "B2", "or", "the", "x"]),
                                 st.sampled_from([str.lower, str.upper, str.title, str]),
                                 st.sampled_from([" ", "", ", ", ". ", "-", "_", "\n", "ß", "1"])),
                       max_size=10)
       .map(lambda ps: "".join(case(word) + gap for word, case, gap in ps)))
@example(pieces="ENGLİSH is required")  # "İ" lowercases to two characters
def test_language_name_quick_look_misses_no_name(pieces: str) -> None:
    """Text the quick look skips names no language: wherever the word-by-word
    look finds a name, the quick look says the text may name one."""
    from pipeline.normalize import language

    if language._mentions(pieces):
        assert language._may_name_a_language(pieces)


def test_language_name_quick_look_skips_text_without_names() -> None:
    from pipeline.normalize import language

    assert not language._may_name_a_language("Help at the food bank on Saturdays; no experience needed.")
    assert language._may_name_a_language("Saturdays; ENGLISCHKENNTNISSE erforderlich.")
