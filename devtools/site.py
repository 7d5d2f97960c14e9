"""Serve a folder of static pages on 127.0.0.1 (the demo site, test fixture sites).

``{{BASE}}`` in ``.xml`` and ``.txt`` files is replaced by the server's base
URL, so sitemaps can hold absolute URLs whatever port the server got.
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO, Self

DEMO_SITE = Path(__file__).parent / "demo_site"

class _Handler(SimpleHTTPRequestHandler):
    base_url = ""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def send_head(self) -> io.BytesIO | BinaryIO | None:
        path = Path(self.translate_path(self.path))
        if path.suffix in (".xml", ".txt") and path.is_file():
            body = path.read_bytes().replace(b"{{BASE}}", self.base_url.encode())
            self.send_response(200)
            self.send_header("Content-Type", "application/xml" if path.suffix == ".xml" else "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()

            return io.BytesIO(body)
        return super().send_head()

class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 for the life of a ``with`` block."""

    def __init__(self, handler: Callable[..., BaseHTTPRequestHandler], host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self._server = ThreadingHTTPServer((host, port), handler)
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class StaticSite(LoopbackServer):
    """``with StaticSite(folder) as site: site.url`` serves the folder until exit."""

    def __init__(self, root: Path = DEMO_SITE, host: str = "127.0.0.1", port: int = 0) -> None:
        # A fresh subclass per site, so each server's base URL stays its own.
        handler: type[_Handler] = type("Handler", (_Handler,), {})
        super().__init__(functools.partial(handler, directory=str(root)), host, port)
        handler.base_url = self.url
