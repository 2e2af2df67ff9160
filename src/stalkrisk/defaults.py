"""Defaults shared by the library and the command line, importable without pandas or Arrow,
so that ``stalkrisk --help`` can state them and stays quick to start."""

from __future__ import annotations

#: Case rows per part: bounds memory (a part, its events, features and explanations at once).
DEFAULT_CHUNK_SIZE = 50_000
