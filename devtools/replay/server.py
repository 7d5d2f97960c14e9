"""HTTP for the replay: routing, validators and 304s, the rate limit, the request log.

Every response carries ``ETag`` (a hash of the body), ``Last-Modified`` (when
the server first served that body) and ``Cache-Control: max-age=0``, so a
crawler's HTTP cache revalidates each time: a conditional GET
(``If-None-Match`` / ``If-Modified-Since``) of an unchanged resource is
answered ``304 Not Modified`` without a body. (``no-cache`` would say the same
to a browser, but Scrapy's RFC 2616 cache policy then sends no validators at
all.) A client (by address) asking more than ``rate_limit`` requests per
second gets ``429 Too Many Requests`` with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from devtools.replay import Replay

JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=utf-8"
SEARCH = re.compile(r"^/api/rest/eyp/v1/search_([a-z]{2})$")
ESC_DETAIL = re.compile(r"^/solidarity/opportunity/([0-9]+)_([a-z]{2})$")
NYC_DETAIL = re.compile(r"^/nyc/opportunities/([0-9A-Za-z_-]+)$")
MAX_SIZE = 500  # the portal's largest page


@dataclass(frozen=True)
class Served:
    """One request as the replay answered it."""

    time: float  # wall clock (epoch seconds)
    method: str
    path: str  # with the query
    status: int
    client: str
    conditional: bool  # it carried If-None-Match or If-Modified-Since


class RateLimit:
    """At most ``rate`` requests per second per client (a sliding one-second window)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str, now: float) -> int | None:
        """None when the request may go on; else the seconds to wait."""
        if not self.rate:
            return None
        allowed = max(1, int(self.rate))
        with self._lock:
            window = self._seen.setdefault(client, deque())
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= allowed:
                return max(1, math.ceil(window[0] + 1.0 - now))
            window.append(now)
            return None


def _query(raw: str) -> dict[str, str]:
    return dict(parse_qsl(raw, keep_blank_values=True))


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def search_params(method: str, query: dict[str, str], body: bytes) -> tuple[dict[str, Any], str | None]:
    """``from``, ``size``, ``status`` and sort order from a GET query or a POST
    JSON body (the two forms public code uses); an error message for a bad body."""
    if method == "POST":
        try:
            data = json.loads(body or b"{}")
        except ValueError as exc:
            return {}, f"invalid JSON body: {exc}"
        if not isinstance(data, dict):
            return {}, "the body must be a JSON object"
        filters = data.get("filters")
        if not isinstance(filters, dict):
            filters = {}
        sort = data.get("sort")
        if not isinstance(sort, dict):
            sort = {}
        return {"from": _int(data.get("from"), 0), "size": _int(data.get("size"), 10),
                "status": filters.get("status"), "order": str(sort.get("created", "desc")),
                "type": data.get("type", "Opportunity")}, None
    return {"from": _int(query.get("from"), 0), "size": _int(query.get("size"), 10),
            "status": query.get("filters[status]"), "order": query.get("sort[created]", "desc"),
            "type": query.get("type", "Opportunity")}, None


def _not_modified(headers: Message, etag: str, modified: float) -> bool:
    """Whether a request's validators match the response's (a 304 then)."""
    match = headers.get("If-None-Match")
    if match is not None:  # RFC 9110 13.1.2: If-None-Match wins over If-Modified-Since
        return etag in [m.strip() for m in match.split(",")] or match.strip() == "*"
    since = headers.get("If-Modified-Since")
    if since:
        try:
            return int(modified) <= parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError):
            return False
    return False


def make_handler(replay: Replay) -> Callable[..., BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "tilts-replay/1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._handle("GET", b"")

        def do_HEAD(self) -> None:
            self._handle("HEAD", b"")

        def do_POST(self) -> None:
            length = _int(self.headers.get("Content-Length"), 0)
            self._handle("POST", self.rfile.read(min(length, 1 << 20)) if length > 0 else b"")

        def _handle(self, method: str, body: bytes) -> None:
            client = self.client_address[0]
            conditional = bool(self.headers.get("If-None-Match") or self.headers.get("If-Modified-Since"))
            now = time.time()
            wait = replay._rate.retry_after(client, now)
            if wait is not None:
                # logged before it is sent: a client that has its answer finds it counted
                replay._log(Served(now, method, self.path, 429, client, conditional))
                self._send(429, {"Retry-After": str(wait), "Content-Type": "text/plain; charset=utf-8"},
                           b"Too many requests: slow down.\n", method)
                return
            parts = urlsplit(self.path)
            status, ctype, payload = replay._route(method, parts.path, _query(parts.query), body)
            headers = {"Content-Type": ctype, "Cache-Control": "max-age=0"}
            if status == 200:
                etag, modified = replay._validators(self.path if method != "POST" else f"{self.path}#{body!r}",
                                                    payload, now)
                headers["ETag"] = etag
                headers["Last-Modified"] = formatdate(modified, usegmt=True)
                if _not_modified(self.headers, etag, modified):
                    status, payload = 304, b""
            replay._log(Served(now, method, self.path, status, client, conditional))
            self._send(status, headers, payload, method)

        def _send(self, status: int, headers: dict[str, str], payload: bytes, method: str) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if status != 304:
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if method != "HEAD" and status != 304:
                self.wfile.write(payload)

    return Handler


def etag_of(payload: bytes) -> str:
    return '"' + hashlib.blake2b(payload, digest_size=10).hexdigest() + '"'
