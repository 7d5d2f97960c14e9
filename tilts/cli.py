"""The ``tilts`` command: ``tilts --help`` lists the subcommands
(:mod:`tilts.commands`); expected failures end with one clear line on stderr
and exit code 1, never a traceback."""

from __future__ import annotations

import logging
import os
import sys

import typer

from tilts.shell import EXPECTED, app

# Commands register on ``app`` when imported; `tilts --help` lists them in this order.
# isort: off
from tilts.commands import demo, workers, data, admin
# isort: on

COMMANDS = (demo, workers, data, admin)


def main() -> None:
    level = os.environ.get("TILTS_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":
        # kafka-python logs every refused connection; our own error line says it once.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        app(standalone_mode=True)
    except EXPECTED as exc:
        typer.echo(f"tilts: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
