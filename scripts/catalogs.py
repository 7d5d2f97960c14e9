"""Check the UI catalogs: every message the page and email templates, the
Python code (``_("...")``, ``gettext("...")``, ``ngettext("...", ...)``) and the label
tables of search/i18n.py use has a translation in lv, ru and uk (run by
tests/search/test_i18n.py)."""

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
# Python code that calls ``gettext``/``ngettext`` with a message (the label tables are in search/i18n.py).
CODE = (*sorted((REPO / "search" / "web").glob("*.py")), REPO / "search" / "feeds.py",
        REPO / "subscriptions" / "routes.py", REPO / "subscriptions" / "digest.py", REPO / "coverage" / "routes.py")


def used_messages() -> set[str]:
    found: set[str] = set()
    for path in [p for d in TEMPLATE_DIRS for p in d.glob("*.*")]:
        text = path.read_text()
        found |= {m.group(2) for m in _CALL.finditer(text)}
        found |= {m.group(1) for m in _NGETTEXT.finditer(text)}
    for path in CODE:
        if path.exists():
            text = path.read_text()
            found |= {m.group(2) for m in _CALL.finditer(text)}
            found |= {m.group(2) for m in _GETTEXT.finditer(text)}
            found |= {m.group(1) for m in _NGETTEXT.finditer(text)}
    from search.i18n import label_messages

    return found | label_messages()


def missing(lang: str) -> set[str]:
    with (ROOT / "locales" / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    done = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id and m.string and all(m.string)}
    return used_messages() - done


if __name__ == "__main__":
    for lang in ("lv", "ru", "uk"):
        print(lang, sorted(missing(lang)) or "complete")
