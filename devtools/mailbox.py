"""A mail folder for ``tilts demo``: a real SMTP server (aiosmtpd) on
127.0.0.1 that keeps every message it receives as an ``.eml`` file, so a
person trying the demo can subscribe, confirm and read the digest without a
mail server of their own. Nothing leaves the machine."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any


class MailFolder:
    """Mail to any address, kept in ``folder`` (one file per message, oldest first by name)."""

    def __init__(self, folder: Path) -> None:
        from aiosmtpd.controller import Controller

        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        keep = self._keep

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                keep(envelope.content)
                return "250 kept"

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def _keep(self, content: bytes) -> None:
        with self._lock:
            n = len(list(self.folder.glob("*.eml"))) + 1
            (self.folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{n:04d}.eml").write_bytes(content)

    def __enter__(self) -> MailFolder:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
