"""The ``tilts`` subcommands, one module per kind of work; each registers on :data:`tilts.shell.app`."""
