"""What reviewers decided, against what the tool said: the figures an auditor asks for.

Per case the current decision is the latest; earlier ones count as changes of mind. On the
``consider_spo`` queue an application (full or interim) *agrees* with the flag and ``no_application``
*overrides* it; ``refer`` and ``more_information`` are pending. Automation bias shows as agreement
that does not fall near the threshold: a reviewer who weighs each case should disagree more
often where the tool itself is least sure (within ``NEAR`` log-odds of the threshold) than far
from it. Pure functions over the decisions frame; the CLI prints ``format_audit``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stalkrisk.workbench.decisions import APPLYING, DECISIONS

NEAR = 0.5  # log-odds either side of the threshold
BANDS = ("low", "medium", "high", "very_high")


@dataclass
class DecisionAudit:
    records: int
    cases: int
    by_queue: pd.DataFrame
    by_force: pd.DataFrame
    by_band: pd.DataFrame
    overrides: dict  # flagged cases decided: n, agreed, overridden, pending, rate
    override_reasons: list[tuple[str, int]]
    days_to_decision: dict  # median, p90, n (first decision of each case)
    per_month: pd.DataFrame  # applications decided and orders made per month
    automation_bias: dict  # near / far: n, agreed, rate
    changed_minds: int
    notes: list[str] = field(default_factory=list)


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def _table(latest: pd.DataFrame, by: str) -> pd.DataFrame:
    t = pd.crosstab(latest[by].replace("", "(none)"), latest["decision"]).reindex(columns=list(DECISIONS), fill_value=0)
    t["total"] = t.sum(axis=1)
    return t


def _rates(frame: pd.DataFrame) -> dict:
    decided = frame.loc[frame["decision"].isin(APPLYING) | (frame["decision"] == "no_application")]
    agreed = int(decided["decision"].isin(APPLYING).sum())
    n = len(decided)
    return {"n": n, "agreed": agreed, "overridden": n - agreed,
            "rate": (agreed / n) if n else float("nan")}


def audit_decisions(frame: pd.DataFrame) -> DecisionAudit:
    """The audit of a ``decisions.decisions_frame``."""
    latest = frame.drop_duplicates("case_id", keep="last")
    first = frame.drop_duplicates("case_id", keep="first")
    flagged = latest.loc[latest["queue"] == "consider_spo"]
    rates = _rates(flagged)
    pending = int(flagged["decision"].isin(("refer", "more_information")).sum())
    overrides = {**rates, "pending": pending, "override_rate": (rates["overridden"] / rates["n"]) if rates["n"] else float("nan")}
    reasons = (flagged.loc[flagged["decision"] == "no_application", "reason"].str.strip().str.lower()
               .value_counts().head(10))
    waited = (first["decided_at"] - first["flagged_at"]).dt.total_seconds().dropna() / 86400
    days = {"n": len(waited), "median": float(np.median(waited)) if len(waited) else float("nan"),
            "p90": float(np.percentile(waited, 90)) if len(waited) else float("nan")}
    month = latest["decided_at"].dt.strftime("%Y-%m")
    applied = latest.loc[latest["decision"].isin(APPLYING)].groupby(month)["case_id"].count()
    made_rows = latest.loc[latest["outcome"].isin(("made", "interim_made"))]
    made = made_rows.groupby(pd.to_datetime(made_rows["outcome_date"]).dt.strftime("%Y-%m"))["case_id"].count()
    per_month = pd.DataFrame({"applications": applied, "orders_made": made}).fillna(0).astype(int).sort_index()
    notes = []
    bias = {}
    usable = flagged.dropna(subset=["score", "threshold"])
    if len(usable):
        distance = np.array([abs(_logit(s) - _logit(t)) for s, t in zip(usable["score"], usable["threshold"])])
        bias = {"near": _rates(usable.loc[distance < NEAR]), "far": _rates(usable.loc[distance >= NEAR])}
    else:
        notes.append("no flagged case has both a score and a threshold: no automation-bias figures")
    return DecisionAudit(
        records=len(frame), cases=len(latest), by_queue=_table(latest, "queue"), by_force=_table(latest, "force_code"),
        by_band=_table(latest, "risk_band").reindex([b for b in BANDS if b in set(latest["risk_band"])] +
                                                     [b for b in latest["risk_band"].unique() if b not in BANDS]),
        overrides=overrides, override_reasons=list(reasons.items()), days_to_decision=days, per_month=per_month,
        automation_bias=bias, changed_minds=len(frame) - len(latest), notes=notes,
    )


def _pct(x: float) -> str:
    return "–" if x != x else f"{100 * x:.0f}%"


def format_audit(a: DecisionAudit) -> str:
    """The audit as plain text for a terminal (no case contents beyond override reasons' text)."""
    if a.records == 0:
        return "no decisions recorded yet"
    o = a.overrides
    lines = [f"{a.records} decision records on {a.cases} cases ({a.changed_minds} later decisions replaced earlier ones)",
             "", "current decision by queue section:", a.by_queue.to_string(), "",
             "by force:", a.by_force.to_string(), "", "by score band:", a.by_band.to_string(), "",
             f"flagged cases (consider_spo) decided: {o['n']}; applied {o['agreed']} ({_pct(o['rate'])}), "
             f"no application {o['overridden']} (override rate {_pct(o['override_rate'])}); pending {o['pending']}"]
    if a.override_reasons:
        lines.append("most common reasons for no application:")
        lines += [f"  {n:>4}  {text[:100]}" for text, n in a.override_reasons]
    d = a.days_to_decision
    lines += ["", f"days from flag to first decision: median {d['median']:.1f}, 90th percentile {d['p90']:.1f} "
                  f"(n={d['n']})" if d["n"] else "days from flag to first decision: no data"]
    if len(a.per_month):
        lines += ["", "applications decided and orders made, by month:", a.per_month.to_string()]
    if a.automation_bias:
        near, far = a.automation_bias["near"], a.automation_bias["far"]
        lines += ["", f"automation bias check (agreement with the flag; near = within {NEAR} log-odds of the threshold):",
                  f"  near the threshold: {_pct(near['rate'])} of {near['n']}",
                  f"  far from it:        {_pct(far['rate'])} of {far['n']}"]
        if near["n"] >= 20 and far["n"] >= 20 and near["rate"] >= far["rate"]:
            lines.append("  SIGN OF AUTOMATION BIAS: reviewers agree as often where the tool is least sure")
    lines += [f"note: {n}" for n in a.notes]
    lines += ["", "decisions are never used as training labels"]
    return "\n".join(lines)
