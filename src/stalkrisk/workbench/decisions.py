"""Decisions and outcomes: appended with what the screen showed, never changed; exported as CSV.

Each record keeps the reviewer, the time, and the model name and version, score, band, queue
and queue reason shown at the time, so an override can be read against what the tool said.
The latest record of a case is its current decision; earlier ones stay. Decisions are never
used as training labels (design.md: they would teach the model the under-use it exists to fix).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from stalkrisk.io_utils import atomic_path
from stalkrisk.workbench import WorkbenchError
from stalkrisk.workbench.db import Database, Decision, Outcome, as_utc, utcnow

DECISIONS = {
    "apply": "Apply for a full SPO",
    "apply_interim": "Apply for an interim SPO",
    "no_application": "No application",
    "refer": "Refer to a supervisor or partner agency",
    "more_information": "Gather more information first",
}
APPLYING = ("apply", "apply_interim")
OUTCOMES = {
    "made": "Order made",
    "interim_made": "Interim order made",
    "refused": "Refused by the court",
    "withdrawn": "Application withdrawn",
}
MAX_TEXT = 4000
EXPORT_COLUMNS = (
    "case_id", "reviewer", "decision", "reason", "conditions", "decided_at", "model_name", "model_version",
    "score", "risk_band", "queue", "queue_reason", "force_code", "flagged_at",
    "outcome", "outcome_date", "outcome_note", "outcome_recorded_by", "outcome_recorded_at",
)
#: OWASP CSV injection: a cell starting with one of these is a formula to a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Shown:
    """What the reviewer saw when deciding: copied into the record."""

    model_name: str
    model_version: str
    score: float | None
    risk_band: str
    queue: str
    queue_reason: str
    threshold: float | None
    force_code: str
    flagged_at: datetime | None
    results_sha256: str


def _clean(text: str, what: str, *, required: bool) -> str:
    text = (text or "").replace("\r\n", "\n").strip()
    if required and not text:
        raise WorkbenchError(f"a {what} is required")
    if len(text) > MAX_TEXT:
        raise WorkbenchError(f"the {what} is longer than {MAX_TEXT} characters")
    return text


def _in_turn(s) -> datetime:
    """Take the database's write lock, then the time: records land in the order of their times.

    Timing before the lock let two reviewers' decisions land in the other order of their times.
    SQLite: any write statement takes the one write lock (across processes too); PostgreSQL: a
    transaction-scoped advisory lock. The lock is released when the transaction commits.
    """
    dialect = s.get_bind().dialect.name
    if dialect == "sqlite":
        s.execute(sa.text("DELETE FROM settings WHERE 0 = 1"))
    elif dialect == "postgresql":
        s.execute(sa.text("SELECT pg_advisory_xact_lock(2019)"))
    return utcnow()


def record_decision(db: Database, case_id: str, reviewer: str, decision: str, reason: str,
                    conditions: str, shown: Shown) -> int:
    """Append one decision; returns its id (ids increase in the order decisions land)."""
    if decision not in DECISIONS:
        raise WorkbenchError(f"decision {decision!r}: must be one of {', '.join(DECISIONS)}")
    row = Decision(case_id=case_id, reviewer=reviewer, decision=decision,
                   reason=_clean(reason, "reason", required=True),
                   conditions=_clean(conditions, "conditions text", required=False),
                   **shown.__dict__)
    with db.session.begin() as s:
        row.decided_at = _in_turn(s)
        s.add(row)
        s.flush()
        return row.id


def record_outcome(db: Database, case_id: str, recorded_by: str, outcome: str, outcome_date: str,
                   note: str, force_code: str) -> int:
    if outcome not in OUTCOMES:
        raise WorkbenchError(f"outcome {outcome!r}: must be one of {', '.join(OUTCOMES)}")
    try:
        day = date.fromisoformat(outcome_date)
    except (TypeError, ValueError):
        raise WorkbenchError("the outcome date must be a date, YYYY-MM-DD") from None
    if day > utcnow().date():
        raise WorkbenchError("the outcome date is in the future")
    row = Outcome(case_id=case_id, recorded_by=recorded_by, outcome=outcome, outcome_date=day,
                  note=_clean(note, "note", required=False), force_code=force_code)
    with db.session.begin() as s:
        row.recorded_at = _in_turn(s)
        s.add(row)
        s.flush()
        return row.id


def case_history(db: Database, case_id: str) -> tuple[list[Decision], list[Outcome]]:
    """Every decision and outcome of a case, oldest first."""
    with db.session() as s:
        decisions = list(s.scalars(sa.select(Decision).where(Decision.case_id == case_id).order_by(Decision.id)))
        outcomes = list(s.scalars(sa.select(Outcome).where(Outcome.case_id == case_id).order_by(Outcome.id)))
    return decisions, outcomes


def latest_decisions(db: Database) -> dict[str, str]:
    """case_id → its current (latest) decision."""
    with db.session() as s:
        rows = s.execute(sa.select(Decision.case_id, Decision.decision).order_by(Decision.id))
        return {case_id: decision for case_id, decision in rows}


def decisions_frame(db: Database) -> pd.DataFrame:
    """Every decision, oldest first, each with its case's latest outcome (if any)."""
    with db.session() as s:
        d = pd.DataFrame([{c: getattr(r, c) for c in Decision.__table__.columns.keys()}
                          for r in s.scalars(sa.select(Decision).order_by(Decision.id))],
                         columns=Decision.__table__.columns.keys())
        o = pd.DataFrame([{"case_id": r.case_id, "outcome": r.outcome, "outcome_date": r.outcome_date,
                           "outcome_note": r.note, "outcome_recorded_by": r.recorded_by,
                           "outcome_recorded_at": r.recorded_at}
                          for r in s.scalars(sa.select(Outcome).order_by(Outcome.id))],
                         columns=["case_id", "outcome", "outcome_date", "outcome_note",
                                  "outcome_recorded_by", "outcome_recorded_at"])
    for name in ("decided_at", "flagged_at"):
        d[name] = pd.to_datetime(d[name].map(as_utc), utc=True)
    o["outcome_recorded_at"] = pd.to_datetime(o["outcome_recorded_at"].map(as_utc), utc=True)
    return d.merge(o.drop_duplicates("case_id", keep="last"), on="case_id", how="left")


def neutralise(value: object) -> str:
    """A cell a spreadsheet shows as text: a leading = + - @ tab or CR gets a single quote."""
    text = "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _cell(value: object) -> str:
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:.6f}"
    return neutralise(value)


def export_csv(db: Database, out: str | Path) -> int:
    """Write every decision (with its case's latest outcome) as CSV; returns the number of rows."""
    frame = decisions_frame(db)
    out = Path(out)
    if out.is_dir():
        raise WorkbenchError(f"--out {out}: is a folder; give a file name ending .csv")
    with atomic_path(out) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(EXPORT_COLUMNS)
        for row in frame.itertuples(index=False):
            writer.writerow([_cell(getattr(row, c)) for c in EXPORT_COLUMNS])
    return len(frame)
