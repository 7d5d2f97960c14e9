"""Dates: ISO dates from structured values or free text (dateparser).

Structured ISO 8601 values are read exactly; anything else goes through
dateparser with the source's language as a hint and relative expressions
resolved against the crawl time. Unparseable text yields ``None`` (the field
is unknown), never a guess.
"""

from __future__ import annotations

from datetime import date, datetime

import dateparser


def parse_date(value: str | None, *, languages: list[str] | None = None,
               relative_base: datetime | None = None) -> date | None:
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        pass
    settings = {"PREFER_DAY_OF_MONTH": "first", "RETURN_AS_TIMEZONE_AWARE": False}
    if relative_base is not None:
        settings["RELATIVE_BASE"] = relative_base.replace(tzinfo=None)
    parsed = dateparser.parse(text, languages=languages or None, settings=settings)
    if parsed is None and languages:
        parsed = dateparser.parse(text, settings=settings)
    return parsed.date() if parsed else None
