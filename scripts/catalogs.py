"""Check the UI catalogs: every message the page and email templates and the
Python code (``gettext("...")``, ``ngettext("...", ...)``) use has a
translation in lv, ru and uk (run by tests/search/test_i18n.py)."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

REPO = Path(__file__).resolve().parent.parent
ROOT = REPO / "search"
_CALL = re.compile(r"""\b_\(\s*(["'])(.+?)\1\s*\)""")
_GETTEXT = re.compile(r"""\bgettext\(\s*(["'])(.+?)\1\s*[,)]""")
_NGETTEXT = re.compile(r"""ngettext\(\s*"(.+?)",\s*"(.+?)\"""", re.S)
TEMPLATE_DIRS = (REPO / "search" / "templates", REPO / "subscriptions" / "templates")
CODE = (REPO / "search" / "api.py", REPO / "scheduler" / "digest.py", REPO / "search" / "dashboard.py")


def used_messages() -> set[str]:
    found: set[str] = set()
    for path in [p for d in TEMPLATE_DIRS for p in d.glob("*.*")]:
        text = path.read_text()
        found |= {m.group(2) for m in _CALL.finditer(text)}
        found |= {m.group(1) for m in _NGETTEXT.finditer(text)}
    for path in CODE:
        if path.exists():
            text = path.read_text()
            found |= {m.group(2) for m in _GETTEXT.finditer(text)}
            found |= {m.group(1) for m in _NGETTEXT.finditer(text)}
    from search import api

    for table in (api.FACET_LABELS, api.SUPPORT_LABELS, *api.VALUE_LABELS.values()):
        found |= set(table.values())
    return found


def missing(lang: str) -> set[str]:
    with (ROOT / "locales" / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    done = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id and m.string and all(m.string)}
    return used_messages() - done


if __name__ == "__main__":
    for lang in ("lv", "ru", "uk"):
        print(lang, sorted(missing(lang)) or "complete")
