"""The catalog check can fail: a small catalog with one of each defect, and
each is reported (scripts/catalogs.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from catalogs import Finding, check_po

UK_HEADER = '''msgid ""
msgstr ""
"Language: uk\\n"
"Plural-Forms: nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || "
"n%100>=20) ? 1 : 2);\\n"
"Content-Type: text/plain; charset=utf-8\\n"
'''
AR_HEADER = '''msgid ""
msgstr ""
"Language: ar\\n"
"Plural-Forms: nplurals=6; plural=(n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : "
"n%100>=11 ? 4 : 5);\\n"
"Content-Type: text/plain; charset=utf-8\\n"
'''
GOOD_UK = '''
msgid "Search"
msgstr "Шукати"

#, python-format
msgid "%(num)s opportunity"
msgid_plural "%(num)s opportunities"
msgstr[0] "%(num)s можливість"
msgstr[1] "%(num)s можливості"
msgstr[2] "%(num)s можливостей"

msgid "tilts"
msgstr "tilts"

msgid "%(num)s"
msgstr "%(num)s"
'''
DEFECTS = '''
msgid "Source"
msgstr "Source"

#, fuzzy
msgid "Theme"
msgstr "Тема"

msgid "Country"
msgstr ""

#, python-format
msgid "within %(km)s km of %(place)s"
msgstr "%(place)s, радіус %(km)d км"

msgid "Hello {name}"
msgstr "Привіт"

#, python-format
msgid "%(num)d day left"
msgid_plural "%(num)d days left"
msgstr[0] "залишився %(num)d день"
msgstr[1] "залишилося %(num)d дні"

#, python-format
msgid "Within %(num)s day"
msgid_plural "Within %(num)s days"
msgstr[0] "Протягом %(num)s дня"
msgstr[1] "Протягом %(num)s днів"
msgstr[2] "Протягом %(num)s днів"
msgstr[3] "Протягом %(num)s днів"

#, python-format
msgid "%(num)s more opportunity is not open to residents of %(country)s."
msgid_plural "%(num)s more opportunities are not open to residents of %(country)s."
msgstr[0] "Ще %(num)s можливість недоступна."
msgstr[1] "Ще %(num)s можливості недоступні для мешканців країни: %(country)s."
msgstr[2] ""
'''


def kinds(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(f.kind, f.msgid) for f in findings}


def test_a_clean_catalog_passes() -> None:
    assert check_po(UK_HEADER + GOOD_UK, "uk") == []


def test_each_defect_is_reported() -> None:
    found = check_po(UK_HEADER + GOOD_UK + DEFECTS, "uk")
    assert kinds(found) == {
        ("same", "Source"),  # identical to English, not allow-listed
        ("fuzzy", "Theme"),
        ("empty", "Country"),
        ("placeholders", "within %(km)s km of %(place)s"),  # %(km)d for %(km)s
        ("placeholders", "Hello {name}"),  # {name} left out
        ("plurals", "%(num)d day left"),  # two forms where Ukrainian has three...
        ("empty", "%(num)d day left"),  # ... so the third is empty
        ("plurals", "Within %(num)s day"),  # four forms
        ("placeholders", "%(num)s more opportunity is not open to residents of %(country)s."),  # form 0
        ("empty", "%(num)s more opportunity is not open to residents of %(country)s."),  # form 2
    }
    empty = next(f for f in found if f.kind == "empty" and f.msgid.startswith("%(num)s more"))
    assert "[2]" in empty.detail
    assert all(str(f) for f in found)


def test_a_fuzzy_header_and_wrong_plural_forms_are_reported() -> None:
    header = UK_HEADER.replace('msgid ""', '#, fuzzy\nmsgid ""').replace("nplurals=3", "nplurals=2")
    found = check_po(header + GOOD_UK, "uk")
    assert ("fuzzy", "") in kinds(found)
    assert any(f.kind == "plurals" and f.msgid == "" and "nplurals=2" in f.detail for f in found)
    never = UK_HEADER.replace("? 1 : 2)", "? 1 : 1)")  # form 2 never picked
    assert any(f.kind == "plurals" and "picks the forms [0, 1]" in f.detail for f in check_po(never + GOOD_UK, "uk"))


def test_arabic_forms_for_one_number_may_say_it_in_words() -> None:
    entry = '''
#, python-format
msgid "%(num)s opportunity"
msgid_plural "%(num)s opportunities"
msgstr[0] "لا توجد فرص"
msgstr[1] "فرصة واحدة"
msgstr[2] "فرصتان"
msgstr[3] "%(num)s فرص"
msgstr[4] "%(num)s فرصة"
msgstr[5] "%(num)s فرصة"
'''
    assert check_po(AR_HEADER + entry, "ar") == []
    # ... but not a form that stands for many numbers
    assert kinds(check_po(AR_HEADER + entry.replace('"%(num)s فرص"', '"فرص"'), "ar")) == {
        ("placeholders", "%(num)s opportunity")}
    # ... and never another placeholder than the count
    other = AR_HEADER + '''
#, python-format
msgid "%(num)s more opportunity is not open to residents of %(country)s."
msgid_plural "%(num)s more opportunities are not open to residents of %(country)s."
msgstr[0] "لا توجد فرص أخرى"
msgstr[1] "فرصة أخرى غير متاحة للمقيمين في %(country)s."
msgstr[2] "فرصتان أخريان غير متاحتين للمقيمين في %(country)s."
msgstr[3] "%(num)s فرص أخرى غير متاحة للمقيمين في %(country)s."
msgstr[4] "%(num)s فرصة أخرى غير متاحة للمقيمين في %(country)s."
msgstr[5] "%(num)s فرصة أخرى غير متاحة للمقيمين في %(country)s."
'''
    assert kinds(check_po(other, "ar")) == {
        ("placeholders", "%(num)s more opportunity is not open to residents of %(country)s.")}


def test_arabic_with_too_few_plural_forms_is_reported() -> None:
    three = AR_HEADER.replace("nplurals=6", "nplurals=3")
    assert any(f.kind == "plurals" and "CLDR's ar has 6" in f.detail for f in check_po(three, "ar"))
