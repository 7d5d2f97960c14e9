"""Check the UI catalogs (``search/locales/<lang>/LC_MESSAGES/messages.po``;
run by tests/search/test_i18n.py). For each language but English, the
source language, it reports:

- ``missing``: a message the page and email templates, the Python code
  (``_("...")``, ``gettext("...")``, ``ngettext("...", ...)``) or the label
  tables of search/i18n.py use has no translation;
- ``fuzzy``: an entry marked fuzzy (Babel leaves it out, so the page shows
  English), or a fuzzy header;
- ``empty``: an entry with an empty translation, or an empty plural form;
- ``same``: a translation identical to the English source, unless
  :data:`SAME_AS_ENGLISH` allows that message (with its reason) or it has no
  letters to translate;
- ``placeholders``: ``%(name)s``, ``%s`` or ``{name}`` differ between msgid
  and msgstr (a plural form that only ever stands for one number, as
  Arabic's zero, one and two do, may leave out the count ``%(num)...``:
  "فرصتان", two opportunities, has no number in it);
- ``plurals``: the header's ``nplurals`` is not the language's in CLDR, its
  plural expression never picks some form, or an entry has another number
  of forms.

    python scripts/catalogs.py          # every finding; exit 1 when there is one
"""

from __future__ import annotations

import contextlib
import gettext
import io
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

from babel.messages.catalog import Catalog, Message
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po, unescape

REPO = Path(__file__).resolve().parent.parent
ROOT = REPO / "search"
_CALL = re.compile(r"""\b_\(\s*(["'])(.+?)\1\s*\)""")
_GETTEXT = re.compile(r"""\bgettext\(\s*(["'])(.+?)\1\s*[,)]""")
_NGETTEXT = re.compile(r"""ngettext\(\s*"(.+?)",\s*"(.+?)\"""", re.S)
TEMPLATE_DIRS = (REPO / "search" / "templates", REPO / "subscriptions" / "templates")
# Python code that calls ``gettext``/``ngettext`` with a message (the label tables are in search/i18n.py).
CODE = (*sorted((REPO / "search" / "web").glob("*.py")), REPO / "search" / "feeds.py",
        REPO / "subscriptions" / "routes.py", REPO / "subscriptions" / "digest.py", REPO / "coverage" / "routes.py",
        REPO / "coverage" / "dashboard.py")
# Messages whose translation may be the English text itself, and why.
SAME_AS_ENGLISH: dict[str, str] = {
    "tilts": "the project's name (Latvian for 'bridge'), written the same in every language",
    "RSS": "a feed format's name, the same in every language",
    "Atom": "a feed format's name, the same in every language",
    "CSV": "a file format's name, the same in every language",
    "JSON": "a file format's name, the same in every language",
}
# The count of a plural message: a form that stands for one number only may leave it out.
COUNT_PLACEHOLDER = "num"
_PLACEHOLDER = re.compile(r"%\((\w+)\)[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]|%[#0 +-]*\d*(?:\.\d+)?[disfr]"
                          r"|\{(\w*)(?:![rsa])?(?::[^{}]*)?\}")
_LETTER = re.compile(r"[^\W\d_]")


class Finding(NamedTuple):
    kind: str  # missing, fuzzy, empty, same, placeholders, plurals
    msgid: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.msgid!r}" + (f" ({self.detail})" if self.detail else "")


def languages() -> list[str]:
    from search.i18n import DEFAULT_LANGUAGE, UI_LANGUAGES

    return [lang for lang in UI_LANGUAGES if lang != DEFAULT_LANGUAGE]


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


def catalog_path(lang: str) -> Path:
    return ROOT / "locales" / lang / "LC_MESSAGES" / "messages.po"


def _read(text: str, lang: str) -> Catalog:
    with contextlib.redirect_stdout(io.StringIO()):  # Babel prints surplus plural forms: check_po reports them
        return read_po(io.StringIO(text), locale=lang)


