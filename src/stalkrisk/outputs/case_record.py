"""Read one case back out of a scoring output folder, for the terminal and the audit.

The explanations file is wide (a row per outcome); one case is shown in the long view, one row
per feature, per outcome. Feature values are not in the output folder (the review page shows
them); the long view leaves them empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from stalkrisk.errors import CaseNotFound
from stalkrisk.explain.reasons import feature_specs
from stalkrisk.features.registry import GROUPS
from stalkrisk.model.outcomes import score_column
from stalkrisk.outputs.reader import read_case_contributions

LONG_COLUMNS = ["feature", "group", "value", "contribution", "base_value"]


def long_view(row: pd.Series) -> pd.DataFrame:
    """One outcome's row of the wide table (``base_value`` and feature columns) as the long view."""
    features = [c for c in row.index if c != "base_value"]
    return pd.DataFrame({
        "feature": features,
        "group": [s.group for s in feature_specs(features)],
        "value": np.full(len(features), np.nan),
        "contribution": row[features].to_numpy(dtype=np.float64),
        "base_value": float(row["base_value"]),
    })


@dataclass
class CaseRecord:
    scores: pd.Series  # the case's row of scores.parquet
    explanation: pd.DataFrame  # risk's long view (LONG_COLUMNS; empty when not scored)
    outcomes: dict[str, pd.DataFrame] = field(default_factory=dict)  # every outcome's long view, risk first

    @property
    def base_value(self) -> float:
        return float(self.explanation["base_value"].iloc[0]) if len(self.explanation) else float("nan")

    def grouped(self, outcome: str = "risk") -> pd.DataFrame:
        """Contribution per reason group, strongest first."""
        exp = self.explanation if outcome == "risk" else self.outcomes[outcome]
        g = exp.groupby("group", sort=False)["contribution"].sum().reset_index()
        g["label"] = g["group"].map(lambda k: GROUPS.get(k, k))
        return g.reindex(g["contribution"].abs().sort_values(ascending=False, kind="stable").index).reset_index(drop=True)


def load_case(out_dir: str | Path, case_id: str) -> CaseRecord:
    out_dir = Path(out_dir)
    scores = pq.read_table(out_dir / "scores.parquet", filters=[("case_id", "=", case_id)]).to_pandas()
    if scores.empty:
        raise CaseNotFound(f"{out_dir / 'scores.parquet'}: no case with case_id {case_id!r}")
    wide = read_case_contributions(out_dir, case_id)
    outcomes = {str(o): long_view(row) for o, row in wide.iterrows()}  # one row per outcome: three at most
    empty = pd.DataFrame({c: pd.Series(dtype=object if c in ("feature", "group") else float) for c in LONG_COLUMNS})
    return CaseRecord(scores=scores.iloc[0], explanation=outcomes.get("risk", empty), outcomes=outcomes)


def _table(record: CaseRecord, outcome: str) -> list[str]:
    exp = record.outcomes[outcome]
    base = float(exp["base_value"].iloc[0])
    lines = [f"  {'group / feature':<44}{'value':>10}{'contribution':>14}",
             f"  {'base value':<44}{'':>10}{base:>14.4f}"]
    for g in record.grouped(outcome).itertuples(index=False):
        lines.append(f"  {g.label:<44}{'':>10}{g.contribution:>14.4f}")
        members = exp.loc[exp["group"] == g.group]
        members = members.reindex(members["contribution"].abs().sort_values(ascending=False, kind="stable").index)
        for m in members.itertuples(index=False):
            value = "" if np.isnan(m.value) else f"{m.value:g}"
            lines.append(f"    {m.feature:<42}{value:>10}{m.contribution:>14.4f}")
    total = base + exp["contribution"].sum()
    lines.append(f"  {'= logit(' + score_column(outcome) + ')':<44}{'':>10}{total:>14.4f}")
    return lines


def format_case(record: CaseRecord) -> str:
    """Score, band, flag and the full grouped contribution table of each outcome, for a terminal."""
    s = record.scores
    lines = [f"case {s['case_id']}: {s['status']}"]
    if s["status"] != "scored":
        lines.append(f"  not scored: {s['not_scored_reason']}")
        return "\n".join(lines)
    lines += [
        f"  score {s['score']:.4f}   band {s['risk_band']}   course of conduct {'yes' if s['course_of_conduct'] else 'no'}   "
        f"consider SPO {'YES' if s['consider_spo'] else 'no'}",
        f"  model {s['model_name']} version {s['model_version']}",
        "  reasons:",
    ]
    lines += [f"    {i}. {s[f'reason_{i}']}" for i in (1, 2, 3) if s[f"reason_{i}"]]
    for outcome in record.outcomes:
        column = score_column(outcome)
        score = s.get(column, float("nan"))
        lines.append(f"  {outcome} ({column} {score:.4f}):")
        lines += _table(record, outcome)
    return "\n".join(lines)
