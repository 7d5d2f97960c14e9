"""Progress bars on stderr for the import commands."""

from __future__ import annotations

import logging
import sys
from typing import Any, Self

from tilts.importer.mapping import Say


class _Lines:
    """A stream for a logging handler that hands each line to ``say``."""

    def __init__(self, say: Say) -> None:
        self._say = say

    def write(self, text: str) -> int:
        if text.strip():
            self._say(text.rstrip("\n"))
        return len(text)

    def flush(self) -> None:
        pass


class Bars:
    """Progress bars on stderr when it is a terminal (rich, which typer brings);
    otherwise nothing. ``say`` prints a line above the bars."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._handlers: list[logging.StreamHandler] = []

    def __enter__(self) -> Self:
        if self.enabled:
            try:
                from rich.console import Console
                from rich.progress import (
                    BarColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                    TimeRemainingColumn,
                )
            except ImportError:  # typer-slim: no bars, everything else the same
                self.enabled = False
                return self
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                console=Console(stderr=True), transient=False)
            self._progress.start()
            # Log lines (the normalizer's warnings) above the bars, not through them.
            self._handlers = [h for h in logging.getLogger().handlers
                              if isinstance(h, logging.StreamHandler) and h.stream in (sys.stderr, sys.__stderr__)]
            for handler in self._handlers:
                handler.setStream(_Lines(self.say))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            for handler in self._handlers:
                handler.setStream(sys.stderr)
            self._progress.stop()
            self._progress = None

    def say(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message, markup=False, highlight=False, soft_wrap=True)
        else:
            print(message, file=sys.stderr, flush=True)

    def update(self, name: str, done: int, total: int | None, detail: str) -> None:
        if self._progress is None:
            return
        task = self._tasks.get(name)
        if task is None:
            task = self._tasks[name] = self._progress.add_task(name, total=total, detail=detail)
        self._progress.update(task, completed=done, total=total, detail=detail)
