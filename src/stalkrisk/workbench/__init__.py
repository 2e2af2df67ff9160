"""The review workbench: reviewers sign in, decide on flagged cases with reasons, and get the
application pack written for them.

A small Flask application over a scoring output folder (read only) and a database of accounts
and decisions (SQLite by default, PostgreSQL by URL; schema by Alembic). Decisions are
appended, never overwritten, and are never used as training labels.
"""

from __future__ import annotations

from stalkrisk.errors import StalkriskError


class WorkbenchError(StalkriskError, ValueError):
    """A user's mistake the workbench cannot act on (bad name, role, database or case): one line."""
