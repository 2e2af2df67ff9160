"""The errors a user can cause and fix: one base, one line each.

The command line turns any ``StalkriskError`` into its message and exit status 2; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class StalkriskError(Exception):
    """Input, a config, a model or a results folder that cannot be used; ``str(e)`` is one line."""


class InputError(StalkriskError):
    """A user's input that cannot be used at all: unreadable file, missing column.

    ``str(e)`` is one line naming the file (and column when there is one).
    """

    def __init__(self, path: str | Path | None, message: str, column: str | None = None):
        self.path = None if path is None else Path(path)
        self.column = column
        self.message = message
        where = self.path.name if self.path is not None else "input"
        super().__init__(f"{where}: {message}")

    def __reduce__(self):  # so it survives pickling (a forked child sends it back whole)
        return type(self), (self.path, self.message, self.column), self.__dict__


class ConfigError(StalkriskError, ValueError):
    """A configuration file that cannot be used."""


class ModelMismatchError(StalkriskError, ValueError):
    """A model whose feature list does not match the installed feature pipeline."""


class TrainingError(StalkriskError, ValueError):
    """Data that cannot train a model (too few cases, one class only, ...)."""


class RegistryError(StalkriskError, ValueError):
    """A model URI, version or alias that cannot be used."""


class AuditError(StalkriskError, ValueError):
    """An audit that cannot start: a missing or unreadable record, a model without a profile."""


class CaseNotFound(StalkriskError, KeyError):
    """A case id that is not in a results folder."""

    def __str__(self) -> str:
        return str(self.args[0])


class UnsupportedModelError(StalkriskError, ValueError, NotImplementedError):
    """A LightGBM model outside what the exact explainer supports (a ``NotImplementedError``
    too, as the explainer raised before)."""


class OutputFolderError(StalkriskError):
    """A results folder that cannot be written: another run in it, in use, read-only, a file."""
