"""Web defences shared by every route: security headers, cross-site form
posts, the public origin of absolute links, throttled logins and rate limits.

The threat model and which test proves each defence are in docs/security.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import Request, Response

# Pages run scripts and styles only from /static (no inline script, no
# handler attribute): a listing that smuggles markup past every other layer
# still cannot run or restyle anything.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
# The API documentation pages (FastAPI's Swagger UI and ReDoc, vendored under
# /static/vendor) show no listing content. Swagger UI is started by one inline
# script, allowed by its hash (docs_csp); both style themselves inline and
# ReDoc searches in a worker it makes from a blob.
DOCS_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self'; worker-src 'self' blob:; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
DOCS_PATHS = ("/docs", "/redoc")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
HSTS = "max-age=31536000"


def tile_source(template: str) -> str | None:
    """The CSP source of a map tile URL template: its origin, a ``{s}``
    (subdomain) label and those left of it as ``*``; None for none."""
    parts = urlsplit(template)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    labels = parts.netloc.lower().split(".")
    templated = [i for i, label in enumerate(labels) if "{" in label]
    if templated:
        labels = ["*", *labels[templated[-1] + 1:]]
    if len(labels) < 2 or not re.fullmatch(r"[\w*.:-]+", ".".join(labels)):
        return None
    return f"{parts.scheme}://{'.'.join(labels)}"


def page_csp(map_tiles: str = "") -> str:
    """The pages' policy: :data:`CSP`, whose images may also come from the
    map's tile host when one is configured."""
    source = tile_source(map_tiles) if map_tiles else None
    return CSP.replace("img-src 'self' data:", f"img-src 'self' data: {source}") if source else CSP


def docs_csp(html: str) -> str:
    """:data:`DOCS_CSP` allowing exactly the inline scripts of ``html`` (by their SHA-256)."""
    hashes = ["'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
              for script in _INLINE_SCRIPT.findall(html)]
    return DOCS_CSP.replace("script-src 'self'", " ".join(["script-src 'self'", *hashes]))


def security_headers(public_url: str, map_tiles: str = "") -> Callable[
        [Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """An HTTP middleware that sets the security headers on every response
    (a route may set its own policy first, as the docs pages do)."""
    https = public_url.lower().startswith("https://")
    csp = page_csp(map_tiles)

    async def add_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        headers = response.headers
        docs = request.url.path.startswith(DOCS_PATHS)
        headers.setdefault("Content-Security-Policy", DOCS_CSP if docs else csp)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if https or request.url.scheme == "https":
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response

    return add_headers


def origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def cross_site(request: Request, public_url: str) -> bool:
    """True when a state-changing request was sent by another site's page.

    Browsers say where a form post comes from (``Sec-Fetch-Site``, ``Origin``,
    else ``Referer``); the no-JavaScript forms of tilts' own pages pass, and so
    do clients that are not browsers (they carry none of these headers and
    cannot ride on a visitor's session). The page's own origin is the public
    URL when one is configured, else the host the request was sent to: a
    browser posting from another site cannot change that Host header.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return True
    sender = request.headers.get("origin")
    if sender is None or sender == "null":
        referer = request.headers.get("referer")
        if sender is None and not referer:
            return False
        sender = origin_of(referer) if referer else None
    allowed = {origin_of(public_url)} if public_url else set()
    host = request.headers.get("host")
    if host:
        allowed.add(f"{request.url.scheme}://{host.lower()}")
    return sender is None or sender.lower() not in allowed


def public_base(public_url: str, request: Request) -> str:
    """The origin of absolute links (feeds, e-mails): the configured public URL,
    else the address the server listens on, never the client's Host header
    (a forged Host would otherwise end up in cached feeds)."""
    if public_url:
        return public_url.rstrip("/")
    server = request.scope.get("server")
    if server and server[0]:
        host, port = server[0], server[1]
        host = f"[{host}]" if ":" in host else host
        default = {"http": 80, "https": 443}.get(request.url.scheme)
        return f"{request.url.scheme}://{host}" + ("" if port in (None, default) else f":{port}")
    return "http://127.0.0.1"


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """The user and password of an HTTP Basic ``Authorization`` header, read
    as UTF-8 (RFC 7617; FastAPI's HTTPBasic reads ASCII only, so a password
    like "paroļu-vārds" could never log in)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def same_secret(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class FailureThrottle:
    """After ``limit`` failures within ``window`` seconds, a client is refused
    (even with the right password) until its oldest failure ages out."""

    def __init__(self, limit: int = 10, window: float = 300.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> list[float]:
        recent = [t for t in self._failures.get(client, []) if now - t < self.window]
        if recent:
            self._failures[client] = recent
        else:
            self._failures.pop(client, None)
        return recent

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may try again (0: now)."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent(client, now)
            if len(recent) < self.limit:
                return 0
            return max(1, int(self.window - (now - recent[-self.limit])) + 1)

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent(client, now)
            self._failures.setdefault(client, []).append(now)
            if len(self._failures) > 10_000:  # forget idle clients
                self._failures = {k: v for k, v in self._failures.items() if now - v[-1] < self.window}

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


class RateLimiter:
    """At most ``limit`` calls per ``window`` seconds per client (in memory)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._calls: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._calls.get(client, []) if now - t < self.window]
            allowed = len(recent) < self.limit
            if allowed:
                recent.append(now)
            self._calls[client] = recent
            if len(self._calls) > 10_000:  # forget idle clients
                self._calls = {k: v for k, v in self._calls.items() if v and now - v[-1] < self.window}
        return allowed
