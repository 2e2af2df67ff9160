"""Read a scoring output folder for the workbench: the queue, each case's force, its facts and acts.

The folder is read, never written. What it gives, and where from:

- the queue: ``queue`` / ``queue_reason`` of ``scores.parquet`` when the run wrote them; a run
  without them is read as queue ``consider_spo`` with reason ``FLAGGED`` ("flagged: score at or above
  the threshold, with a course of conduct") for every ``consider_spo``
  case (and no ``review`` section);
- each case's force: ``force_code`` of ``scores.parquet`` when present, else of the cases file
  that ``audit.json`` records, used only when its SHA-256 still matches the one recorded; when
  neither gives one the force is ``unknown`` (only an auditor, or an account given the force
  ``unknown``, sees such cases);
- assessment date, facts and the dated acts: from the cases and events files ``audit.json``
  records, again only when their SHA-256 matches; otherwise the page says they are unavailable;
- the flag threshold: not in the outputs, so estimated as the lowest score among flagged cases
  (every flagged case is at or above it). Used only by the automation-bias figures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from stalkrisk.workbench import WorkbenchError

log = logging.getLogger(__name__)

UNKNOWN_FORCE = "unknown"
FLAGGED = "flagged: score at or above the threshold, with a course of conduct"
QUEUES = ("consider_spo", "review")
QUEUE_TITLES = {"consider_spo": "Consider an SPO", "review": "Review"}
REASONS = ("reason_1", "reason_2", "reason_3")
#: Each risk domain's score column (scores output, issue 18) and what it is the chance of.
DOMAIN_FIGURES = (("score_persistence", "Persistence: acts associated with stalking on two or more days"),
                  ("score_harm", "Harm: a threat or violence"))
FACT_COLUMNS = {
    "relationship": "Relationship to the victim",
    "suspect_prior_stalking": "Suspect's earlier stalking or harassment offences",
    "suspect_prior_violence": "Suspect's earlier violent offences",
    "suspect_prior_domestic_abuse": "Suspect's domestic-abuse history",
    "suspect_substance_misuse": "Suspect's substance misuse",
    "suspect_mental_health_concern": "Mental-health concern recorded for the suspect",
    "suspect_weapon_access": "Suspect's access to weapons",
    "protective_order_in_force": "Protective order in force",
    "victim_fear": "Victim's fear (own account)",
}


@dataclass(frozen=True)
class Act:
    """One recorded behaviour known by the assessment date."""

    when: pd.Timestamp  # UTC
    behaviour: str
    channel: str | None
    target: str | None


@dataclass
class Results:
    folder: Path
    audit: dict
    scores: pd.DataFrame  # indexed by case_id; with queue, queue_reason, force_code
    threshold: float | None
    notes: list[str] = field(default_factory=list)  # what could not be read, said once
    cases: pd.DataFrame | None = None  # indexed by case_id
    events: pd.DataFrame | None = None  # queued cases' acts known by their assessment day

    @property
    def results_sha256(self) -> str:
        return str(self.audit.get("outputs", {}).get("scores.parquet", ""))

    @property
    def flagged_at(self) -> datetime | None:
        text = self.audit.get("finished_at")
        if not text:
            return None
        moment = datetime.fromisoformat(text)  # written in UTC; an older folder may omit the zone
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

    def queue(self, name: str, forces: tuple[str, ...] | None) -> pd.DataFrame:
        """The cases of one queue section, highest score first; ``forces=None`` means every force."""
        rows = self.scores.loc[self.scores["queue"] == name]
        if forces is not None:
            rows = rows.loc[rows["force_code"].isin(forces)]
        return rows.sort_values("score", ascending=False, kind="stable")

    def row(self, case_id: str) -> pd.Series | None:
        return self.scores.loc[case_id] if case_id in self.scores.index else None

    def domains(self, case_id: str) -> list[tuple[str, str, float]]:
        """Each risk domain's (column, label, score) for a scored case; none for a model without them."""
        row = self.row(case_id)
        if row is None:
            return []
        return [(name, label, float(row[name])) for name, label in DOMAIN_FIGURES
                if name in row.index and pd.notna(row[name])]

    def facts(self, case_id: str) -> list[tuple[str, str]]:
        if self.cases is None or case_id not in self.cases.index:
            return []
        row = self.cases.loc[case_id]
        return [(label, _text(row[name])) for name, label in FACT_COLUMNS.items() if name in row.index]

    def fact(self, case_id: str, name: str):
        if self.cases is None or case_id not in self.cases.index or name not in self.cases.columns:
            return None
        value = self.cases.at[case_id, name]
        return None if pd.isna(value) else value

    def assessment_date(self, case_id: str) -> str | None:
        value = self.fact(case_id, "assessment_date")
        return None if value is None else str(pd.Timestamp(value).date())

    def acts(self, case_id: str) -> list[Act] | None:
        """The case's acts in time order, or ``None`` when the events file was not available."""
        if self.events is None:
            return None
        ev = self.events.loc[self.events["case_id"] == case_id]
        target = ev["target"] if "target" in ev.columns else pd.Series(None, index=ev.index)
        return [Act(t, str(b), None if pd.isna(c) else str(c), None if pd.isna(g) else str(g))
                for t, b, c, g in zip(ev["event_time"], ev["behaviour"], ev["channel"], target)]

    def contributions(self, case_id: str) -> pd.DataFrame:
        """Contribution per reason group (log-odds), strongest first: columns group, label, contribution."""
        from stalkrisk.features.registry import FEATURES, GROUPS
        from stalkrisk.outputs.reader import read_case_contributions

        wide = read_case_contributions(self.folder, case_id)  # either layout of the explanations file
        if "risk" not in wide.index:
            return pd.DataFrame({"group": [], "label": [], "contribution": []})
        row = wide.loc["risk"]
        groups = {f.name: f.group for f in FEATURES if f.name in row.index}
        grouped = row[list(groups)].astype(float).groupby(pd.Series(groups)).sum()
        out = grouped.rename("contribution").rename_axis("group").reset_index()
        out["label"] = out["group"].map(lambda k: GROUPS.get(k, str(k)))
        order = out["contribution"].abs().sort_values(ascending=False, kind="stable").index
        return out.reindex(order).reset_index(drop=True)


