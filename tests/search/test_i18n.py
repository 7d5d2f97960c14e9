"""Every interface message has a checked translation in Latvian, Russian,
Ukrainian and Arabic (scripts/catalogs.py), and the page's language, text
direction, numbers and plurals follow the person."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from catalogs import check, languages, used_messages

from search.i18n import UI, UI_LANGUAGES, pick_language, text_direction


def test_every_ui_language_but_english_has_a_catalog() -> None:
    assert languages() == [lang for lang in UI_LANGUAGES if lang != "en"]
    assert {"lv", "ru", "uk", "ar"} <= set(languages())


@pytest.mark.parametrize("lang", ["lv", "ru", "uk", "ar"])
def test_catalog_is_complete_and_clean(lang: str) -> None:
    assert len(used_messages()) > 50
    assert [str(finding) for finding in check(lang)] == []


@pytest.mark.parametrize(("query", "cookie", "header", "expected"), [
    (None, None, None, "en"),
    (None, None, "lv-LV,lv;q=0.9,en;q=0.8", "lv"),
    (None, None, "de-DE,ru;q=0.7", "ru"),
    (None, None, "uk", "uk"),
    (None, "ru", "lv", "ru"),
    ("uk", "ru", "lv", "uk"),
    ("xx", None, "fr-FR", "en"),
    (None, None, "ar", "ar"),
    (None, None, "ar-SY,ar;q=0.9,en;q=0.8", "ar"),
    (None, None, "ar-LB", "ar"),
    (None, None, "AR-jo", "ar"),
    (None, None, "de-DE,ar-IQ;q=0.7", "ar"),
    ("ar", None, "lv", "ar"),
    (None, "ar", None, "ar"),
])
def test_language_choice(query: str | None, cookie: str | None, header: str | None, expected: str) -> None:
    assert pick_language(query, cookie, header) == expected


def test_arabic_is_written_right_to_left() -> None:
    assert UI.of("ar").dir == text_direction("ar") == text_direction("ar-SY") == "rtl"
    assert [UI.of(lang).dir for lang in ("lv", "en", "ru", "uk")] == ["ltr"] * 4
    assert text_direction("xx") == "ltr"


def test_arabic_numbers_dates_and_names_come_from_cldr() -> None:
    ar = UI.of("ar")
    assert ar.number(1234567) == "1,234,567"  # Latin digits, deliberately (search/i18n.py NUMBERING_SYSTEM)
    assert not any("\u0660" <= ch <= "\u0669" for ch in ar.number(1234567) + ar.date("2026-03-04"))
    assert ar.date("2026-03-04").replace("\u200f", "") == "04/03/2026"
    assert ar.country_name("LV") == "لاتفيا" and ar.language_name("uk") == "الأوكرانية"
    assert ar.label("theme", "migrants_refugees") == "المهاجرون واللاجئون"


@pytest.mark.parametrize(("n", "text"), [
    (0, "لا توجد فرص"), (1, "فرصة واحدة"), (2, "فرصتان"), (3, "3 فرص"), (10, "10 فرص"),
    (11, "11 فرصة"), (99, "99 فرصة"), (100, "100 فرصة"), (103, "103 فرص"), (1150, "1,150 فرصة"),
])
def test_arabic_has_six_plural_forms(n: int, text: str) -> None:
    ar = UI.of("ar")
    assert ar.ngettext("%(num)s opportunity", "%(num)s opportunities", n) % {"num": ar.number(n)} == text


@pytest.mark.parametrize("lang", ["lv", "ru", "uk", "ar"])
def test_every_programme_and_activity_value_has_a_label(lang: str) -> None:
    ui = UI.of(lang)
    assert ui.label("programme", "ngo") != "ngo" and ui.label("programme", "ngo") != "NGO"
    assert ui.label("programme", "national") != "National programme"
    assert ui.label("programme", "Erasmus+") == "Erasmus+"  # a programme's own name stays


def test_wording_of_the_issue() -> None:
    lv, ru, uk = UI.of("lv").gettext, UI.of("ru").gettext, UI.of("uk").gettext
    assert lv("Accommodation") == "Naktsmītne"
    assert "организатора" not in ru("Apply on the publisher's site")
    assert "організатора" not in uk("Apply on the publisher's site")
    footer = "Listings are collected from their publishers; always check the details on the original page."
    assert "видав" not in uk(footer) and "видав" not in uk("The publisher's link is not available.")


def test_the_coverage_charts_speak_the_page_language() -> None:
    from coverage.dashboard import charts

    n = {"current": {"country": {"LV": 3}, "programme": {"ngo": 2, "Erasmus+": 1}, "source": {"lvdf": 2},
                     "theme": {"animals": 2, "migrants_refugees": 1}},
         "trends": [{"week": "2026-W10", "open": 3, "new": 1, "closed": 0}],
         "source_names": {"lvdf": "Latvijas Dabas fonds – talkas (iCalendar)"}}
    svg = charts(UI.of("ar"), n)
    assert "لاتفيا: 3" in svg["grid"] and "الفرص المفتوحة حسب البلد" in svg["grid"]
    assert "منظمة غير حكومية" in svg["programme"] and "Erasmus+" in svg["programme"]
    assert "Latvijas Dabas fonds – talkas (iCa" in svg["source"] and "lvdf" not in svg["source"]
    assert "الحيوانات" in svg["theme"] and "animals" not in svg["theme"]
    assert "المفتوحة" in svg["trends"] and "■ open" not in svg["trends"]
    assert all('direction="ltr"' in chart for chart in svg.values())
