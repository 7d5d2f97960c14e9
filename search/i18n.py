"""Interface languages of the web UI: Latvian, English, Russian, Ukrainian
and Arabic (written right to left: ``UI.dir``, :func:`text_direction`).

Catalogs are gettext ``.po`` files under ``search/locales/<lang>/LC_MESSAGES``
(English is the source language), compiled in memory with Babel at start-up;
``scripts/catalogs.py`` checks them. The language comes from ``?lang=``, then
the ``lang`` cookie set by the language switch, then the browser's
``Accept-Language``; Latvian-, Russian-, Ukrainian- or Arabic-speaking users
(``ar``, ``ar-SY``, ``ar-LB``...) land in their language without choosing it.
Numbers, dates, country and language names come from Babel's CLDR data.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

from babel import Locale, UnknownLocaleError, negotiate_locale
from babel.dates import format_date
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

UI_LANGUAGES = ("lv", "en", "ru", "uk", "ar")
DEFAULT_LANGUAGE = "en"
LOCALES = Path(__file__).parent / "locales"
# Digits of every UI language, Arabic included: Latin (CLDR "latn", Babel's
# default for ``ar``), not Arabic-Indic (٠١٢٣, CLDR's default for ar-SY, ar-LB,
# ar-JO). Levantine readers read both, and online, in phone numbers, prices and
# dates, mostly see Latin digits; the people this serves live in Europe, where
# addresses, deadlines and the listings' own texts (mostly in other languages)
# all use them, and so do the dates Babel formats and the counts the templates
# put in with ``%(num)d``: one kind of digit on a page, never two.
NUMBERING_SYSTEM = "latn"


@cache
def translations(lang: str) -> NullTranslations:
    po = LOCALES / lang / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf)


def text_direction(lang: str) -> str:
    """``"rtl"`` for a language written right to left (Arabic), else ``"ltr"``
    (for ``<html dir>``), from CLDR."""
    try:
        return "rtl" if Locale.parse(lang.replace("-", "_")).text_direction == "rtl" else "ltr"
    except (ValueError, TypeError, UnknownLocaleError):
        return "ltr"


def pick_language(query_lang: str | None, cookie_lang: str | None, accept_language: str | None) -> str:
    for candidate in (query_lang, cookie_lang):
        if candidate in UI_LANGUAGES:
            return candidate
    if accept_language:
        wanted = []
        for part in accept_language.split(","):
            tag = part.split(";")[0].strip().replace("-", "_").lower()
            if tag:
                wanted.append(tag)
                wanted.append(tag.split("_")[0])  # ar-SY, ar-LB, ar-EG... -> ar
        found = negotiate_locale(wanted, list(UI_LANGUAGES), sep="_")
        if found in UI_LANGUAGES:
            return found
    return DEFAULT_LANGUAGE


class UI:
    """What a template needs to speak one language (one shared instance per
    language: ``UI.of(lang)``)."""

    @staticmethod
    @cache
    def of(lang: str) -> UI:
        return UI(lang)

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.locale = Locale.parse(lang)
        self.dir = text_direction(lang)  # for <html dir="{{ ui.dir }}">
        t = translations(lang)
        self.gettext = t.gettext
        self.ngettext = t.ngettext

    def date(self, value: Any) -> str:
        if not value:
            return ""
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value else date.fromisoformat(value)
        if isinstance(value, datetime):
            value = value.date()
        return format_date(value, format="medium", locale=self.locale)

    def number(self, value: int | float) -> str:
        return format_decimal(value, locale=self.locale, numbering_system=NUMBERING_SYSTEM)

    def language_name(self, code: str) -> str:
        try:
            return Locale.parse(code).get_display_name(self.locale) or code
        except (ValueError, TypeError, UnknownLocaleError):
            return code

    def country_name(self, code: str) -> str:
        return self.locale.territories.get(code, code)

    def join(self, items: Iterable[str], style: Literal["standard", "or"] = "standard") -> str:
        """``items`` as one list in this language, by CLDR: "A, B un C", "A وB وC"
        (``style="or"``: "A, B vai C", "A أو B أو C")."""
        return format_list(list(items), style=style, locale=self.locale)

    def facet_name(self, facet: str) -> str:
        """A search dimension (``country``, ``theme``...) named in this language."""
        return self.gettext(FACET_LABELS[facet]) if facet in FACET_LABELS else facet

    def label(self, facet: str, value: str) -> str:
        """A value of a dimension named in this language (:func:`value_label`)."""
        return value_label(self, facet, value)

    def context(self) -> dict[str, Any]:
        return {"_": self.gettext, "ngettext": self.ngettext, "ui": self}


# ---------------------------------------------------------------- labels
# What the pages and error responses say, in English (the catalogs' source
# language): each is passed through ``UI.gettext`` where it is shown.

NATIVE_NAMES = {"lv": "Latviešu", "en": "English", "ru": "Русский", "uk": "Українська", "ar": "العربية"}
# The search dimensions (facets) by name.
FACET_LABELS = {
    "country": "Country", "city": "City", "theme": "Theme", "activity_type": "Type",
    "duration_class": "Duration", "work_mode": "Where", "language": "Language of the listing",
    "required_language": "Languages required", "programme": "Programme", "organisation": "Organisation",
    "support": "Support offered", "source": "Source", "topic": "Topic",
}
SUPPORT_LABELS = {
    "accommodation": "Accommodation", "food": "Food", "travel": "Travel costs", "insurance": "Insurance",
    "allowance": "Allowance", "language_course": "Language course", "training": "Training",
}
VALUE_LABELS = {
    "theme": {
        "environment": "Environment", "inclusion": "Inclusion", "migrants_refugees": "Migrants and refugees",
        "education": "Education", "culture": "Culture", "health": "Health", "community": "Community",
        "youth": "Children and youth", "sport": "Sport", "animals": "Animals", "emergency": "Emergency",
        "digital": "Digital", "social": "Social care", "citizenship": "Citizenship",
        "employment": "Employment", "other": "Other",
    },
    "activity_type": {
        "volunteering": "Volunteering", "volunteering_team": "Volunteering team",
        "traineeship": "Traineeship", "solidarity_project": "Solidarity project",
        "exchange": "Exchange", "job": "Job",
    },
    "duration_class": {
        "one_off": "One day or a few", "short_term": "Short term", "long_term": "Long term",
        "ongoing": "Ongoing", "unknown": "Not stated",
    },
    "work_mode": {"onsite": "On site", "remote": "Remote", "hybrid": "Hybrid"},
    # The programmes' own names (European Solidarity Corps, Erasmus+, UN Volunteers) stay as they are.
    "programme": {"ngo": "NGO", "national": "National programme"},
}
# The labels of the search form's own fields (active filters show them).
FIELD_LABELS = {
    "speaks": "Languages I speak", "age": "My age", "resident": "Where I live", "deadline_to": "Apply by",
    "near": "Near (city)", "within": "within %(km)s km of %(place)s",
}
# Status code → (title, text) of the page a browser gets for an HTTP error.
ERROR_TEXTS = {
    404: ("Not found", "There is no such page or opportunity here. It may have closed or been removed."),
    401: ("Sign-in needed", "This page is for the project's staff: sign in to see it."),
    429: ("Too many requests", "Please wait a minute and try again."),
    500: ("Something went wrong", "Please try again in a moment."),
    503: ("Search is unavailable", "Search is unavailable for a moment. Please try again shortly."),
}
# (field, error code) → what the search page says about input it left out;
# code None: any other code of that field.
INPUT_ERRORS = {
    ("age", None): "Enter an age from 0 to 120.",
    ("resident", None): "Choose a country from the list.",
    ("near", None): "This place is not known. Try a city name, for example Riga.",
    ("within_km", "needs_place"): "Enter a place in “Near” to search within a distance.",
    ("within_km", None): "Enter a distance from 1 to 20,000 km.",
    ("sort", "needs_place"): "Sorting by distance needs a place.",
    ("sort", None): "Choose a sort order from the list.",
    ("speaks", None): "Choose languages from the list.",
    (None, None): "This part of the search was not understood and was left out.",
}
# What the subscription pages say: (title, text); text None: the reason is given.
NOTICES = {
    "cross_site": ("Subscription not saved", "This form can only be sent from this site."),
    "rate_limited": ("Too many requests", "Please try again in a few minutes."),
    "invalid": ("Subscription not saved", None),
    "invalid_email": ("Subscription not saved", "This e-mail address is not valid. Please check it and try again."),
    "mail_failed": ("Subscription not saved", "We could not send the confirmation email. Please try again later."),
    "confirm_sent": ("Check your inbox",
                     "We sent you a link to confirm the subscription. Nothing is sent before you confirm."),
    "confirmed": ("Subscription confirmed", "You will get new opportunities matching your search by email."),
    "confirm_invalid": ("Invalid link", "This link is not valid or has expired."),
    "unsubscribed": ("Unsubscribed", "Your subscription and its data are deleted."),
    "unsubscribe_invalid": ("Invalid link", "This link is not valid or the subscription is already deleted."),
}
# The coverage dashboard's charts.
CHART_TITLES = {
    "grid": "Open opportunities by country", "programme": "Open opportunities by programme",
    "source": "Open opportunities by source", "theme": "Open opportunities by theme",
    "trends": "Open, new and closed per week",
}


def value_label(ui: UI, facet: str, value: str) -> str:
    """A facet value as people read it in the UI's language."""
    if facet == "country":
        return ui.country_name(value)
    if facet in ("language", "required_language"):
        return ui.language_name(value)
    if facet == "city":  # its CLDR name in this language where it has one ("Rīga", "Рига", "ريغا")
        from search.place_names import named_place

        return named_place(value, ui.lang)[0]
    if facet == "support":
        return ui.gettext(SUPPORT_LABELS.get(value, value))
    if facet == "topic":
        from search.understanding.topics import topic_label

        return topic_label(value, ui.lang)
    if facet in VALUE_LABELS and value in VALUE_LABELS[facet]:
        return ui.gettext(VALUE_LABELS[facet][value])
    return value


def input_error(ui: UI, field: str, code: str) -> str:
    """An input error of the search page in its language."""
    text = INPUT_ERRORS.get((field, code)) or INPUT_ERRORS.get((field, None)) or INPUT_ERRORS[(None, None)]
    return ui.gettext(text)


def label_messages() -> set[str]:
    """Every message of the tables above (for the catalog check)."""
    tables: list[dict[Any, Any]] = [FACET_LABELS, SUPPORT_LABELS, *VALUE_LABELS.values(), FIELD_LABELS,
                                    INPUT_ERRORS, CHART_TITLES]
    found = {text for table in tables for text in table.values()}
    for pairs in (ERROR_TEXTS, NOTICES):
        found |= {text for pair in pairs.values() for text in pair if text}
    return found
