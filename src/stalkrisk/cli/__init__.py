"""The ``stalkrisk`` command: ``main`` parses and calls one library function per command."""

from stalkrisk.cli.commands import main, run_and_exit

__all__ = ["main", "run_and_exit"]
