"""Downloader middlewares: retries with backoff, text in UTF-8, failures counted once.

``BackoffRetryMiddleware``: Scrapy's RetryMiddleware retries 5xx answers and timeouts at once; a site
that is struggling deserves a pause. This subclass waits
``TILTS_RETRY_BACKOFF_BASE`` × 2^(attempt − 1) seconds (capped by
``TILTS_RETRY_BACKOFF_MAX``) before handing the retry back to the scheduler.
The wait is asynchronous: other domains keep being crawled meanwhile.

``EncodingMiddleware``: every text response the spiders see is UTF-8 and says
so (parsers read ``response.body`` as UTF-8); a page whose bytes are not in
the encoding it declares is read in its real one and counted
(``tilts/encoding_mismatch``); one that no encoding reads is an
``undecodable`` error and is not parsed.

``FinalOutcomeMiddleware`` and the ``…Counting…`` subclasses of Scrapy's
redirect and decompression middlewares count each failure once, by kind
(crawlers/failures.py); settings.py puts them in place of Scrapy's.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import re
import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import charset_normalizer
from scrapy import Request
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware, RedirectMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from twisted.internet.defer import CancelledError
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom
from w3lib.url import canonicalize_url

from crawlers.failures import count_error

try:  # Scrapy >= 2.13 wraps Twisted's CancelledError
    from scrapy.exceptions import DownloadCancelledError
except ImportError:  # pragma: no cover - older Scrapy
    DownloadCancelledError = CancelledError  # type: ignore[assignment,misc]

log = logging.getLogger(__name__)


def _spider(spider: Any) -> tuple[Any, ...]:
    """Scrapy < 2.13 passes ``spider`` to middleware methods, newer ones warn when given it."""
    return () if spider is None else (spider,)


def retry_after(value: bytes | str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta seconds or an HTTP date)."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class BackoffRetryMiddleware(RetryMiddleware):
    """Retries after ``base`` × 2^(attempt − 1) seconds; a 429 or 503 with ``Retry-After``
    waits at least what the site asked for (capped by ``TILTS_RETRY_AFTER_MAX``), and a 429
    also doubles the domain's delay between requests for the rest of the crawl (AutoThrottle
    lowers it again as answers come back fine), so the other queued requests slow down too."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.base = settings.getfloat("TILTS_RETRY_BACKOFF_BASE", 1.0)
        self.cap = settings.getfloat("TILTS_RETRY_BACKOFF_MAX", 60.0)
        self.after_cap = settings.getfloat("TILTS_RETRY_AFTER_MAX", 300.0)
        self.max_delay = settings.getfloat("AUTOTHROTTLE_MAX_DELAY", 60.0)

    async def _pause(self, result: Any, asked: float | None = None) -> Any:
        if isinstance(result, Request):
            attempt = int(result.meta.get("retry_times", 1))
            wait = min(self.base * 2 ** (attempt - 1), self.cap)
            if asked is not None:
                wait = max(wait, min(asked, self.after_cap))
            await asyncio.sleep(wait)
        return result

    def _slow_down(self, request: Request) -> None:
        engine = getattr(getattr(self, "crawler", None), "engine", None)
        downloader = getattr(engine, "downloader", None)
        slot = downloader.slots.get(request.meta.get("download_slot")) if downloader else None
        if slot is not None:
            slot.delay = min(max(slot.delay * 2, self.base), self.max_delay)
            self.crawler.stats.inc_value("tilts/rate_limited")

    # Scrapy awaits middleware methods that are coroutines; its annotations name only the plain form.
    async def process_response(  # type: ignore[override]
            self, request: Request, response: Any, spider: Any = None) -> Any:
        asked = None
        if response.status in (429, 503):
            asked = retry_after(response.headers.get(b"Retry-After"))
            if response.status == 429:
                self._slow_down(request)
        return await self._pause(super().process_response(request, response, *_spider(spider)), asked)

    async def process_exception(  # type: ignore[override]  # a coroutine, as above
            self, request: Request, exception: Exception, spider: Any = None) -> Any:
        return await self._pause(super().process_exception(request, exception, *_spider(spider)))


# ------------------------------------------------------------ failures, once each


def _count(crawler: Any, kind: str) -> None:
    count_error(crawler.stats, kind)


