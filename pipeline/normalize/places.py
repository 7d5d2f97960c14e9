"""Places: ISO 3166-1 alpha-2 country codes from codes or names (pycountry)."""

from __future__ import annotations

from functools import lru_cache

import pycountry

# Codes the EU institutions use that differ from ISO 3166-1.
EU_CODES = {"EL": "GR", "UK": "GB"}


@lru_cache(maxsize=4096)
def country_code(value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    text = value.strip()
    upper = text.upper()
    if upper in EU_CODES:
        return EU_CODES[upper]
    try:
        return str(pycountry.countries.lookup(text).alpha_2)
    except LookupError:
        pass
    try:
        matches = pycountry.countries.search_fuzzy(text)
    except LookupError:
        return None
    return str(matches[0].alpha_2) if len(matches) == 1 else None


def parse_coordinate(value: str | None, limit: float) -> float | None:
    if value is None:
        return None
    try:
        number = float(str(value).strip().replace(",", "."))
    except ValueError:
        return None
    return number if -limit <= number <= limit else None
