"""Interface languages of the web UI: Latvian, English, Russian, Ukrainian.

Catalogs are gettext ``.po`` files under ``search/locales/<lang>/LC_MESSAGES``
(English is the source language), compiled in memory with Babel at start-up.
The language comes from ``?lang=``, then the ``lang`` cookie set by the
language switch, then the browser's ``Accept-Language``; Latvian-, Russian- or
Ukrainian-speaking users land in their language without choosing it.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale, negotiate_locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

UI_LANGUAGES = ("lv", "en", "ru", "uk")
DEFAULT_LANGUAGE = "en"
LOCALES = Path(__file__).parent / "locales"


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


def pick_language(query_lang: str | None, cookie_lang: str | None, accept_language: str | None) -> str:
    for candidate in (query_lang, cookie_lang):
        if candidate in UI_LANGUAGES:
            return candidate  # type: ignore[return-value]
    if accept_language:
        wanted = []
        for part in accept_language.split(","):
            tag = part.split(";")[0].strip().replace("-", "_")
            if tag:
                wanted.append(tag)
                wanted.append(tag.split("_")[0])
        found = negotiate_locale(wanted, list(UI_LANGUAGES), sep="_")
        if found:
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
        return format_decimal(value, locale=self.locale)

    def language_name(self, code: str) -> str:
        try:
            return Locale.parse(code).get_display_name(self.locale) or code
        except (ValueError, TypeError):
            return code

    def country_name(self, code: str) -> str:
        return self.locale.territories.get(code, code)

    def context(self) -> dict[str, Any]:
        return {"_": self.gettext, "ngettext": self.ngettext, "ui": self}
