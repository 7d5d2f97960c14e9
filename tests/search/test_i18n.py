"""Every interface message has a translation in Latvian, Russian and Ukrainian."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from catalogs import missing, used_messages

from search.i18n import pick_language


@pytest.mark.parametrize("lang", ["lv", "ru", "uk"])
def test_catalog_is_complete(lang: str) -> None:
    assert len(used_messages()) > 50
    assert missing(lang) == set()


@pytest.mark.parametrize(("query", "cookie", "header", "expected"), [
    (None, None, None, "en"),
    (None, None, "lv-LV,lv;q=0.9,en;q=0.8", "lv"),
    (None, None, "de-DE,ru;q=0.7", "ru"),
    (None, None, "uk", "uk"),
    (None, "ru", "lv", "ru"),
    ("uk", "ru", "lv", "uk"),
    ("xx", None, "fr-FR", "en"),
])
def test_language_choice(query: str | None, cookie: str | None, header: str | None, expected: str) -> None:
    assert pick_language(query, cookie, header) == expected