def _key(message: Message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def missing(lang: str) -> set[str]:
    catalog = _read(catalog_path(lang).read_text(encoding="utf-8"), lang)
    done = {_key(m) for m in catalog if m.id and m.string and all(m.string)}
    return used_messages() - done


def check(lang: str) -> list[Finding]:
    """Every finding of ``lang``'s catalog: the messages it lacks and what is wrong in it."""
    if not catalog_path(lang).exists():
        return [Finding("missing", "", f"no catalog at {catalog_path(lang).relative_to(REPO)}")]
    found = [Finding("missing", msgid) for msgid in sorted(missing(lang))]
    return found + check_po(catalog_path(lang).read_text(encoding="utf-8"), lang)


def check_po(text: str, lang: str) -> list[Finding]:
    """What is wrong in the catalog ``text`` of ``lang`` (everything but missing messages)."""
    catalog = _read(text, lang)
    found = _check_header(catalog, lang)
    single = _single_number_forms(catalog)
    forms = _plural_form_counts(text)
    for message in catalog:
        if not message.id:
            continue
        found += _check_message(message, lang, single)
        if message.pluralizable and forms.get(_key(message), catalog.num_plurals) != catalog.num_plurals:
            found.append(Finding("plurals", _key(message), f"{forms[_key(message)]} forms, "
                                                           f"{lang} has {catalog.num_plurals}"))
    return found


def _check_header(catalog: Catalog, lang: str) -> list[Finding]:
    found = []
    if catalog.fuzzy:
        found.append(Finding("fuzzy", "", "the header is marked fuzzy"))
    expected = get_plural(lang).num_plurals
    if catalog.num_plurals != expected:
        found.append(Finding("plurals", "", f"the header says nplurals={catalog.num_plurals}, CLDR's {lang} has "
                                            f"{expected}"))
    picked = {_plural_function(catalog)(n) for n in range(1001)}
    if picked != set(range(catalog.num_plurals)):
        found.append(Finding("plurals", "", f"the plural expression picks the forms {sorted(picked)}"))
    return found


def _plural_function(catalog: Catalog) -> Callable[[int], int]:
    return gettext.c2py(catalog.plural_expr)


def _single_number_forms(catalog: Catalog) -> set[int]:
    """The plural forms that stand for one number only (Arabic's 0, 1 and 2)."""
    numbers: dict[int, set[int]] = {}
    pick = _plural_function(catalog)
    for n in range(1001):
        numbers.setdefault(pick(n), set()).add(n)
    return {form for form, ns in numbers.items() if len(ns) == 1}


def _check_message(message: Message, lang: str, single: set[int]) -> list[Finding]:
    msgid = _key(message)
    sources = [message.id] if isinstance(message.id, str) else list(message.id)
    strings = [message.string] if isinstance(message.string, str) else list(message.string or ())
    found = []
    if message.fuzzy:
        found.append(Finding("fuzzy", msgid))
    if not strings or not all(strings):
        found.append(Finding("empty", msgid, "" if len(strings) < 2 else
                             f"forms {[i for i, s in enumerate(strings) if not s]}"))
    if msgid not in SAME_AS_ENGLISH and any(s in sources and _LETTER.search(_PLACEHOLDER.sub("", s))
                                            for s in strings if s):
        found.append(Finding("same", msgid, f"the {lang} text is the English one"))
    expected = set().union(*(_placeholders(s) for s in sources))
    for i, string in enumerate(strings):
        got = _placeholders(string) if string else expected
        allowed = {p for p in expected if not _is_count(p)} if message.pluralizable and i in single else expected
        if not (allowed <= got <= expected):
            form = f"form {i}: " if message.pluralizable else ""
            found.append(Finding("placeholders", msgid, f"{form}{sorted(got)} instead of {sorted(expected)}"))
    return found


def _placeholders(text: str) -> set[str]:
    return {m.group(0) for m in _PLACEHOLDER.finditer(text.replace("%%", ""))}


def _is_count(placeholder: str) -> bool:
    return placeholder.startswith(f"%({COUNT_PLACEHOLDER})")


def _plural_form_counts(text: str) -> dict[str, int]:
    """msgid -> the number of ``msgstr[i]`` its entry has, read from the file
    itself (Babel drops the forms beyond the header's ``nplurals`` while reading)."""
    counts: dict[str, int] = {}
    parts: list[str] = []
    in_msgid = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("msgid "):
            parts, in_msgid = [line[6:]], True
        elif line.startswith('"') and in_msgid:
            parts.append(line)
        else:
            in_msgid = False
            if line.startswith("msgstr["):
                msgid = "".join(unescape(p) for p in parts)
                counts[msgid] = counts.get(msgid, 0) + 1
    return counts


def report(findings: Iterable[Finding], lang: str) -> list[str]:
    return [f"{lang}: {f}" for f in findings]


if __name__ == "__main__":
    lines = [line for lang in languages() for line in report(check(lang), lang)]
    print("\n".join(lines) or "complete: " + ", ".join(languages()))
    sys.exit(1 if lines else 0)
