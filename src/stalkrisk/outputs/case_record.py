"""Read one case back out of a scoring output folder, for the terminal and the audit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from stalkrisk.errors import CaseNotFound
from stalkrisk.features.registry import GROUPS


@dataclass
class CaseRecord:
    scores: pd.Series  # the case's row of scores.parquet
    explanation: pd.DataFrame  # its rows of explanations.parquet (may be empty when not scored)

    @property
    def base_value(self) -> float:
        return float(self.explanation["base_value"].iloc[0]) if len(self.explanation) else float("nan")

    def grouped(self) -> pd.DataFrame:
        """Contribution per reason group, strongest first."""
        g = self.explanation.groupby("group", sort=False)["contribution"].sum().reset_index()
        g["label"] = g["group"].map(lambda k: GROUPS.get(k, k))
        return g.reindex(g["contribution"].abs().sort_values(ascending=False, kind="stable").index).reset_index(drop=True)


def load_case(out_dir: str | Path, case_id: str) -> CaseRecord:
    out_dir = Path(out_dir)
    scores = pq.read_table(out_dir / "scores.parquet", filters=[("case_id", "=", case_id)]).to_pandas()
    if scores.empty:
        raise CaseNotFound(f"{out_dir / 'scores.parquet'}: no case with case_id {case_id!r}")
    table = pq.read_table(out_dir / "explanations.parquet", filters=[("case_id", "=", case_id)])
    return CaseRecord(scores=scores.iloc[0], explanation=table.to_pandas())


def format_case(record: CaseRecord) -> str:
    """Score, band, flag and the full grouped contribution table, for a terminal."""
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
    lines.append(f"  {'group / feature':<44}{'value':>10}{'contribution':>14}")
    lines.append(f"  {'base value':<44}{'':>10}{record.base_value:>14.4f}")
    exp = record.explanation
    for g in record.grouped().itertuples(index=False):
        lines.append(f"  {g.label:<44}{'':>10}{g.contribution:>14.4f}")
        members = exp.loc[exp["group"] == g.group]
        members = members.reindex(members["contribution"].abs().sort_values(ascending=False, kind="stable").index)
        for m in members.itertuples(index=False):
            value = "" if np.isnan(m.value) else f"{m.value:g}"
            lines.append(f"    {m.feature:<42}{value:>10}{m.contribution:>14.4f}")
    total = record.base_value + exp["contribution"].sum()
    lines.append(f"  {'= logit(score)':<44}{'':>10}{total:>14.4f}")
    return "\n".join(lines)
