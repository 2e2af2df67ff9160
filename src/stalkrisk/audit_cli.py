"""``stalkrisk audit ...`` subcommands (filled in by the audit work)."""

from __future__ import annotations


def add_audit_commands(sub) -> None:
    return None
