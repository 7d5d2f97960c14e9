"""The http(s) link gate of the event contract: ``web_url`` and the ``WebUrl`` field type."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urljoin, urlsplit

from pydantic import AfterValidator

WEB_SCHEMES = frozenset({"http", "https"})
MAX_URL_CHARS = 4096
# Browsers drop tab and line breaks anywhere in a URL and C0 controls and
# spaces at its ends ("java\tscript:" is "javascript:"): do the same before
# looking at the scheme.
_URL_STRIPPED = re.compile(r"[\t\n\r]")
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]*:")


def web_url(value: object, base: str | None = None) -> str | None:
    """``value`` as an absolute http(s) URL (resolved against ``base``), or None.

    The one gate for every link tilts shows, feeds or mails: ``javascript:``,
    ``data:``, ``vbscript:``, ``file:`` and anything without a host are refused
    here, in the event contract and again in the templates and feeds.
    """
    if value is None:
        return None
    text = _URL_STRIPPED.sub("", str(value)).strip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c"
                                                   "\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19"
                                                   "\x1a\x1b\x1c\x1d\x1e\x1f\x20")
    if not text or len(text) > MAX_URL_CHARS or any(ord(c) < 0x20 or c == "\x7f" for c in text):
        return None
    try:
        if base and not _SCHEME.match(text):  # relative ("/apply", "//host/x"): against the page
            text = urljoin(base, text)
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        return None
    if parts.scheme.lower() not in WEB_SCHEMES or not host:
        return None
    return text


def require_web_url(value: object) -> object:
    """``value`` unchanged if it is an absolute http(s) URL as it stands, else ValueError."""
    if value is not None and web_url(value) != str(value):
        raise ValueError("only absolute http and https URLs are allowed")
    return value


WebUrl = Annotated[str, AfterValidator(require_web_url)]