class FinalOutcomeMiddleware:
    """Counts what the crawl finally failed to download, once per request.

    Sits just outside the retry middleware (DOWNLOADER_MIDDLEWARES 540 < 550):
    it sees a response or an exception only after retrying gave up, so a
    503 retried into a 200 is no error and a page that timed out three times
    is one. IgnoreRequest is not counted here: robots.txt and offsite refusals
    have counts of their own, and redirect loops and oversized bodies are
    counted where they are refused (below)."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.error_statuses = {408, 429, *map(int, crawler.settings.getlist("RETRY_HTTP_CODES"))}

    @classmethod
    def from_crawler(cls, crawler: Any) -> FinalOutcomeMiddleware:
        return cls(crawler)

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Response:
        if response.status >= 500 or response.status in self.error_statuses:
            _count(self.crawler, f"http_{response.status}")
        return response

    def process_exception(self, request: Request, exception: Exception, spider: Any = None) -> None:
        if isinstance(exception, IgnoreRequest):
            return
        if isinstance(exception, DownloadCancelledError | CancelledError):
            kind = "too_large"  # the download handlers cancel only over DOWNLOAD_MAXSIZE
        else:
            kind = type(exception).__name__
        _count(self.crawler, kind)


class _LoopCounting:
    """Redirects that come back to a URL of their own chain are refused at
    once (the duplicate filter would drop them without a word), and more
    than REDIRECT_MAX_TIMES of them are counted: both are ``redirect_loop``."""

    crawler: Any

    def _counted(self, request: Request, result: Request | Response) -> Request | Response:
        if isinstance(result, Request) and result is not request:
            chain = {canonicalize_url(u) for u in [*request.meta.get("redirect_urls", []), request.url]}
            if canonicalize_url(result.url) in chain:
                _count(self.crawler, "redirect_loop")
                log.warning("redirect loop: %s redirects back to %s", request.url, result.url)
                raise IgnoreRequest(f"redirect loop back to {result.url}")
        return result

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Any:
        try:
            result = super().process_response(request, response, *_spider(spider))  # type: ignore[misc]
        except IgnoreRequest:
            _count(self.crawler, "redirect_loop")
            log.warning("redirect loop: %s after %s redirects", request.url,
                        request.meta.get("redirect_times", 0))
            raise
        return self._counted(request, result)


class LoopCountingRedirectMiddleware(_LoopCounting, RedirectMiddleware):
    pass


class LoopCountingMetaRefreshMiddleware(_LoopCounting, MetaRefreshMiddleware):
    pass


class SizeCountingHttpCompressionMiddleware(HttpCompressionMiddleware):
    """A compressed body over DOWNLOAD_MAXSIZE once decompressed (a gzip bomb)
    is refused by Scrapy with IgnoreRequest; here it is also a ``too_large`` error."""

    crawler: Any

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Any:
        try:
            return super().process_response(request, response, *_spider(spider))
        except IgnoreRequest:
            _count(self.crawler, "too_large")
            raise

    @classmethod
    def from_crawler(cls, crawler: Any) -> SizeCountingHttpCompressionMiddleware:
        middleware = super().from_crawler(crawler)
        middleware.crawler = crawler
        return middleware


# ----------------------------------------------------------------- encodings

_BALTIC = ("cp1257", "iso8859-13", "iso8859-4")
_CYRILLIC = ("cp1251", "koi8-r", "koi8-u", "iso8859-5")
_CENTRAL = ("cp1250", "iso8859-2")
_WESTERN = ("cp1252", "iso8859-15")
# The legacy encodings a page in a language is likely written in: charset
# detection alone cannot tell cp1257 Latvian from cp1250 (it ranks cp1250
# first), the page's language can.
_LEGACY: dict[str, tuple[str, ...]] = {
    "lv": _BALTIC, "lt": _BALTIC, "et": _BALTIC + _WESTERN,
    **dict.fromkeys(("ru", "uk", "be", "bg", "sr", "mk"), _CYRILLIC),
    **dict.fromkeys(("pl", "cs", "sk", "hu", "sl", "hr", "ro", "bs"), _CENTRAL),
    "el": ("cp1253", "iso8859-7"), "tr": ("cp1254", "iso8859-9"),
    **dict.fromkeys(("en", "de", "fr", "es", "it", "nl", "pt", "sv", "da", "fi", "no", "nb", "is",
                     "ga", "ca"), _WESTERN),
}
_TLD_LANGUAGE = {"lv": "lv", "lt": "lt", "ee": "et", "ru": "ru", "ua": "uk", "by": "be", "bg": "bg",
                 "pl": "pl", "cz": "cs", "sk": "sk", "hu": "hu", "si": "sl", "hr": "hr", "ro": "ro",
                 "gr": "el", "tr": "tr"}
_HTML_LANG = re.compile(rb"<html[^>]*?\slang\s*=\s*[\"']?([A-Za-z]{2,3})", re.IGNORECASE)
_DECLARATIONS = (
    re.compile(r"(<meta[^>]*?charset\s*=\s*[\"']?)([\w.:-]+)", re.IGNORECASE),
    re.compile(r"(\A\s*<\?xml[^>]*?encoding\s*=\s*[\"'])([\w.:-]+)", re.IGNORECASE),
)
_HEAD = 4096  # where encodings are declared (as w3lib looks for them)


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class EncodingMiddleware:
    """Text responses in UTF-8, read in the encoding their bytes are really in.

    The declared encoding (byte order mark, then the Content-Type header, then
    ``<meta charset>`` / ``<?xml encoding?>``) is used when the body decodes
    in it. When it does not (a cp1257 page served as UTF-8), or a page
    declared in a legacy encoding is in fact valid UTF-8, the real encoding
    is the one that reads it: UTF-8, else the candidate of charset-normalizer
    that fits the page's language (``<html lang>``, Content-Language, the
    source's language, the domain), else its best guess. That page is
    counted as ``tilts/encoding_mismatch``. A body nothing reads is an
    ``undecodable`` error and is dropped: no page full of U+FFFD is parsed.

    What is not UTF-8 already is re-encoded to UTF-8, with its header and
    in-page declarations saying so, so parsers of ``response.body`` (lxml,
    extruct, feedparser, json) read it right. Only 2xx answers are looked at.
    """

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.warned = False

    @classmethod
    def from_crawler(cls, crawler: Any) -> EncodingMiddleware:
        return cls(crawler)

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Response:
        if not isinstance(response, TextResponse) or not 200 <= response.status < 300:
            return response
        body = response.body
        if body.isascii() or body[:3] == b"\x1f\x8b\x08":
            # ASCII: the same text in UTF-8 and every encoding a page may declare;
            # gzip: a sitemap.xml.gz served as XML, read by the spider
            return response
        declared, offset = self._declared(response)
        codec, mismatch = None, False
        if declared:
            try:
                body[offset:].decode(declared)
                codec = declared
            except UnicodeDecodeError:
                mismatch = True
            if codec and codec != "utf-8" and not offset and _is_utf8(body):
                codec, mismatch = "utf-8", True  # valid UTF-8 is no accident
        if codec is None:
            offset = 0
            codec = "utf-8" if _is_utf8(body) else self._detect(response)
        if codec is None:
            count_error(self.crawler.stats, "undecodable")
            log.warning("undecodable: %s is in no encoding (declared %s); not parsed",
                        response.url, declared or "none")
            raise IgnoreRequest(f"undecodable body: {response.url}")
        if mismatch:
            self.crawler.stats.inc_value("tilts/encoding_mismatch")
            (log.warning if not self.warned else log.debug)(
                "encoding mismatch: %s declares %s, read as %s", response.url, declared, codec)
            self.warned = True
        if codec == "utf-8" and not offset and response.encoding == "utf-8":
            return response
        return self._utf8(response, body[offset:].decode(codec))

    @staticmethod
    def _declared(response: TextResponse) -> tuple[str | None, int]:
        """The declared codec and the length of a byte order mark to skip."""
        bom, mark = read_bom(response.body)
        if bom and mark:
            return _codec(bom), len(mark)
        content_type = response.headers.get(b"Content-Type")
        from_header = http_content_type_encoding(content_type.decode("latin-1")) if content_type else None
        return _codec(from_header or html_body_declared_encoding(response.body)), 0

    def _detect(self, response: TextResponse) -> str | None:
        matches = charset_normalizer.from_bytes(response.body)
        candidates = [c for c in (_codec(m.encoding) for m in matches) if c]
        for language in self._languages(response):
            for codec in _LEGACY.get(language, ()):
                if codec in candidates:
                    return codec
        return candidates[0] if candidates else None

    def _languages(self, response: TextResponse) -> list[str]:
        """Hints, most specific first: the page's lang, Content-Language, the source, the domain."""
        hints: list[str] = []
        found = _HTML_LANG.search(response.body[:_HEAD])
        if found:
            hints.append(found.group(1).decode("ascii").lower())
        header = response.headers.get(b"Content-Language")
        if header:
            hints.append(header.decode("latin-1")[:2].lower())
        spider = self.crawler.spider
        language, country = getattr(spider, "language", None), getattr(spider, "country", None)
        if language:
            hints.append(str(language)[:2].lower())
        if country:
            hints.append(_TLD_LANGUAGE.get(str(country).lower(), str(country).lower()))
        tld = (urlsplit(response.url).hostname or "").rsplit(".", 1)[-1].lower()
        if tld in _TLD_LANGUAGE:
            hints.append(_TLD_LANGUAGE[tld])
        return hints

    @staticmethod
    def _utf8(response: TextResponse, text: str) -> TextResponse:
        head, rest = text[:_HEAD], text[_HEAD:]
        for pattern in _DECLARATIONS:
            head = pattern.sub(r"\g<1>utf-8", head)
        headers = response.headers.copy()
        mime = (headers.get(b"Content-Type") or b"text/html").split(b";", 1)[0].strip()
        headers[b"Content-Type"] = mime + b"; charset=utf-8"
        return response.replace(body=(head + rest).encode("utf-8"), headers=headers, encoding="utf-8")
