"""``stalkrisk audit drift``: has the caseload moved away from the one the model learned from?

Scores hold only while the data look like the training data. Training stores a profile
of each feature (bins, proportions, missing rate) with the model; this audit bins a new
caseload the same way and reports the population stability index and the change in
missing rate per feature, naming the drifted ones. A drift report is information, not
a failed check: the command exits 0 and says how many features drifted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from stalkrisk.audit.rescore import AuditError, score_caseload

PSI_THRESHOLD = 0.2
MISSING_THRESHOLD = 0.1


@dataclass
class DriftAudit:
    model_name: str
    model_version: str
    n_cases: int
    n_reference: int
    table: pd.DataFrame  # drift.compare's columns, drifted first then by PSI
    psi_threshold: float
    missing_threshold: float
    model_info: Any = None  # report.ModelInfo, for the HTML page's footer

    @property
    def drifted(self) -> list[str]:
        return self.table.loc[self.table["drifted"], "feature"].tolist()


def drift_table(model, features: pd.DataFrame, *, psi_threshold: float = PSI_THRESHOLD,
                missing_threshold: float = MISSING_THRESHOLD) -> pd.DataFrame:
    """PSI and missing-rate change per model feature against the model's stored profile."""
    from stalkrisk.evaluate.drift import compare

    profile = model.meta.drift_reference
    if not profile:
        raise AuditError("the model stores no drift reference profile (meta.drift_reference); "
                         "retrain it with this version of stalkrisk")
    table = compare(profile, features, psi_threshold=psi_threshold, missing_threshold=missing_threshold)
    table = table.assign(_psi=table["psi"].fillna(-1.0))
    table = table.sort_values(["drifted", "_psi", "feature"], ascending=[False, False, True], kind="stable")
    return table.drop(columns="_psi").reset_index(drop=True)


def drift_audit(model_uri: str, cases: str | Path, events: str | Path, *,
                psi_threshold: float = PSI_THRESHOLD, missing_threshold: float = MISSING_THRESHOLD,
                orders: str | Path | None = None, history: str | Path | None = None) -> DriftAudit:
    """Build the caseload's features and compare them with the model's reference profile
    (``history``: the prior counts rebuilt from it, as the scoring run built them)."""
    from stalkrisk.report.views import model_info
    from stalkrisk.tracking import registry as tracking

    loaded = tracking.load_model(model_uri)
    data = score_caseload(loaded, cases, events, orders=orders, history=history)
    table = drift_table(loaded.model, data.features[list(loaded.model.feature_names)],
                        psi_threshold=psi_threshold, missing_threshold=missing_threshold)
    profile = loaded.model.meta.drift_reference
    return DriftAudit(loaded.name, str(loaded.version), len(data.features), int(profile.get("n", 0)),
                      table, psi_threshold, missing_threshold, model_info(loaded))


def summary_line(audit: DriftAudit) -> str:
    names = audit.drifted
    head = f"{len(names)} of {len(audit.table)} features drifted (PSI > {audit.psi_threshold} or missing rate moved by more than {audit.missing_threshold:.0%})"
    return head + (": " + ", ".join(names) if names else "")


def format_drift(audit: DriftAudit, top: int = 15) -> str:
    """The terminal report: the summary line, then the features with the largest PSI."""
    lines = [f"drift of {audit.n_cases:,} cases against the training profile of {audit.model_name} "
             f"version {audit.model_version} ({audit.n_reference:,} training cases)"]
    lines.append(f"  {'feature':<34}{'PSI':>8}{'missing then':>14}{'now':>8}  drifted")
    for r in audit.table.head(top).itertuples(index=False):
        psi = "n/a" if pd.isna(r.psi) else f"{r.psi:.3f}"
        now = "n/a" if pd.isna(r.missing_now) else f"{r.missing_now:.1%}"
        lines.append(f"  {r.feature:<34}{psi:>8}{r.missing_ref:>14.1%}{now:>8}  {'YES' if r.drifted else ''}")
    lines.append(summary_line(audit))
    return "\n".join(lines)
