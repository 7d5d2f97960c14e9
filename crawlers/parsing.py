"""Parsing helpers every platform shares (no Scrapy): the parser signature, text
and links as published, registry selectors on a page, and reading partner JSON.

A parser (one per platform, ``crawlers/platforms/<name>.py``) turns one
response body into ``(items, errors)``: field dicts (RawOpportunity field
names, strings as published) and messages for parts that could not be read,
so a broken entry never hides the good ones next to it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from parsel import Selector

Fields = dict[str, Any]
Result = tuple[list[Fields], list[str]]
Parser = Callable[[bytes, str, dict[str, Any] | None], Result]


def text_of(value: Any) -> str | None:
    """A value as published, stripped; None when empty."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


# ------------------------------------------------------------------ selectors

# Where an element selected for a link field keeps its link, in this order.
_LINK_ATTRS = ("href", "src", "content", "data-href", "data-url")
_LINK_FIELDS = frozenset({"url", "image", "logo"})


def is_url_field(name: str) -> bool:
    """RawOpportunity fields (and structured keys) that hold a link: ``url``,
    ``apply_url``, ``organisation_url``, an image."""
    return name in _LINK_FIELDS or name.endswith("_url")


def absolute_url(value: Any, base: str | None, *, text: bool = False) -> str | None:
    """A link as published (relative, ``//host/x``, ``../x``, absolute) → an
    absolute http(s) URL resolved against ``base``, or None for anything else
    (``javascript:``, ``data:``, no host): :func:`pipeline.events.web_url`.

    ``text``: the value is a page's visible text, where ``www.example.org``
    names a host; in an attribute it would be a relative path, as a browser reads it.
    """
    from pipeline.events import web_url

    link = text_of(value)
    if link is None:
        return None
    if text and link[:4].lower() == "www.":
        link = "http://" + link
    return web_url(link, base)


def _is_element(node: Selector) -> bool:
    return isinstance(getattr(node.root, "tag", None), str)


def _absolute_links(node: Selector, base: str) -> None:
    """Relative ``href``/``src`` inside a selected element → absolute, in place
    (what else a link says, ``javascript:`` included, is left to the sanitizer)."""
    for element in node.root.iter():
        if not isinstance(element.tag, str):  # comments, processing instructions
            continue
        for attr in ("href", "src"):
            value = element.get(attr)
            resolved = absolute_url(value, base) if value is not None else None
            if resolved:
                element.set(attr, resolved)


def page_base(sel: Selector, url: str) -> str:
    """The URL relative links on a page are resolved against: its first
    ``<base href>`` (as browsers and Scrapy's ``response.follow`` do), else its own."""
    declared = sel.xpath("//base[@href][1]/@href").get()
    base = absolute_url(declared, url) if declared and declared.strip() else None
    return base or url


def select(sel: Selector, query: str, *, html: bool = False, link: bool = False,
           base_url: str | None = None) -> list[str]:
    """Values for one registry selector (CSS, or XPath after ``xpath:``).

    A selector ending in ``::text``/``::attr(name)`` (or an XPath to text or an
    attribute) gives those values; one selecting elements gives their HTML
    (``html``), their link (``link``: ``href``, ``src``, ``content``, else the
    text) or their text. With ``link`` every value is an absolute http(s) URL
    resolved against ``base_url``; anything else is left out. With ``html`` and
    ``base_url``, relative links inside the HTML are made absolute.
    """
    nodes = sel.xpath(query[len("xpath:"):]) if query.startswith("xpath:") else sel.css(query)
    attribute = "::attr(" in query or (query.startswith("xpath:") and "@" in query.rsplit("/", 1)[-1])
    values: list[str] = []
    for node in nodes:
        from_text = True
        if not _is_element(node):
            value = str(node.get() if node.root is not None else "").strip()
            from_text = not attribute
        elif html:
            if base_url:
                _absolute_links(node, base_url)
            value = node.get()
        elif link and (attr := next((a for a in _LINK_ATTRS if node.root.get(a)), None)):
            value, from_text = node.root.get(attr).strip(), False
        else:
            value = " ".join(" ".join(node.css("::text").getall()).split())
        if link:
            value = absolute_url(value, base_url, text=from_text) or ""
        if value.strip():
            values.append(value)
    return values


# ---------------------------------------------------------------- JSON APIs
# Shapes as summarized in ../shared/data/README.md from public code that talks
# to the partner services; fields beyond those are read when present. Every field a
# partner publishes lands in a RawOpportunity field, as published (dates too:
# the normalizer parses them); what has no RawOpportunity field is kept in
# ``structured``. Links are resolved against the response URL and refused when
# they are not http(s) (``absolute_url``).


def load_json(body: bytes, url: str) -> tuple[Any, list[str]]:
    try:
        return json.loads(body), []
    except ValueError as exc:
        return None, [f"invalid JSON from {url}: {exc}"]


def name_of(value: Any) -> str | None:
    """A name as published: a string, or an object's name/title/label."""
    if isinstance(value, dict):
        for key in ("name", "title", "label", "shortName", "value"):
            if isinstance(value.get(key), str | int | float) and text_of(value.get(key)):
                return text_of(value.get(key))
        return None
    if isinstance(value, list | tuple | set):
        return None
    return text_of(value)


def names_of(*groups: Any) -> list[str]:
    """Names from lists of strings or objects, in order, each once."""
    out: list[str] = []
    for group in groups:
        for value in group if isinstance(group, list) else [group] if group else []:
            name = name_of(value)
            if name and name not in out:
                out.append(name)
    return out


def yes_no(value: Any) -> bool | None:
    """A published yes/no (``true``, ``"false"``, ``1``, ``"yes"``) → bool; None when unknown."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        word = value.strip().lower()
        if word in {"true", "yes", "y", "1", "on"}:
            return True
        if word in {"false", "no", "n", "0", "off"}:
            return False
    return None


def first_present(*values: Any) -> Any:
    """The first value that is not None or empty."""
    return next((v for v in values if v not in (None, "", [], {})), None)


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def structured_of(**values: Any) -> dict[str, Any] | None:
    kept = {k: v for k, v in values.items() if v not in (None, "", [], {})}
    return kept or None