def _text(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "Not recorded"
    if isinstance(value, (bool, np.bool_)):
        return "Yes" if value else "No"
    return str(value).replace("_", " ").capitalize() if isinstance(value, str) else str(value)


def shared_reasons(reasons: pd.Series) -> tuple[list[str], list[list[str]]]:
    """A section's queue reasons split into the parts every case shares and each case's own.

    A queue reason joins its parts with "; " (model.queue). Said once above the section, the
    parts every case has (the threshold, say) no longer bury what sets each case apart.
    """
    parts = [[p for p in str(r).split("; ") if p] for r in reasons]
    if not parts:
        return [], []
    common = [p for p in parts[0] if all(p in row for row in parts[1:])]
    return common, [[p for p in row if p not in common] for row in parts]


def derive_queue(scores: pd.DataFrame) -> pd.DataFrame:
    """``queue`` and ``queue_reason`` as written, or from ``consider_spo`` when the run has none."""
    scores = scores.copy()
    flagged = scores["consider_spo"].fillna(False).astype(bool)
    if "queue" in scores.columns:
        scores["queue"] = scores["queue"].fillna("").astype(str)
        reason = scores["queue_reason"] if "queue_reason" in scores.columns else pd.Series("", index=scores.index)
        scores["queue_reason"] = reason.fillna("").astype(str)
    else:
        scores["queue"] = np.where(flagged, "consider_spo", "")
        scores["queue_reason"] = np.where(flagged, FLAGGED, "")
    return scores


def _input(audit: dict, name: str, reader, notes: list[str]) -> pd.DataFrame | None:
    """One input of the run, if it is still there unchanged."""
    entry = audit.get("inputs", {}).get(name) or {}
    path = Path(entry.get("path", ""))
    if not entry.get("path") or not path.is_file():
        notes.append(f"the {name} file of this run ({path}) is not available")
        return None
    result = reader(path)
    if entry.get("sha256") and result.sha256 != entry["sha256"]:
        notes.append(f"the {name} file {path} has changed since the run (SHA-256 differs): not used")
        return None
    return result.frame


def load_results(folder: str | Path, *, read_inputs: bool = True) -> Results:
    """Read a finished scoring folder (one with ``audit.json``)."""
    from stalkrisk.features.asof import cutoff_utc, known_by_cutoff
    from stalkrisk.data.readers import read_cases, read_events

    from stalkrisk.errors import AuditError
    from stalkrisk.outputs.reader import read_audit_record

    folder = Path(folder)
    try:
        audit = read_audit_record(folder)
    except AuditError as exc:
        raise WorkbenchError(f"{folder}: not a finished scoring folder ({exc})") from None
    scores = derive_queue(pq.read_table(folder / "scores.parquet").to_pandas())
    flagged = scores.loc[scores["consider_spo"].fillna(False).astype(bool), "score"]
    threshold = float(flagged.min()) if len(flagged) else None
    notes: list[str] = []
    cases = events = None
    if read_inputs:
        cases = _input(audit, "cases", read_cases, notes)
    if cases is not None:
        cases = cases.drop_duplicates("case_id").set_index("case_id", drop=False)
    if "force_code" in scores.columns:
        force = scores["force_code"]
    elif cases is not None and "force_code" in cases.columns:
        force = scores["case_id"].map(cases["force_code"])
    else:
        force = pd.Series(None, index=scores.index, dtype=object)
        notes.append("no force is recorded for these cases: they are shown under force 'unknown'")
    scores["force_code"] = force.where(force.notna() & (force.astype(str).str.strip() != ""), UNKNOWN_FORCE).astype(str)
    scores = scores.set_index("case_id", drop=False)
    if read_inputs:
        events = _input(audit, "events", read_events, notes)
    if events is not None:
        queued = set(scores.index[scores["queue"] != ""])
        events = events.loc[events["case_id"].isin(queued)]
        if cases is not None:
            cutoff = events["case_id"].map(cutoff_utc(cases["assessment_date"]))
            recorded = events["recorded_at"] if "recorded_at" in events.columns else None
            events = events.loc[known_by_cutoff(events["event_time"], recorded, cutoff).fillna(False).astype(bool)]
        else:
            events = None  # without the assessment dates, what was known when cannot be told
        if events is not None:
            events = events.sort_values(["case_id", "event_time"], kind="stable").reset_index(drop=True)
    return Results(folder, audit, scores, threshold, notes, cases, events)
